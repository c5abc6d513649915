/**
 * Storage ports the engine depends on (CONVENTIONS habit 2). Adapters live in `dynamodb/`.
 */
import type { Flow } from '../flow/schema';
import type { ExecutionResult } from '../steps/types';

/** A page of a listing; pass `nextCursor` back to continue. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface FlowSummary {
  id: string;
  name: string;
  flowType: string;
  latestVersion: number;
  updatedAt: string;
}

/** Flow definitions: every version kept, plus a pointer to the latest. */
export interface FlowStore {
  /**
   * Stores `flow` as version `flow.version`, which must be the current latest + 1 (1 for a new flow).
   * @throws VersionConflictError (409, `details.currentVersion`) when another deploy got there first.
   */
  putFlowVersion(flow: Flow & { version: number }, nowIso: string): Promise<void>;
  /** A version, or the latest when `version` is absent; undefined when missing. */
  getFlow(flowId: string, version?: number): Promise<Flow | undefined>;
  /** The latest version number, or 0 when the flow does not exist. */
  getLatestVersion(flowId: string): Promise<number>;
  listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>>;
  /**
   * Deletes every version. @returns false when the flow did not exist (or another delete of it had
   *   already begun: the flow was no longer visible).
   */
  deleteFlow(flowId: string): Promise<boolean>;
}

/** An idempotency key's record (DESIGN §4): the first request's hash and, once done, its execution. */
export interface IdempotencyRecord {
  status: 'IN_PROGRESS' | 'COMPLETED';
  requestHash: string;
  executionId: string;
  /** Epoch seconds after which the claim of an IN_PROGRESS key may be taken over (its runner died). */
  lockExpiresAt: number;
}

/** Execution state, idempotency keys and re-dial sessions, in the `State` table (TTL on). */
export interface StateStore {
  /** Writes the final execution record and, when given, completes its idempotency key in the same request. */
  putExecution(result: ExecutionResult, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<void>;
  getExecution(executionId: string): Promise<ExecutionResult | undefined>;
  /**
   * Claims an idempotency key with a conditional write. Exactly one concurrent caller gets
   * `claimed: true`; the others get the current record. An IN_PROGRESS claim whose lock expired
   * can be claimed again.
   */
  claimIdempotencyKey(scope: string, key: string, record: IdempotencyRecord, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }>;
  getIdempotencyRecord(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Removes an IN_PROGRESS claim after a failure the caller may retry. */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /** Session variables saved for `sessionKey`, unless expired. */
  getSession(flowId: string, sessionKey: string, nowMs: number): Promise<Record<string, unknown> | undefined>;
  putSession(flowId: string, sessionKey: string, variables: Record<string, unknown>, expiresAtMs: number): Promise<void>;
}
