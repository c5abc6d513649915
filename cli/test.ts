/**
 * `ivrflow test [paths...]`: runs flow test files (`*.test.json`; docs/testing.md) offline, on a
 * virtual clock. Exit 0 when every case passed (and coverage is at least `--min-branch-coverage`),
 * 1 when a case failed or coverage is below it, 2 when a test file or what it names is invalid or
 * the usage is wrong.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { Flow } from '#shared/flow/schema';
import { formatDiagnostics } from './format';
import { coverageOf, percent } from '#shared/testing/coverage';
import { coverageReport, jsonReport, junitReport, textReport } from '#shared/testing/report';
import { findTestFiles, loadTestFile, runTestFile, type FileDiagnostic, type FileResult } from '#shared/testing/runner';

/** The options of `ivrflow test`, as the command line parser gives them. */
export interface TestOptions {
  case?: string;
  coverage?: boolean;
  coverageJson?: string;
  minBranchCoverage?: string;
  /** `junit` (the parser refuses any other). */
  reporter?: 'junit';
  output?: string;
  json?: boolean;
}

/** Runs `ivrflow test`; returns the exit code. */
export async function testCommand(positionals: string[], values: TestOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const usage = (message: string) => {
    err(`${message}\n(run 'ivrflow test --help' for usage)`);
    return 2;
  };
  if ((values.reporter === undefined) !== (values.output === undefined)) return usage('--reporter junit and --output <file.xml> go together');
  const min = values.minBranchCoverage === undefined ? undefined : Number(values.minBranchCoverage);
  if (min !== undefined && !(Number.isFinite(min) && min >= 0 && min <= 100)) return usage(`--min-branch-coverage must be a percent from 0 to 100, got '${values.minBranchCoverage}'`);
  const paths = positionals.length ? positionals : ['.'];
  const missing = paths.find((p) => !existsSync(p));
  if (missing !== undefined) return usage(`${missing}: no such file or folder`);
  const files = findTestFiles(paths);
  if (files.length === 0) return usage(`no *.test.json file under ${paths.join(', ')}`);

  const invalid: FileDiagnostic[] = [];
  const results: FileResult[] = [];
  const flows = new Map<string, Flow>();
  for (const file of files) {
    const { loaded, errors } = await loadTestFile(file);
    if (!loaded) {
      invalid.push(...errors);
      continue;
    }
    for (const [id, list] of loaded.flows) if (!flows.has(id) || id === loaded.flow.id) flows.set(id, list[0]!);
    const result = await runTestFile(loaded, values.case);
    if (result.cases.length) results.push(result);
  }
  for (const d of invalid) for (const l of formatDiagnostics(d.file, [d], 'error')) err(l);
  if (values.case !== undefined && results.length === 0 && invalid.length === 0) return usage(`no case is named '${values.case}'`);

  const wantCoverage = values.coverage || values.coverageJson !== undefined || min !== undefined;
  const coverage = wantCoverage ? coverageOf(results, flows) : undefined;
  if (values.json) out(JSON.stringify(jsonReport(results, coverage), null, 2));
  else {
    for (const l of textReport(results)) out(l);
    if (coverage && values.coverage) for (const l of coverageReport(coverage)) out(l);
  }
  if (coverage && values.coverageJson) writeFileSync(values.coverageJson, `${JSON.stringify(coverage, null, 2)}\n`);
  if (values.output) writeFileSync(values.output, junitReport(results));

  let below = false;
  if (coverage && min !== undefined) {
    for (const [flowId, c] of Object.entries(coverage.flows)) {
      const p = percent(c.branches.covered, c.branches.total);
      if (p < min) {
        below = true;
        err(`branch coverage of ${flowId} is ${p}%, below --min-branch-coverage ${min}%`);
      }
    }
  }
  if (invalid.length) return 2;
  return results.some((r) => r.cases.some((c) => !c.passed)) || below ? 1 : 0;
}
