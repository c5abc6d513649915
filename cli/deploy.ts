/**
 * `ivrflow deploy <file...> --api <url> [--aws]`: pushes flow files to a Flow API
 * (`PUT /flows/{id}`), sub-flows first, through the API client (cli/api-client.ts: `--aws` signs
 * each request with AWS Signature Version 4). A flow the server refuses is reported as `validate`
 * reports one: a line per diagnostic the server gave (`file: error CODE path: message`). Exit 0
 * when every file deployed, 1 otherwise, 2 for bad usage.
 */
import type { Diagnostic } from '#shared/errors';
import { readJsonFile } from '#shared/flow/files';
import { apiClient, ApiClientError, ApiNetworkError, ApiUsageError, type ApiClient, type ApiClientDeps } from './api-client';
import { deployInOrder } from './flow-files';
import { formatDiagnostics } from './format';

/**
 * Runs `ivrflow deploy`; returns the exit code.
 * @param deps the API client's dependencies (tests inject credentials, fetch, the environment)
 */
export async function deployCommand(positionals: string[], values: { api: string; aws?: boolean }, out: (s: string) => void, err: (s: string) => void, deps: ApiClientDeps = {}): Promise<number> {
  let client: ApiClient;
  try {
    client = apiClient({ api: values.api, aws: values.aws ?? false }, deps);
  } catch (e) {
    if (!(e instanceof ApiUsageError)) throw e;
    err(e.message);
    return 2;
  }
  const api = client.baseUrl;
  let failed = 0;
  const items = positionals.map((file) => ({ file, ...readJsonFile(file) }));
  const left = await deployInOrder(items, async (item) => {
    if (item.error || typeof (item.value as { id?: unknown })?.id !== 'string') {
      err(`${item.file}: ${item.error?.message ?? 'the flow has no id'}`);
      failed++;
      return { ok: false, missingFlow: false };
    }
    const id = (item.value as { id: string }).id;
    const res = await client.request('PUT', `/flows/${encodeURIComponent(id)}`, { body: item.value }).catch((e: unknown) => {
      if (e instanceof ApiClientError) return e;
      throw e;
    });
    if (res instanceof ApiClientError) {
      err(`${item.file}: ${res instanceof ApiNetworkError ? `cannot reach ${api.href}: ${res.reason}` : res.message}`);
      failed++;
      return { ok: false, missingFlow: false };
    }
    const body = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as { version?: number; error?: { code: string; message: string; details?: unknown } };
    if (res.status >= 200 && res.status < 300) {
      out(`${item.file}: deployed ${id} version ${body.version}`);
      return { ok: true, missingFlow: false };
    }
    const missingFlow = JSON.stringify(body.error?.details ?? '').includes('MISSING_FLOW');
    if (!missingFlow) {
      const diagnostics = diagnosticsIn(body.error?.details);
      err(`${item.file}: refused: ${res.status} ${body.error?.code ?? ''} ${diagnostics.length ? `(${diagnostics.length} problem(s))` : (body.error?.message ?? '')}`.trimEnd());
      for (const l of formatDiagnostics(item.file, diagnostics, 'error')) err(l);
      failed++;
    }
    return { ok: false, missingFlow };
  });
  for (const item of left) err(`${item.file}: a sub-flow it calls does not exist`);
  return failed + left.length === 0 ? 0 : 1;
}

/** The diagnostics of an error's `details`, when it is a list of them (INVALID_FLOW). */
function diagnosticsIn(details: unknown): Diagnostic[] {
  if (!Array.isArray(details)) return [];
  return details
    .filter((d): d is Diagnostic => typeof d === 'object' && d !== null && typeof (d as Diagnostic).code === 'string' && typeof (d as Diagnostic).message === 'string')
    .map((d) => ({ ...d, path: typeof d.path === 'string' ? d.path : '' }));
}
