/**
 * Storage ports the engine depends on (it sees these interfaces only, never DynamoDB;
 * docs/architecture.md, "Layers"). Adapters live in `dynamodb/`.
 */
import type { Connection } from '../connections/connection';
import type { Flow } from '../flow/schema';
import type { ExecutionSnapshot, Settled } from '../executor/snapshot';
import type { ExecutionResult, ExecutionStatus } from '../steps/types';

/** A page of a listing; pass `nextCursor` back to continue. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** Who makes the changes of one request (shared/stores/audit.ts): the caller's IAM ARN, a JWT subject, or `local`. */
export interface Auditor {
  actor: string;
}

/** A listing's window: from `sinceMs` to `untilMs` inclusive (epoch ms). */
export interface TimeWindow {
  sinceMs: number;
  untilMs: number;
}

/** One execution as a search lists it. */
export interface ExecutionSummary {
  executionId: string;
  flowId: string;
  flowVersion: number;
  status: ExecutionStatus;
  branch: string;
  contactId?: string;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
}

/** An execution search: any of the filters, a window, a page. */
export interface ExecutionQuery extends TimeWindow {
  flowId?: string;
  status?: ExecutionStatus;
  contactId?: string;
  /** 1..100. */
  limit: number;
  cursor?: string;
}

/** A flow as listings show it: its id, name, type, latest version and when that version was stored (ISO 8601). */
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
   * With an `auditor`, its `flow.deployed` audit entry is written in the same transaction.
   * @throws VersionConflictError (409, `details.currentVersion`) when another deploy got there first.
   */
  putFlowVersion(flow: Flow & { version: number }, nowIso: string, auditor?: Auditor): Promise<void>;
  /** A version, or the latest when `version` is absent; undefined when missing. */
  getFlow(flowId: string, version?: number): Promise<Flow | undefined>;
  /** The latest version number, or 0 when the flow does not exist. */
  getLatestVersion(flowId: string): Promise<number>;
  listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>>;
  /** A flow's versions, newest first (none for an unknown flow). @throws BadRequestError 400 BAD_CURSOR */
  listVersions(flowId: string, limit: number, cursor?: string): Promise<Page<FlowVersionSummary>>;
  /**
   * Deletes every version. @returns false when the flow did not exist (or another delete of it had
   *   already begun: the flow was no longer visible). With an `auditor`, the delete that begins it
   *   writes its `flow.deleted` audit entry in the same transaction.
   */
  deleteFlow(flowId: string, auditor?: Auditor): Promise<boolean>;
}

/** One stored version of a flow, as `GET /flows/{flowId}/versions` lists it. */
export interface FlowVersionSummary {
  flowId: string;
  version: number;
  name: string;
  /** ISO 8601. */
  deployedAt: string;
}

/** Connection definitions (credentials are not here: they are in the connection's secret). */
export interface ConnectionStore {
  /** With an `auditor`, its `connection.created` or `connection.replaced` audit entry is written in the same transaction. */
  putConnection(connection: Connection, auditor?: Auditor): Promise<void>;
  getConnection(name: string): Promise<Connection | undefined>;
  listConnections(limit: number, cursor?: string): Promise<Page<Connection>>;
  /** @returns false when it did not exist. With an `auditor`, a delete writes its `connection.deleted` audit entry in the same transaction. */
  deleteConnection(name: string, auditor?: Auditor): Promise<boolean>;
}

/**
 * An idempotency key's record (docs/architecture.md, "Executing a flow"): the first request's hash
 * and, once done, its execution.
 */
export interface IdempotencyRecord {
  status: 'IN_PROGRESS' | 'COMPLETED';
  requestHash: string;
  executionId: string;
  /** Epoch seconds after which an IN_PROGRESS key whose runner gave no answer is in doubt (a repeat gets 409 IDEMPOTENCY_IN_DOUBT). */
  lockExpiresAt: number;
}

/** The answer of {@link StateStore.claimWait}. */
export type WaitClaim =
  | { claimed: true; snapshot: ExecutionSnapshot }
  | {
      claimed: false;
      /** The execution's status and revision (absent when it does not exist). */
      status?: string;
      rev?: number;
      settledBy?: Settled['by'];
      /** When it still waits on this wait: its deadline. */
      waitUntil?: number;
      /** When it is RUNNING on a claim of this wait: when the claim was made (epoch ms). */
      claimedAt?: number;
    };

/**
 * One wait of an execution: still waiting (until its deadline, epoch ms), settled (claimed or
 * done) by a payload or its timeout, registered (its request was about to be sent; the execution
 * has not suspended on it yet), or pending: the execution is running and has no such wait registered.
 */
