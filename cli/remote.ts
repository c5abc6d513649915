/**
 * The remote commands: what a deployed ivrflow API (or `ivrflow serve`) holds, read through its
 * HTTP API — `flows list|get|versions`, `executions list|get`, `circuits list|get|reset`,
 * `connections list|get`, `audit list`. Each takes `--api <url>` (else `IVRFLOW_API_URL`) and
 * `--aws` (SigV4, cli/api-client.ts); `--json` prints the server's JSON, otherwise a table with
 * one row per item. A listing shows one page (`--limit`, `--cursor`); `--all` follows
 * `nextCursor` to the last one.
 *
 * Exit codes: 0 on a 2xx answer; 1 when the server answered 4xx/5xx (printed as it gave it:
 * `ivrflow: <status> <code>: <message>`) or could not be reached; 2 for bad usage.
 */
import { apiClient, ApiClientError, ApiUsageError, errorLines, expectOk, type ApiClient, type ApiClientDeps, type ApiOptions, type QueryValue } from './api-client';

type Print = (s: string) => void;

/** The flags of every remote command. */
export interface RemoteOptions extends ApiOptions {
  /** Print the server's JSON instead of a table. */
  json?: boolean;
}

/** The flags of a listing: page size, the page to start at, and whether to follow `nextCursor`. */
export interface ListOptions extends RemoteOptions {
  limit?: number;
  cursor?: string;
  all?: boolean;
}

/** A page of a listing, as every list route answers it. */
interface Page {
  items: Record<string, unknown>[];
  nextCursor?: string;
}

/** A table column: its header and how a cell is read from an item. */
interface Column {
  header: string;
  value: (item: Record<string, unknown>) => unknown;
}

/** The streams and the client's dependencies a command runs with (tests replace `deps`). */
export interface RemoteIo {
  out: Print;
  err: Print;
  deps?: ApiClientDeps;
}

const at = (field: string) => (item: Record<string, unknown>) => item[field];
/** An epoch-milliseconds field shown as an ISO-8601 instant. */
const epochMs = (field: string) => (item: Record<string, unknown>) => (typeof item[field] === 'number' ? new Date(item[field]).toISOString() : item[field]);

const FLOW_COLUMNS: Column[] = [
  { header: 'id', value: at('id') },
  { header: 'name', value: at('name') },
  { header: 'flowType', value: at('flowType') },
  { header: 'latestVersion', value: at('latestVersion') },
  { header: 'updatedAt', value: at('updatedAt') },
];
const VERSION_COLUMNS: Column[] = [
  { header: 'version', value: at('version') },
  { header: 'name', value: at('name') },
  { header: 'deployedAt', value: at('deployedAt') },
];
const EXECUTION_COLUMNS: Column[] = [
  { header: 'startedAt', value: at('startedAt') },
  { header: 'executionId', value: at('executionId') },
  { header: 'flowId', value: at('flowId') },
  { header: 'version', value: at('flowVersion') },
  { header: 'status', value: at('status') },
  { header: 'branch', value: at('branch') },
  { header: 'durationMs', value: at('durationMs') },
  { header: 'contactId', value: at('contactId') },
];
const CIRCUIT_COLUMNS: Column[] = [
  { header: 'key', value: at('key') },
  { header: 'state', value: at('state') },
  { header: 'failures', value: at('failures') },
  { header: 'retryAt', value: epochMs('retryAt') },
  { header: 'updatedAt', value: epochMs('updatedAt') },
];
const CONNECTION_COLUMNS: Column[] = [
  { header: 'name', value: at('name') },
  { header: 'authentication', value: (c) => (c['authentication'] as { type?: unknown } | undefined)?.type },
  { header: 'baseUrl', value: at('baseUrl') },
  { header: 'requests', value: (c) => Object.keys((c['requests'] as object | undefined) ?? {}).join(',') },
  { header: 'updatedAt', value: at('updatedAt') },
];
const AUDIT_COLUMNS: Column[] = [
  { header: 'at', value: at('at') },
  { header: 'kind', value: at('kind') },
  { header: 'subject', value: at('subject') },
  { header: 'version', value: at('version') },
  { header: 'actor', value: at('actor') },
];

