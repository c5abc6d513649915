/**
 * How `ivrflow test` reports (docs/testing.md): a line per case with its diff when it failed, the
 * `N passed, M failed` summary, the coverage table, JSON, and JUnit XML (the `junit-report-builder`
 * package: a testsuite per file, a testcase per case, the diff as the failure message).
 */
import reportBuilder from 'junit-report-builder';
import { percent, type CoverageReport } from './coverage';
import { failureLines, type FileResult } from './runner';

const number = (n: number) => n.toLocaleString('en-US');

/** The human report of a run: per file, a line per case (`✓ name (7 steps, 1,240 ms virtual)` / `✗ name` and its diff), then the summary. */
export function textReport(results: readonly FileResult[]): string[] {
  const lines: string[] = [];
  for (const file of results) {
    lines.push(file.file);
    for (const c of file.cases) {
      const figures = `(${c.path.length} step${c.path.length === 1 ? '' : 's'}, ${number(c.elapsedMs)} ms virtual)`;
      lines.push(`  ${c.passed ? '✓' : '✗'} ${c.name} ${figures}`);
      if (!c.passed) for (const l of failureLines(c)) lines.push(`      ${l}`);
    }
  }
  const cases = results.flatMap((r) => r.cases);
  const failed = cases.filter((c) => !c.passed).length;
  lines.push('', `${cases.length - failed} passed, ${failed} failed (${results.length} file${results.length === 1 ? '' : 's'})`);
  return lines;
}

/** The coverage table: per flow, steps and branches covered, then each missed `flow: step → branch (target)`. */
export function coverageReport(report: CoverageReport): string[] {
  const rows = Object.entries(report.flows).map(([flowId, c]) => [
    flowId,
    `${c.steps.covered}/${c.steps.total} (${percent(c.steps.covered, c.steps.total)}%)`,
    `${c.branches.covered}/${c.branches.total} (${percent(c.branches.covered, c.branches.total)}%)`,
  ]);
  const t = report.total;
  rows.push(['total', `${t.steps.covered}/${t.steps.total} (${percent(t.steps.covered, t.steps.total)}%)`, `${t.branches.covered}/${t.branches.total} (${percent(t.branches.covered, t.branches.total)}%)`]);
  const header = ['flow', 'steps', 'branches'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = ['', 'coverage', line(header), ...rows.map(line)];
  const missed = Object.entries(report.flows).flatMap(([flowId, c]) => c.branches.missed.map((b) => `  ${flowId}: ${b.step} → ${b.branch} (${b.target})`));
  if (missed.length) lines.push('missed branches:', ...missed);
  return lines;
}

/** The run as JSON: each file's cases (without the internal list of branches taken), and the totals. */
export function jsonReport(results: readonly FileResult[], coverage?: CoverageReport): unknown {
  const cases = results.flatMap((r) => r.cases);
  const failed = cases.filter((c) => !c.passed).length;
  return {
    passed: cases.length - failed,
    failed,
    files: results.map((r) => ({ file: r.file, flowId: r.flowId, cases: r.cases.map(({ taken: _taken, ...c }) => c) })),
    ...(coverage ? { coverage } : {}),
  };
}

/** JUnit XML of a run: a testsuite per file, a testcase per case (class name the flow id), the diff as the failure message. */
export function junitReport(results: readonly FileResult[]): string {
  const builder = reportBuilder.newBuilder();
  for (const file of results) {
    const suite = builder.testSuite().name(file.file);
    for (const c of file.cases) {
      const testCase = suite.testCase().className(file.flowId).name(c.name).file(file.file).time(0);
      if (!c.passed) testCase.failure(failureLines(c).join('\n'), 'FlowTestFailure');
    }
  }
  return builder.build();
}
