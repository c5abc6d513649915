/** Deploying flow files in dependency order (deploy, serve). */

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
