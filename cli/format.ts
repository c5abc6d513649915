/** Human-readable rendering of execution results for the terminal. */
import type { Diagnostic } from '#shared/errors';
import type { ExecutionResult, TraceEntry } from '#shared/steps/types';

function rows(trace: TraceEntry[], indent: string): string[][] {
  return trace.flatMap((t) => [
    [
      indent + t.stepId,
      t.type,
      t.branch,
      t.status,
      String(t.durationMs),
      t.statusCode === undefined ? '' : String(t.statusCode ?? '-'),
      t.attempts === undefined ? '' : String(t.attempts),
      t.error ? `${t.error.type}: ${t.error.message}`.slice(0, 70) : '',
    ],
    ...(t.subFlow ? rows(t.subFlow.trace, `${indent}  `) : []),
  ]);
}

/** A table of the trace, then the status, branch and output variables. */
export function formatResult(result: ExecutionResult): string {
  const header = ['step', 'type', 'branch', 'status', 'ms', 'http', 'attempts', 'error'];
  const body = rows(result.trace, '');
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  out.push('', `status: ${result.status}   branch: ${result.branch}   duration: ${result.durationMs} ms   execution: ${result.executionId}`);
  if (result.error) out.push(`error: ${result.error.code}: ${result.error.message}`);
  out.push('variables:');
  for (const [k, v] of Object.entries(result.variables)) out.push(`  ${k} = ${JSON.stringify(v)}`);
  return out.join('\n');
}

/** One line per diagnostic: `file: CODE path: message` (line breaks in a message are folded into spaces). */
export function formatDiagnostics(file: string, diagnostics: Diagnostic[], level: 'error' | 'warning'): string[] {
  return diagnostics.map((d) => `${file}: ${level} ${d.code} ${d.path || '(root)'}: ${d.message.replace(/\s*[\r\n]+\s*/g, ' ')}`);
}
