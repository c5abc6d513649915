/**
 * Flow tests inside vitest (docs/testing.md): `flowTests('examples')` declares a `describe` per
 * `*.test.json` file under the folder and an `it` per case, run by the same runner as
 * `ivrflow test`. A failed case fails its test with the runner's diff; a test file that does not
 * load fails each of its cases with the file's diagnostics.
 *
 * @example
 * // flows.test.ts
 * import { flowTests } from 'ivrflow/testing';
 * flowTests('flows');
 */
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { failureLines, findTestFiles, loadTestFile, runCase } from './runner';

/** The case names of a file, read at collection time (vitest declares tests synchronously); a file that cannot be read has one case named after the problem. */
function caseNames(file: string): string[] {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { cases?: Array<{ name?: unknown }> };
    const names = (parsed.cases ?? []).map((c, i) => (typeof c.name === 'string' ? c.name : `cases[${i}]`));
    return names.length ? names : ['(no cases)'];
  } catch (err) {
    return [`(unreadable: ${(err as Error).message})`];
  }
}

/**
 * Declares one vitest test per case of every `*.test.json` under `dir` (files or folders).
 * @throws nothing at declaration; each test throws an Error with the case's diff when it fails
 */
export function flowTests(...paths: string[]): void {
  for (const file of findTestFiles(paths)) {
    describe(file, () => {
      let loading: Promise<Awaited<ReturnType<typeof loadTestFile>>> | undefined;
      for (const name of caseNames(file)) {
        it(name, async () => {
          const { loaded, errors } = await (loading ??= loadTestFile(file));
          if (!loaded) throw new Error(`${file} does not load:\n${errors.map((d) => `${d.file}: ${d.code} ${d.path || '(root)'}: ${d.message}`).join('\n')}`);
          const testCase = loaded.test.cases.find((c) => c.name === name);
          if (!testCase) throw new Error(`${file}: no case named '${name}'`);
          const result = await runCase(loaded, testCase);
          if (!result.passed) throw new Error(`${name}\n${failureLines(result).join('\n')}`);
        });
      }
    });
  }
}
