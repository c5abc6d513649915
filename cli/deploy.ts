/**
 * `ivrflow deploy <file...> --api <url>`: pushes flow files to a Flow API (`PUT /flows/{id}`),
 * sub-flows first. Exit 0 when every file deployed, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { readJsonFile } from '#shared/flow/files';
import { deployInOrder } from './flow-files';

export async function deployCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { api: { type: 'string' } } });
  if (!values.api || positionals.length === 0) {
    err('usage: ivrflow deploy <file...> --api <url>');
    return 2;
  }
  let api: URL;
  try {
    api = new URL(values.api);
  } catch {
    err(`--api is not a URL: ${values.api}`);
    return 2;
  }
  let failed = 0;
  const items = positionals.map((file) => ({ file, ...readJsonFile(file) }));
  const left = await deployInOrder(items, async (item) => {
    if (item.error || typeof (item.value as { id?: unknown })?.id !== 'string') {
      err(`${item.file}: ${item.error?.message ?? 'the flow has no id'}`);
      failed++;
      return { ok: false, missingFlow: false };
    }
    const id = (item.value as { id: string }).id;
    const res = await fetch(new URL(`flows/${encodeURIComponent(id)}`, api.href.endsWith('/') ? api : `${api.href}/`), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(item.value),
    }).catch((e: Error) => e);
    if (res instanceof Error) {
      err(`${item.file}: cannot reach ${api.href}: ${res.message}`);
      failed++;
      return { ok: false, missingFlow: false };
    }
    const body = (await res.json().catch(() => ({}))) as { version?: number; error?: { code: string; message: string; details?: unknown } };
    if (res.ok) {
      out(`${item.file}: deployed ${id} version ${body.version}`);
      return { ok: true, missingFlow: false };
    }
    const missingFlow = JSON.stringify(body.error?.details ?? '').includes('MISSING_FLOW');
    if (!missingFlow) {
      err(`${item.file}: ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`);
      failed++;
    }
    return { ok: false, missingFlow };
  });
  for (const item of left) err(`${item.file}: a sub-flow it calls does not exist`);
  return failed + left.length === 0 ? 0 : 1;
}
