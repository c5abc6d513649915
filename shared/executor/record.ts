/**
 * Fitting an execution record under the stored-record budget (350 KiB, under DynamoDB's 400 KB
 * item limit): a record is never refused for its size, and its outcome (status, branch, error)
 * is never cut. The trace goes first: sub-flow traces are dropped, then trailing entries; only if
 * the outputs alone are too large are they dropped too. A shrunk record says `truncated: true`.
 */
import { MAX_RECORD_BYTES } from '../budgets';
import type { ExecutionResult, TraceEntry } from '../steps/types';

const sizeOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

function withoutSubFlowTraces(trace: TraceEntry[]): TraceEntry[] {
  return trace.map((entry) => (entry.subFlow ? { ...entry, subFlow: { ...entry.subFlow, trace: [] } } : entry));
}

/**
 * The record to store for `result`, at most `maxBytes` of JSON.
 * @returns `result` itself when it fits, else a shrunk copy with `truncated: true`.
 */
export function fitRecord(result: ExecutionResult, maxBytes = MAX_RECORD_BYTES): ExecutionResult {
  if (sizeOf(result) <= maxBytes) return result;
  const shrunk: ExecutionResult = { ...result, trace: withoutSubFlowTraces(result.trace), truncated: true };
  if (sizeOf(shrunk) <= maxBytes) return shrunk;
  // Keep the longest prefix of the trace that fits (binary search on its length).
  const all = shrunk.trace;
  let low = 0;
  let high = all.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (sizeOf({ ...shrunk, trace: all.slice(0, mid) }) <= maxBytes) low = mid;
    else high = mid - 1;
  }
  const kept = { ...shrunk, trace: all.slice(0, low) };
  return sizeOf(kept) <= maxBytes ? kept : { ...kept, variables: {} };
}