/** The kinds of audit entries `GET /audit?kind=` filters on. */
export const AUDIT_KINDS = ['flow.deployed', 'flow.deleted', 'connection.created', 'connection.replaced', 'connection.deleted', 'workflow-configuration.put', 'workflow-configuration.deleted', 'circuit.reset'] as const;

/** `ivrflow flows list`: `GET /flows` — id, name, flowType, latestVersion, updatedAt. */
export function flowsList(options: ListOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => list(client, '/flows', {}, options, FLOW_COLUMNS, io));
}

/** `ivrflow flows get <id> [--version N]`: `GET /flows/{id}[?version=N]`, the flow's JSON. */
export function flowsGet(id: string, options: RemoteOptions & { version?: number }, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => getJson(client, `/flows/${encodeURIComponent(id)}`, { version: options.version }, io));
}

/** `ivrflow flows versions <id>`: `GET /flows/{id}/versions` — version, name, deployedAt. */
export function flowsVersions(id: string, options: ListOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => list(client, `/flows/${encodeURIComponent(id)}/versions`, {}, options, VERSION_COLUMNS, io));
}

/** `ivrflow executions list`: `GET /executions` filtered by flow, status, time (ISO-8601 or relative `15m`, `1h`, `2d`, as the server reads them) and contact. */
export function executionsList(options: ListOptions & { flow?: string; status?: string; since?: string; until?: string; contact?: string }, io: RemoteIo): Promise<number> {
  const query = { flowId: options.flow, status: options.status, since: options.since, until: options.until, contactId: options.contact };
  return remote(options, io, (client) => list(client, '/executions', query, options, EXECUTION_COLUMNS, io));
}

/** `ivrflow executions get <executionId>`: `GET /executions/{id}`, the execution record's JSON. */
export function executionsGet(executionId: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => getJson(client, `/executions/${encodeURIComponent(executionId)}`, {}, io));
}

/** `ivrflow circuits list`: `GET /circuits` — key, state, failures, retryAt, updatedAt. */
export function circuitsList(options: ListOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => list(client, '/circuits', {}, options, CIRCUIT_COLUMNS, io));
}

/** `ivrflow circuits get <key>`: `GET /circuits/{key}` (the key percent-encoded). */
export function circuitsGet(key: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, async (client) => {
    const { body } = expectOk(await client.request('GET', `/circuits/${encodeURIComponent(key)}`));
    io.out(options.json ? JSON.stringify(body, null, 2) : fields(CIRCUIT_COLUMNS, record(body)));
  });
}

/** `ivrflow circuits reset <key>`: `DELETE /circuits/{key}`; prints `reset <key>`. */
export function circuitsReset(key: string, options: ApiOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, async (client) => {
    expectOk(await client.request('DELETE', `/circuits/${encodeURIComponent(key)}`));
    io.out(`reset ${key}`);
  });
}

/** `ivrflow connections list`: `GET /connections` — name, authentication type, baseUrl, request names, updatedAt. */
export function connectionsList(options: ListOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => list(client, '/connections', {}, options, CONNECTION_COLUMNS, io));
}

