import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '#shared/observability';
import { sourceMappedStack } from '#shared/source-maps';

/** A minified CommonJS bundle of a small TypeScript module whose `fail()` throws from a known line, with its map beside it. */
let dir: string;
let bundle: string;
let source: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-source-maps-'));
  source = join(dir, 'thrower.ts');
  writeFileSync(source, ['export function pad(n: number): string {', "  return String(n).padStart(4, '0');", '}', '', 'export function fail(): never {', "  throw new Error('engine fault');", '}', ''].join('\n'));
  bundle = join(dir, 'out', 'index.js');
  await build({ entryPoints: [source], bundle: true, minify: true, sourcemap: true, platform: 'node', format: 'cjs', outfile: bundle, logLevel: 'silent' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function stackOfFail(): string {
  return stackError().stack!;
}

describe('sourceMappedStack', () => {
  it('maps a frame in a bundle to the TypeScript source, line and column', () => {
    const stack = stackOfFail();
    expect(stack).toContain(`${bundle}:1:`);
    const mapped = sourceMappedStack(stack);
    expect(mapped.split('\n')[0]).toBe('Error: engine fault');
    expect(mapped).toContain(`${source}:6:`);
    expect(mapped).not.toContain(`${bundle}:`);
  });

  it('leaves frames without a map, and lines that are not frames, as they are', () => {
    const stack = ['Error: x', '    at run (/nowhere/index.js:1:2)', '    at node:internal/process/task_queues:95:5', 'not a frame'].join('\n');
    expect(sourceMappedStack(stack)).toBe(stack);
  });

  it('leaves a frame whose map is unreadable as it is', () => {
    const broken = join(dir, 'broken.js');
    writeFileSync(broken, 'module.exports = 1;\n');
    writeFileSync(`${broken}.map`, '{ not json');
    const stack = `Error: x\n    at ${broken}:1:3`;
    expect(sourceMappedStack(stack)).toBe(stack);
  });
});

describe('the logger', () => {
  it("writes an error's stack and location as the TypeScript sources", () => {
    const lines: string[] = [];
    // Powertools writes ERROR lines to stderr.
    const spies = [process.stdout, process.stderr].map((stream) => vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => lines.push(String(chunk)) > 0));
    try {
      logger.error('engine fault', stackError());
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const line = JSON.parse(lines.join('').trim()) as { error: { location: string; stack: string } };
    expect(line.error.location).toBe(`${source}:6`);
    expect(line.error.stack).toContain(`${source}:6:`);
    expect(line.error.stack).not.toContain(`${bundle}:`);
  });
});

function stackError(): Error {
  const { fail } = createRequire(import.meta.url)(bundle) as { fail: () => never };
  try {
    fail();
  } catch (err) {
    return err as Error;
  }
  throw new Error('fail() did not throw');
}
