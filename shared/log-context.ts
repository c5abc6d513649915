/**
 * The keys every log line written while a step runs carries (`executionId`, `flowId`,
 * `flowVersion`, `contactId`, `stepId`), kept in an `AsyncLocalStorage` (Node.js documentation,
 * "Asynchronous context tracking"): the executor runs each step inside {@link withLogKeys}, and
 * the logger's formatter (shared/observability.ts) adds {@link currentLogKeys} to each line. Scoped
 * to the step's own async work, so concurrent executions in one process never mix their keys.
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

const storage = new AsyncLocalStorage<LogKeys>();

/** Runs `work` with `keys` on every log line it writes (its awaited work included). */
export function withLogKeys<T>(keys: LogKeys, work: () => T): T {
  return storage.run(keys, work);
}

/** The keys of the step running now, if any. */
export function currentLogKeys(): LogKeys | undefined {
  return storage.getStore();
}
