/** Reading flow files from disk for the CLI (validate, run, test, demo). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../shared/errors';
import type { FlowResolver } from '../shared/executor/executor';
import type { Flow } from '../shared/flow/schema';
import { validateFlow } from '../shared/flow/validate';

/** Reads and parses a JSON file; a parse failure is an `INVALID_JSON` diagnostic, never a throw. */
export function readJsonFile(file: string): { value?: unknown; error?: Diagnostic } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { error: { code: 'UNREADABLE_FILE', path: '', message: (err as Error).message } };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { error: { code: 'INVALID_JSON', path: '', message: (err as Error).message } };
  }
}

/** Lists the flow files (`*.json`, not `*.test.json` or `*.vars.json`) of a folder. */
export function flowFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.test.json') && !f.endsWith('.vars.json'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * A resolver over a folder of flow files: each valid file is indexed by `id` (and `version`);
 * invalid files are skipped (a sub-flow reference to them then fails as missing).
 */
export async function folderResolver(dir: string, allowPrivateHosts: boolean): Promise<{ resolve: FlowResolver; flows: Map<string, Flow[]> }> {
  const flows = new Map<string, Flow[]>();
  for (const file of flowFilesIn(dir)) {
    const { value } = readJsonFile(file);
    if (value === undefined) continue;
    const result = await validateFlow(value, { allowPrivateHosts });
    if (!result.flow) continue;
    const list = flows.get(result.flow.id) ?? [];
    list.push(result.flow);
    list.sort((a, b) => (b.version ?? 0) - (a.version ?? 0));
    flows.set(result.flow.id, list);
  }
  const resolve: FlowResolver = async (flowId, version) => {
    const list = flows.get(flowId);
    if (!list) return undefined;
    return version === undefined ? list[0] : list.find((f) => (f.version ?? 1) === version);
  };
  return { resolve, flows };
}

/**
 * Deploys flow bodies in an order that satisfies sub-flow references (a flow whose sub-flow is
 * not there yet is retried after the others). Calls `deploy` for each; returns the failures.
 */
export async function deployInOrder<T>(items: T[], deploy: (item: T) => Promise<{ ok: boolean; missingFlow: boolean }>): Promise<T[]> {
  let pending = items;
  for (;;) {
    const retry: T[] = [];
    for (const item of pending) {
      const r = await deploy(item);
      if (!r.ok && r.missingFlow) retry.push(item);
    }
    if (retry.length === 0 || retry.length === pending.length) return retry;
    pending = retry;
  }
}
