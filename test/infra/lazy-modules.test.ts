/**
 * The lazy modules as a function's asset carries them (infra/copy-lazy-module.mjs, run by
 * IvrflowFunction after bundling): only the files their entries load are copied, and from that
 * copy alone (no project node_modules above it) each package loads and works the way the engine
 * uses it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionSpec } from '../../functions/manifest';
// @ts-expect-error -- a plain Node script without declarations (it runs during `cdk synth`)
import { copyLazyModule, lazyModuleFiles } from '../../infra/copy-lazy-module.mjs';

const copy = copyLazyModule as (projectDir: string, assetDir: string, name: string) => string[];
const filesOf = lazyModuleFiles as (projectDir: string, name: string) => string[];
const ROOT = join(import.meta.dirname, '../..');
/** Every lazy module of any function (flow-api has all of them: schema validator, phone numbers, SVG renderer). */
const LAZY: string[] = [...new Set((Object.values(FUNCTIONS) as FunctionSpec[]).flatMap((spec) => spec.lazyModules ?? []))];

let asset: string;
const copied = new Map<string, string[]>();

beforeAll(() => {
  asset = mkdtempSync(join(tmpdir(), 'ivrflow-lazy-modules-'));
  for (const name of LAZY) copied.set(name, copy(ROOT, asset, name));
});

afterAll(() => rmSync(asset, { recursive: true, force: true }));

describe('lazy modules in an asset', () => {
  it('copies what the entries load, with each package.json, and no types or sources', () => {
    expect(LAZY).toEqual(expect.arrayContaining(['ajv', 're2js', 'libphonenumber-js', '@hpcc-js/wasm-graphviz']));
    for (const [name, files] of copied) {
      expect(files).toContain(`node_modules/${name}/package.json`);
      expect(files.filter((f) => /\.d\.[cm]?ts$|\.ts$|\.map$|\.md$/.test(f))).toEqual([]);
      for (const file of files) expect(existsSync(join(asset, file))).toBe(true);
    }
    // libphonenumber-js is 952 files in node_modules; its entries load a fraction of them.
    expect(copied.get('libphonenumber-js')!.length).toBeLessThan(300);
  });

  it('loads and works from the copy alone: phone numbers, a JSON Schema on RE2, and Graphviz', () => {
    const script = join(asset, 'check.mjs');
    writeFileSync(
      script,
      `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const phone = require('libphonenumber-js').parsePhoneNumberFromString('2125551234', 'US');
const { Ajv } = await import('ajv');
const { RE2JS } = await import('re2js');
const re2 = Object.assign((pattern, flags) => { const re = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0); return { test: (t) => re.test(t) }; }, { code: 'RE2JS' });
const validate = new Ajv({ allErrors: true, strict: false, code: { regExp: re2 } }).compile({ type: 'object', properties: { id: { type: 'string', pattern: '^ACC-[0-9]+$' } }, required: ['id'] });
const { Graphviz } = await import('@hpcc-js/wasm-graphviz');
const svg = (await Graphviz.load()).dot('digraph { start -> end }');
// Where each package was found: in the copy, not in some node_modules above it.
const from = [require.resolve('libphonenumber-js'), ...['ajv', 're2js', '@hpcc-js/wasm-graphviz'].map((name) => new URL(import.meta.resolve(name)).pathname)];
process.stdout.write(JSON.stringify({ e164: phone.format('E.164'), valid: validate({ id: 'ACC-12' }), invalid: validate({ id: 'nope' }), svg: svg.includes('<svg'), from }));
`,
    );
    // cwd and the script are in the asset copy, outside the project.
    const out = execFileSync(process.execPath, [script], { cwd: asset, env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8' });
    const answer = JSON.parse(out) as { from: string[] };
    expect(answer).toEqual({ e164: '+12125551234', valid: true, invalid: false, svg: true, from: expect.any(Array) as unknown });
    for (const path of answer.from) expect(path.startsWith(`${asset}/node_modules/`)).toBe(true);
  });

  it('fails the bundling for a package that is not installed, and the command without its arguments', () => {
    expect(() => filesOf(ROOT, 'no-such-package-ivrflow')).toThrow(/no-such-package-ivrflow/);
    const run = () => execFileSync(process.execPath, [join(ROOT, 'infra/copy-lazy-module.mjs'), ROOT], { stdio: 'pipe', encoding: 'utf8' });
    expect(run).toThrow(/usage: node infra\/copy-lazy-module.mjs/);
  });
});
