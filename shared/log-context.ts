/**
 * The keys every log line written while an execution advances carries (`executionId`, `flowId`,
 * `flowVersion`, `contactId`, `stepId`), kept in an `AsyncLocalStorage` (Node.js documentation,
 * "Asynchronous context tracking"): the executor advances each execution inside {@link withLogKeys}
 * with a source of its keys, and the logger's formatter (shared/observability.ts) adds
 * {@link currentLogKeys} to each line. The source is read when a line is written, so the line names
 * the step running then, and nothing is built for the (many) steps that write no line. Scoped to the
 * execution's own async work, so concurrent executions in one process never mix their keys.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The execution and step a log line belongs to. */
export interface LogKeys {
  executionId: string;
  flowId: string;
  flowVersion: number;
  /** The call's contact id (the `contact_id` variable), when it has one. */
  contactId?: string;
  /** The step's path: `<stepId>`, or `<callingStepId>/<stepId>` inside a sub-flow. */
  stepId?: string;
}

/** Gives the keys of a line being written (called once per line). */
export type LogKeySource = () => LogKeys;

const storage = new AsyncLocalStorage<LogKeySource>();

/** Runs `work` with the keys `keys` gives on every log line it writes (its awaited work included). */
export function withLogKeys<T>(keys: LogKeySource, work: () => T): T {
  return storage.run(keys, work);
}

/** The keys of the execution advancing now, if any. */
export function currentLogKeys(): LogKeys | undefined {
  return storage.getStore()?.();
}