export type WaitView =
  | { state: 'waiting'; until: number; connection?: string }
  | { state: 'settled'; by: Settled['by']; connection?: string }
  /** Registered before its request was sent, not yet waited on: `received` once an early callback's payload is stored. */
  | { state: 'registered'; until: number; connection?: string; received: boolean }
  | { state: 'pending' };

/** What {@link StateStore.saveSnapshot} did: stored it, or (a WAITING one) found that its callback had already come. */
export type SaveOutcome = { earlyCallback?: { payload: unknown } };

/** A wait past its deadline, for the wait-sweeper. */
export interface DueWait {
  executionId: string;
  waitId: string;
  /** Its key in the list (for {@link StateStore.forgetDueWait}). */
  key: string;
}

/** Execution state, idempotency keys and re-dial sessions, in the `State` table (TTL on). */
export interface StateStore {
  /** Writes the final execution record and, when given, completes its idempotency key in the same request. */
  putExecution(result: ExecutionResult, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<void>;
  /** The record, or the current view of an execution that has not ended (status WAITING or RUNNING). */
  getExecution(executionId: string): Promise<ExecutionResult | undefined>;
  /**
   * Execution search, newest first (the index items written with each record and snapshot).
   * @throws BadRequestError 400 BAD_CURSOR for a cursor of another query
   */
  listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>>;
  /**
   * Stores a snapshot conditionally on its revision: a new one (`rev` 0) only if the execution does
   * not exist yet, a later one only if the stored revision is still `snapshot.rev`; then sets
   * `snapshot.rev` to the stored revision. A final snapshot is stored as the record (`result`,
   * shrunk to fit), a suspended one whole. With `idempotency`, the key is completed in the same write.
   * A WAITING one whose callback already came (stored by {@link StateStore.storeEarlyCallback}) is not
   * stored: its payload is returned, for the caller to resume with at once.
   * @throws VersionConflictError when another worker changed the execution first
   */
  saveSnapshot(snapshot: ExecutionSnapshot, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<SaveOutcome>;
  /** Registers a wait before its request is sent (its deadline at the latest, and the connection that signs its callback), so an early callback can be kept. */
  registerWait(executionId: string, waitId: string, wait: { until: number; connection?: string }): Promise<void>;
  /**
   * Keeps the payload of a callback that came before its execution suspended on the wait.
   * @returns `stored`; `duplicate` when one was stored already; `waiting` when the execution is now waiting on it (resume it instead)
   */
  storeEarlyCallback(executionId: string, waitId: string, payload: unknown): Promise<'stored' | 'duplicate' | 'waiting'>;
  /** The stored snapshot of an execution that has not ended (undefined once it ended, or when unknown). */
  getSnapshot(executionId: string): Promise<ExecutionSnapshot | undefined>;
  /**
   * Claims a WAITING execution for one resumer: WAITING on `waitId` → RUNNING in one conditional
   * write, for a payload only before the wait's deadline (`until`) and for its timeout only from
   * the deadline on. When a webhook, a poll and the sweeper race, exactly one gets the snapshot
   * (still WAITING on `waitId`, for `resume`); the others learn from the failed write itself (no
   * extra read) the status the winner left and, when the wait was already claimed or settled, by
   * what; `waitUntil` when it is still waiting (too late for a payload, too early for a timeout).
   */
  claimWait(executionId: string, waitId: string, by: Settled['by']): Promise<WaitClaim>;
  /** What the execution says about one of its waits, read consistently; undefined when the execution or the wait is unknown. */
  getWait(executionId: string, waitId: string): Promise<WaitView | undefined>;
  /** Up to `limit` waits whose deadline is at or before `nowMs`, earliest first, whatever became of them since. */
  listDueWaits(nowMs: number, limit: number): Promise<DueWait[]>;
  /** Removes a wait from that list (the sweeper, once it is settled). */
  forgetDueWait(key: string): Promise<void>;
  /**
   * Claims an idempotency key with one conditional write. Exactly one concurrent caller gets
   * `claimed: true`; the others get the current record, from the failed write itself. An
   * IN_PROGRESS claim whose lock expired is never claimed again (its side effects may have run).
   */
  claimIdempotencyKey(scope: string, key: string, record: IdempotencyRecord, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }>;
  getIdempotencyRecord(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Removes the IN_PROGRESS claim of `executionId` (nothing else) after a failure the caller may retry. */
  releaseIdempotencyKey(scope: string, key: string, executionId: string): Promise<void>;
  /** Session variables saved for `sessionKey`, unless expired. */
  getSession(flowId: string, sessionKey: string, nowMs: number): Promise<Record<string, unknown> | undefined>;
  putSession(flowId: string, sessionKey: string, variables: Record<string, unknown>, expiresAtMs: number): Promise<void>;
}
