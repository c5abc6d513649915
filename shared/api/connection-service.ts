/**
 * The connections API's core (`PUT/GET/DELETE /connections/{name}`, `GET /connections`;
 * docs/architecture.md, "Connections, secrets and tokens"). Credentials are write-only: a PUT
 * stores them in the connection's secret, and no answer, error or log carries them; a GET says
 * which are set (`secretsSet`). A PUT that leaves a credential out keeps the stored one.
 *
 * Writes go secret first, definition last, so that a failure half-way leaves the old definition
 * in place and the same request can simply be sent again; a refused body changes nothing.
 */
import type { Clock } from '../clock';
import { connectionTokenSpec } from '../connections/auth';
import { ConnectionInput, CREDENTIAL_FIELDS, credentialsOf, requestProblems, requiredCredential, withoutCredentials, connectionHosts, type Connection, type CredentialField } from '../connections/connection';
import type { SecretNames } from '../connections/secret-names';
import { tokenHash, type TokenRegistry } from '../connections/token-registry';
import { BadRequestError, NotFoundError, UnprocessableRequestError, type Diagnostic } from '../errors';
import { diagnosticsOf } from '../flow/validate';
import { hostAllowed, isPrivateHost } from '../http/network-policy';
import type { SecretStore } from '../stores/secret-store';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';
import type { ConnectionStore, Page } from '../stores/ports';

/** What the connection service is built from: the definition store, the secret store and names for credentials, the token registry for oauth2 tokens, and the clock. */
export interface ConnectionServiceProps {
  store: ConnectionStore;
  secrets: SecretStore;
  names: SecretNames;
  registry: TokenRegistry;
  clock: Clock;
  /** Accept loopback/private hosts (local development only). @default false */
  allowPrivateHosts?: boolean;
}

/** A connection as the API shows it: no credential, and for oauth2 the state of its cached token. */
export type ConnectionView = Connection & { token?: { expiresAt?: string; scope?: string; lastError?: string; lastErrorAt?: string } };

function invalid(diagnostics: Diagnostic[]): UnprocessableRequestError {
  const first = diagnostics[0]!;
  return new UnprocessableRequestError('INVALID_CONNECTION', `the connection is invalid: ${diagnostics.length} problem(s); first: ${first.path} ${first.message}`.trim(), diagnostics);
}

/** Creates, reads, lists and deletes connections: definitions in the connection store, credentials (write-only) in the connection's secret. */
export class ConnectionService {
  constructor(private readonly props: ConnectionServiceProps) {}

  /**
   * Creates or replaces a connection.
   * @returns the stored view and whether it was created
   * @throws BadRequestError (400) when the body is not an object; UnprocessableRequestError (422,
   *   `INVALID_CONNECTION`, `details`: every problem as `{ code, path, message }`)
   */
  async put(name: string, raw: unknown, auditor: Auditor = LOCAL_ACTOR): Promise<{ connection: ConnectionView; created: boolean }> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('INVALID_BODY', 'the body must be a JSON object (a connection definition)');
    const parsed = ConnectionInput.safeParse(raw, { reportInput: true });
    if (!parsed.success) throw invalid(diagnosticsOf(parsed.error.issues, { type: ConnectionInput, input: raw }));
    const input = parsed.data;
    const problems: Diagnostic[] = requestProblems(input.requests);
    const urls = [{ path: 'baseUrl', url: input.baseUrl }, ...(input.authentication.type === 'oauth2' ? [{ path: 'authentication.tokenEndpoint', url: input.authentication.tokenEndpoint }] : [])];
    for (const { path, url } of urls) {
      const host = new URL(url).hostname;
      if (!this.props.allowPrivateHosts && isPrivateHost(host)) problems.push({ code: 'PRIVATE_HOST', path, message: `host ${host} is loopback, private or link-local` });
    }
    if (input.baseUrl.includes('{')) problems.push({ code: 'INVALID_VALUE', path: 'baseUrl', message: 'baseUrl cannot hold { }: values go in the requests’ paths' });
    const baseHost = new URL(input.baseUrl).hostname;
    if (!hostAllowed(baseHost, connectionHosts(input))) problems.push({ code: 'HOST_NOT_ALLOWED', path: 'baseUrl', message: `the host of baseUrl, ${baseHost}, is not in allowedHosts` });

