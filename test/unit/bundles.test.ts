/**
 * What each function's bundle pulls in, from esbuild's metafile with IvrflowFunction's bundling
 * options (bench/bundling.ts): the small functions (token-refresher, agent-events,
 * basic-authorizer) load none of the engine's heavy libraries; the flow-executor leaves the
 * Graphviz renderer out (it ships beside the bundles that render SVG and loads lazily), and the
 * definitions-deployer every graph renderer; the flow-executor's bundle, loaded, has not required
 * the Secrets Manager SDK (it loads on the first secret). Sizes are `npm run bench`'s business;
 * this checks membership only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionSpec } from '../../functions/manifest';
import { ivrflowBuildOptions, ROOT } from '../../bench/bundling';

/** The packages whose files are in a bundle (the innermost `node_modules/<name>` of each input). */
function packagesOf(metafile: Metafile): Set<string> {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const matches = [...input.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
    const last = matches[matches.length - 1];
    if (last) names.add(last[1]!);
  }
  return names;
}

async function bundledPackages(dir: string): Promise<Set<string>> {
  const result = await build({ ...ivrflowBuildOptions(specOf(dir)), metafile: true, write: false });
  return packagesOf(result.metafile);
}

function specOf(dir: string): FunctionSpec {
  const spec = Object.values(FUNCTIONS as Record<string, FunctionSpec>).find((f) => f.dir === dir);
  if (!spec) throw new Error(`no function ${dir} in functions/manifest.ts`);
  return spec;
}

const HEAVY = ['libphonenumber-js', 'ajv', 're2js', 'jsonpath-plus', '@hpcc-js/wasm-graphviz'];

describe('function bundles (esbuild, IvrflowFunction options)', () => {
  it.each(['token-refresher', 'agent-events', 'basic-authorizer'])('%s includes none of the engine’s heavy libraries', async (dir) => {
    const packages = await bundledPackages(dir);
    // The detection sees packages at all: every handler is a middy handler.
    expect(packages).toContain('@middy/core');
    expect(HEAVY.filter((name) => packages.has(name))).toEqual([]);
  });

  it('definitions-deployer leaves the graph renderers out (it deploys, flow-api draws)', async () => {
    const packages = await bundledPackages('definitions-deployer');
    expect(packages).toContain('zod');
    expect(['ts-graphviz', '@ts-graphviz/ast', '@hpcc-js/wasm-graphviz'].filter((name) => packages.has(name))).toEqual([]);
  });

  it('flow-executor leaves the Graphviz WASM renderer out', async () => {
    const packages = await bundledPackages('flow-executor');
    expect(packages).toContain('@middy/core');
    expect(packages).not.toContain('@hpcc-js/wasm-graphviz');
  });

  it('flow-executor, once loaded, has required the DynamoDB SDK but not the Secrets Manager one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ivrflow-bundle-'));
    try {
      await build(ivrflowBuildOptions(specOf('flow-executor'), dir));
      // The SDK is external (the Lambda runtime's); here it comes from the repository's node_modules.
      const script = `require(${JSON.stringify(join(dir, 'index.js'))}); process.stdout.write(JSON.stringify(Object.keys(require.cache)))`;
      const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { PATH: process.env['PATH'], NODE_PATH: join(ROOT, 'node_modules') }, encoding: 'utf8' })) as string[];
      expect(loaded.some((file) => file.includes('/@aws-sdk/client-dynamodb/'))).toBe(true);
      expect(loaded.filter((file) => file.includes('/@aws-sdk/client-secrets-manager/'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