/** `ivrflow connections get <name>`: `GET /connections/{name}` (never a credential: the API returns none). */
export function connectionsGet(name: string, options: RemoteOptions, io: RemoteIo): Promise<number> {
  return remote(options, io, async (client) => {
    const { body } = expectOk(await client.request('GET', `/connections/${encodeURIComponent(name)}`));
    if (options.json) return io.out(JSON.stringify(body, null, 2));
    const c = record(body);
    const token = c['token'] as Record<string, unknown> | undefined;
    const detail: Column[] = [
      ...CONNECTION_COLUMNS.filter((col) => col.header !== 'requests'),
      { header: 'allowedHosts', value: (v) => (Array.isArray(v['allowedHosts']) ? v['allowedHosts'].join(',') : undefined) },
      { header: 'timeoutMs', value: at('timeoutMs') },
      { header: 'requests', value: (v) => Object.keys((v['requests'] as object | undefined) ?? {}).join(',') },
      { header: 'secretsSet', value: (v) => (Array.isArray(v['secretsSet']) ? v['secretsSet'].join(',') : undefined) },
      ...(token ? (['expiresAt', 'scope', 'lastError', 'lastErrorAt'] as const).map((k) => ({ header: `token.${k}`, value: () => token[k] })) : []),
    ];
    io.out(fields(detail, c));
  });
}

/** `ivrflow audit list`: `GET /audit` filtered by time and kind — at, kind, subject, version, actor. */
export function auditList(options: ListOptions & { since?: string; until?: string; kind?: string }, io: RemoteIo): Promise<number> {
  return remote(options, io, (client) => list(client, '/audit', { since: options.since, until: options.until, kind: options.kind }, options, AUDIT_COLUMNS, io));
}

/** Builds the client and runs `body`; maps the client's errors to their lines and exit codes. */
async function remote(options: ApiOptions, io: RemoteIo, body: (client: ApiClient) => Promise<void>): Promise<number> {
  try {
    await body(apiClient(options, io.deps));
    return 0;
  } catch (e) {
    if (!(e instanceof ApiClientError)) throw e;
    for (const line of errorLines(e)) io.err(line);
    return e instanceof ApiUsageError ? 2 : 1;
  }
}

/** A read whose answer is printed as JSON either way. */
async function getJson(client: ApiClient, path: string, query: Record<string, QueryValue>, io: RemoteIo): Promise<void> {
  const { body } = expectOk(await client.request('GET', path, { query }));
  io.out(JSON.stringify(body, null, 2));
}

/**
 * A listing: one page, or with `--all` every page. `--json` prints the page as the server gave it
 * (with `--all`, `{ items }` of every page); the table says on stderr how to get the next page.
 */
async function list(client: ApiClient, path: string, filters: Record<string, QueryValue>, options: ListOptions, columns: Column[], io: RemoteIo): Promise<void> {
  const items: Record<string, unknown>[] = [];
  const seen = new Set<string>();
  let cursor = options.cursor;
  let first: unknown;
  for (;;) {
    const { body } = expectOk(await client.request('GET', path, { query: { ...filters, limit: options.limit, cursor } }));
    first ??= body;
    const page = pageOf(body, path);
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!options.all || cursor === undefined) break;
    // A server that hands back a cursor it already gave would otherwise be followed forever.
    if (seen.has(cursor)) throw new Error(`GET ${path} returned the cursor ${cursor} twice`);
    seen.add(cursor);
  }
  if (options.json) {
    io.out(JSON.stringify(options.all ? { items } : first, null, 2));
    return;
  }
  io.out(table(columns, items));
  if (cursor !== undefined) io.err(`more: --cursor ${cursor} for the next page, or --all`);
}

function pageOf(body: unknown, path: string): Page {
  const page = body as Partial<Page> | undefined;
  if (!page || !Array.isArray(page.items)) throw new Error(`GET ${path} answered without an items list`);
  return { items: page.items.map(record), ...(typeof page.nextCursor === 'string' && page.nextCursor !== '' ? { nextCursor: page.nextCursor } : {}) };
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A cell: empty for a missing value, JSON for an object, line breaks folded. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** Columns aligned with spaces: the header, a rule, one row per item. */
function table(columns: Column[], items: Record<string, unknown>[]): string {
  const rows = items.map((item) => columns.map((c) => cell(c.value(item))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One item as `field: value` lines, values aligned; fields without a value are left out. */
function fields(columns: Column[], item: Record<string, unknown>): string {
  const pairs = columns.map((c) => [c.header, cell(c.value(item))] as const).filter(([, v]) => v !== '');
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join('\n');
}