    const existing = await this.props.store.getConnection(name);
    const secretId = this.props.names.connection(name);
    const stored = existing ? ((await this.props.secrets.getSecretJson(secretId, { fresh: true })) ?? {}) : {};
    const given = credentialsOf(input);
    const required = requiredCredential(input.authentication);
    // Kept from the stored secret: what the body leaves out and the new authentication still uses.
    const keep = [required, 'webhookSigningSecret'].filter((f): f is CredentialField => f !== undefined).map((f) => CREDENTIAL_FIELDS[f]);
    const next: Record<string, string> = {};
    for (const key of keep) if (stored[key] !== undefined) next[key] = stored[key];
    Object.assign(next, given);
    if (required && next[CREDENTIAL_FIELDS[required]] === undefined) problems.push({ code: 'MISSING_FIELD', path: required, message: `required for ${input.authentication.type} authentication (stored in Secrets Manager, never returned)` });
    if (problems.length > 0) throw invalid(problems);

    if (Object.keys(next).length > 0) {
      if (JSON.stringify(next) !== JSON.stringify(stored)) await this.props.secrets.putSecretJson(secretId, next);
    } else if (Object.keys(stored).length > 0) await this.props.secrets.deleteSecret(secretId);

    const secretsSet = (Object.keys(CREDENTIAL_FIELDS) as CredentialField[]).filter((f) => next[CREDENTIAL_FIELDS[f]] !== undefined);
    const connection = withoutCredentials(name, input, secretsSet, new Date(this.props.clock.now()).toISOString());
    const oldHash = existing?.authentication.type === 'oauth2' ? tokenHash(connectionTokenSpec(existing, this.props.names)) : undefined;
    const newSpec = connection.authentication.type === 'oauth2' ? connectionTokenSpec(connection, this.props.names) : undefined;
    if (newSpec) await this.props.registry.register(tokenHash(newSpec), newSpec);
    await this.props.store.putConnection(connection, auditor);
    if (oldHash !== undefined && oldHash !== (newSpec && tokenHash(newSpec))) await this.forgetToken(oldHash, name);
    return { connection: await this.view(connection), created: existing === undefined };
  }

  /** @throws NotFoundError (404) */
  async get(name: string): Promise<ConnectionView> {
    const connection = await this.props.store.getConnection(name);
    if (!connection) throw new NotFoundError(`connection '${name}' does not exist`);
    return this.view(connection);
  }

  list(limit: number, cursor?: string): Promise<Page<Connection>> {
    return this.props.store.listConnections(limit, cursor);
  }

  /** Deletes the connection, its secret and its cached token (unless another connection shares it). @throws NotFoundError (404) */
  async delete(name: string, auditor: Auditor = LOCAL_ACTOR): Promise<void> {
    const connection = await this.props.store.getConnection(name);
    if (!connection) throw new NotFoundError(`connection '${name}' does not exist`);
    await this.props.secrets.deleteSecret(this.props.names.connection(name));
    if (connection.authentication.type === 'oauth2') await this.forgetToken(tokenHash(connectionTokenSpec(connection, this.props.names)), name);
    await this.props.store.deleteConnection(name, auditor);
  }

  /** Deletes a token's secret and record, unless another connection uses the same token ((endpoint, client id, scopes) are its identity). */
  private async forgetToken(hash: string, except: string): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.props.store.listConnections(100, cursor);
      if (page.items.some((c) => c.name !== except && c.authentication.type === 'oauth2' && tokenHash(connectionTokenSpec(c, this.props.names)) === hash)) return;
      cursor = page.nextCursor;
    } while (cursor);
    await this.props.secrets.deleteSecret(this.props.names.token(hash));
    await this.props.registry.remove(hash);
  }

  private async view(connection: Connection): Promise<ConnectionView> {
    if (connection.authentication.type !== 'oauth2') return connection;
    const record = await this.props.registry.get(tokenHash(connectionTokenSpec(connection, this.props.names)));
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    const token = {
      ...(record?.expiresAt === undefined ? {} : { expiresAt: iso(record.expiresAt)! }),
      ...(record?.scope === undefined ? {} : { scope: record.scope }),
      ...(record?.lastError === undefined ? {} : { lastError: record.lastError, lastErrorAt: iso(record.lastErrorAt)! }),
    };
    return { ...connection, token };
  }
}
