/**
 * Each function's bundle as the CDK builds it. First choice: the assets of a `cdk synth` (every
 * function of functions/manifest.ts created, with `ivrflow:definitionsDir` and a `basic` caller
 * authorization), mapped to functions by the template's `aws:cdk:path` and `aws:asset:path`
 * metadata. When the synth fails or takes longer than {@link SYNTH_TIMEOUT_MS}, or leaves a
 * function out, esbuild with IvrflowFunction's options ({@link ivrflowBuildOptions}).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { FUNCTIONS, type FunctionSpec } from '../functions/manifest';
import { progress } from './harness';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A synth slower than this (a busy machine, or Docker bundling) gives way to esbuild. */
export const SYNTH_TIMEOUT_MS = 60_000;

/**
 * The esbuild options NodejsFunction runs for an IvrflowFunction (infra/constructs/ivrflow-function.ts:
 * `minify`, `sourceMap`, `format: cjs`, `target: node22`; the AWS SDK v3 external, as NodejsFunction's
 * default for Node.js 18+ runtimes, plus the function's `lazyModules`, shipped beside the bundle),
 * for `functions/<dir>/handler.ts`, written to `outdir/index.js` (kept in memory without `outdir`).
 */
export function ivrflowBuildOptions(spec: Pick<FunctionSpec, 'dir' | 'lazyModules'>, outdir?: string): BuildOptions {
  return {
    entryPoints: [join(ROOT, 'functions', spec.dir, 'handler.ts')],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: true,
    external: ['@aws-sdk/*', ...(spec.lazyModules ?? [])],
    logLevel: 'silent',
    // Without a directory, nothing is written: the caller reads `outputFiles` (or the metafile).
    outfile: join(outdir ?? tmpdir(), 'index.js'),
    write: outdir !== undefined,
  };
}

/** One function's bundle. */
export interface Bundle {
  dir: string;
  /** Its `index.js` (the source map beside it). */
  file: string;
  bytes: number;
  /** Where it came from: `cdk synth` or `esbuild`. */
  source: 'cdk synth' | 'esbuild';
  /** The function's NODE_OPTIONS as deployed (from the template; for esbuild, from IvrflowFunction's source). */
  nodeOptions: string;
}

/** The NODE_OPTIONS IvrflowFunction sets, read from its source (the esbuild path has no template). */
function nodeOptionsOfConstruct(): string {
  const text = readFileSync(join(ROOT, 'infra/constructs/ivrflow-function.ts'), 'utf8');
  return /NODE_OPTIONS:\s*'([^']*)'/.exec(text)?.[1] ?? '';
}

/** Runs `cdk synth --quiet -o <dir>` with every function created. @returns the output directory @throws Error on failure or timeout */
function synth(): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'ivrflow-bench-synth-'));
  const args = ['synth', '--quiet', '-o', out, '-c', 'ivrflow:definitionsDir=examples', '-c', 'ivrflow:callerAuthorization={"type":"basic"}'];
  // Its own process group, so that a timeout stops the app process (tsx) the CLI runs too.
  const child = spawn(join(ROOT, 'node_modules/.bin/cdk'), args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      reject(new Error(`cdk synth took longer than ${SYNTH_TIMEOUT_MS / 1000} s`));
    }, SYNTH_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`cdk synth exited ${code}: ${output.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

interface TemplateFunction {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties?: { Code?: { S3Key?: unknown }; Environment?: { Variables?: Record<string, unknown> } };
}

/** The bundles of a synth's output, by function dir (functions the template does not have are left out). */
function bundlesOfSynth(out: string, specs: readonly FunctionSpec[]): Map<string, Bundle> {
  const template = JSON.parse(readFileSync(join(out, 'Ivrflow.template.json'), 'utf8')) as { Resources: Record<string, TemplateFunction> };
  const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  const found = new Map<string, Bundle>();
  for (const spec of specs) {
    const resource = functions.find((r) => r.Metadata?.['aws:cdk:path'] === `Ivrflow/${spec.id}/Resource`);
    if (!resource) continue;
    const key = resource.Properties?.Code?.S3Key;
    const assetPath = typeof resource.Metadata?.['aws:asset:path'] === 'string' ? resource.Metadata['aws:asset:path'] : typeof key === 'string' ? `asset.${key.replace(/\.zip$/, '')}` : undefined;
    if (!assetPath) continue;
    const file = join(out, assetPath, 'index.js');
    if (!existsSync(file)) continue;
    const nodeOptions = resource.Properties?.Environment?.Variables?.['NODE_OPTIONS'];
    found.set(spec.dir, { dir: spec.dir, file, bytes: statSync(file).size, source: 'cdk synth', nodeOptions: typeof nodeOptions === 'string' ? nodeOptions : '' });
  }
  return found;
}

/** Builds one function with esbuild and IvrflowFunction's options into a temporary directory. */
export async function esbuildBundle(spec: Pick<FunctionSpec, 'dir' | 'lazyModules'>): Promise<Bundle> {
  const outdir = mkdtempSync(join(tmpdir(), `ivrflow-bench-${spec.dir}-`));
  await build(ivrflowBuildOptions(spec, outdir));
  const file = join(outdir, 'index.js');
  return { dir: spec.dir, file, bytes: statSync(file).size, source: 'esbuild', nodeOptions: nodeOptionsOfConstruct() };
}

/** Every function of the manifest, read now (the manifest may change between runs). */
export function manifestSpecs(): FunctionSpec[] {
  return Object.values(FUNCTIONS as Record<string, FunctionSpec>);
}

/**
 * The bundle of every function of the manifest: from a `cdk synth` when it finishes in time,
 * else (and for any function it leaves out) from esbuild.
 * @returns bundles by function dir, a note on how they were built, and `remove()`, which deletes their directories
 */
export async function buildBundles(): Promise<{ bundles: Map<string, Bundle>; note: string; remove: () => void }> {
  const specs = manifestSpecs();
  let bundles = new Map<string, Bundle>();
  let note: string;
  const dirs: string[] = [];
  const t0 = Date.now();
  try {
    progress('bundles: cdk synth (every function)');
    const out = await synth();
    dirs.push(out);
    bundles = bundlesOfSynth(out, specs);
    note = `cdk synth in ${((Date.now() - t0) / 1000).toFixed(0)} s`;
  } catch (err) {
    note = `cdk synth failed (${(err as Error).message}); esbuild with IvrflowFunction's options`;
    progress(`bundles: ${note}`);
  }
  for (const spec of specs) {
    if (bundles.has(spec.dir)) continue;
    try {
      const bundle = await esbuildBundle(spec);
      dirs.push(dirname(bundle.file));
      bundles.set(spec.dir, bundle);
    } catch (err) {
      progress(`bundles: esbuild of ${spec.dir} failed: ${(err as Error).message}`);
    }
  }
  return { bundles, note, remove: () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })) };
}
