/**
 * Executions (docs/architecture.md, "Executing a flow" and "Durable executions"): run a flow
 * synchronously within its deadline, with an optional idempotency key (a repeat returns the first
 * answer and does not run the flow again), re-dial sessions (the flow's `session` setting,
 * `shared/flow/schema.ts`), and one write of the execution record at the end.
 */
import { createHash } from 'node:crypto';
import { stringify as stableStringify } from 'safe-stable-stringify';
import * as z from 'zod';
import { MIN_CALL_MS } from '../budgets';
import type { Clock, Randomness } from '../clock';
import { BadRequestError, ConflictError, NotFoundError, StoreUnavailableError, UnprocessableRequestError, VersionConflictError } from '../errors';
import { advance, resume, resultOf, rootVariables, sessionKeyOf, startExecution, type ExecutorDeps, type WaitEvent } from '../executor/executor';
import { fitRecord } from '../executor/record';
import { acceptInputs, inputProblemsMessage } from '../flow/inputs';
import { finishReserveOf, type Flow } from '../flow/schema';
import type { HttpClient, HttpRequest } from '../http/client';
import type { CircuitBreaker } from '../resilience/circuit-breaker';
import type { ServiceContainer } from '../services';
import type { FlowStore, IdempotencyRecord, SaveOutcome, StateStore, WaitClaim } from '../stores/ports';
import { reportStoreFailure, type StoreFailureEvent } from '../observability';
import type { ExecutionResult } from '../steps/types';
import type { ExecutionSnapshot, Settled } from '../executor/snapshot';

/** The body of `POST /flows/{flowId}/executions`. */
export const ExecutionRequestBody = z
  .object({
    variables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names must be identifiers'), z.unknown()).default({}),
    contactId: z.string().min(1).max(256).optional(),
    deadlineMs: z.number().int().min(100).max(30000).optional().describe("The caller's own limit, ms"),
  })
  .strict();

/** How long a claim of a wait may run before the sweeper deems its resumer dead, ms (longer than any function's timeout). */
export const CLAIM_LEASE_MS = 2 * 60_000;

/** What a wait-sweeper run did. */
export interface SweepSummary {
  due: number;
  timedOut: number;
  abandoned: number;
  failed: Array<{ executionId: string; message: string }>;
}

/** Idempotency keys: printable ASCII, 1–255 characters (IETF draft "The Idempotency-Key HTTP Header Field"). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface ExecutionServiceProps {
  flows: FlowStore;
  state: StateStore;
  http: HttpClient;
  clock: Clock;
  randomness: Randomness;
  /** The shared circuit breaker. @default one over this process's memory */
  circuits?: CircuitBreaker;
  /** The function's step services (see `shared/services.ts`). @default none: defaults built per execution */
  services?: ServiceContainer;
  /** How long execution records are kept, seconds. @default 7 days */
  executionTtlSeconds?: number;
  /** How long an idempotency key remembers its first answer, seconds. @default 24 h */
  idempotencyTtlSeconds?: number;
  /** Interval of polling a key another request is running, ms. @default 50 */
  idempotencyPollMs?: number;
  /** Store failures a caller did not see (a record logged instead of stored). @default logs and metrics (`reportStoreFailure`) */
  onStoreFailure?: (event: StoreFailureEvent) => void;
}

/** A planned synchronous run: what it runs, its id, its deadline (epoch ms) and whether it has called a backend yet. */
interface RunPlan {
  flow: Flow;
  request: z.infer<typeof ExecutionRequestBody>;
  executionId: string;
  deadlineAt: number;
  idempotency?: { scope: string; key: string };
  progress: { backendCalled: boolean };
}

/** The longest a flow may run, ms (`deadlineMs` at most): what bounds reading a flow before its own deadline is known. */
const MAX_FLOW_DEADLINE_MS = 30_000;
/** Time kept for the answer to reach the caller: the record write ends this long before the deadline, ms. */
const ANSWER_MARGIN_MS = 50;
/** Seconds an IN_PROGRESS key's lock outlives its request's deadline; past it, a repeat is answered IDEMPOTENCY_IN_DOUBT. */
const IDEMPOTENCY_LOCK_MARGIN_SECONDS = 2;

export class ExecutionService {
  private readonly executionTtlSeconds: number;
  private readonly idempotencyTtlSeconds: number;
  private readonly pollMs: number;

  constructor(private readonly props: ExecutionServiceProps) {
    this.executionTtlSeconds = props.executionTtlSeconds ?? 7 * 24 * 3600;
    this.idempotencyTtlSeconds = props.idempotencyTtlSeconds ?? 24 * 3600;
    this.pollMs = props.idempotencyPollMs ?? 50;
  }

  /**
   * Runs the latest version of `flowId` with the request body, within the caller's deadline:
   * min(flow `deadlineMs`, the body's `deadlineMs`), counted from the request's start, so reading
   * the flow, the idempotency claim and the session are inside it. With the State table
   * unreachable, a run that needs nothing stored before it starts (no `Idempotency-Key`, its flow
   * cached) still runs and answers, its record going to the log (`record_write_failed`); one that
   * does answers 503 `STATE_UNAVAILABLE` within the deadline.
   * @throws UnprocessableRequestError `INVALID_BODY` for a body of the wrong shape, or
   *   `IDEMPOTENCY_KEY_REUSED` when a key comes back with another body; BadRequestError for a
   *   malformed key; NotFoundError for an unknown flow; ConflictError `WORKFLOW_NOT_DIRECTLY_EXECUTABLE`
   *   for a flow of `flowType: Workflow` (run by WorkflowExecute only), `IDEMPOTENCY_IN_PROGRESS` when the first
   *   request with the key is still running at the deadline, `IDEMPOTENCY_IN_DOUBT` when it stopped
   *   without an answer (its side effects may have run: it is never run again); StoreUnavailableError (503)
   */
  async start(flowId: string, body: unknown, idempotencyKey?: string): Promise<ExecutionResult> {
    const parsed = ExecutionRequestBody.safeParse(body ?? {});
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => ({ code: i.code === 'unrecognized_keys' ? 'UNKNOWN_KEY' : 'INVALID_VALUE', path: i.path.join('.'), message: i.message }));
      throw new UnprocessableRequestError('INVALID_BODY', `invalid execution request: ${details[0]?.path || '(body)'}: ${details[0]?.message}`, details);
    }
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) throw new BadRequestError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1–255 printable ASCII characters');
    const request = parsed.data;
    const { clock } = this.props;
    const startedAt = clock.now();
    // Before the flow is read its own deadline is unknown: the caller's limit, else the longest a flow may have.
    const flow = await this.bounded(this.props.flows.getFlow(flowId), startedAt + (request.deadlineMs ?? MAX_FLOW_DEADLINE_MS), `reading flow '${flowId}'`);
    if (!flow) throw new NotFoundError(`flow '${flowId}' does not exist`);
    if (flow.flowType === 'Workflow') {
      throw new ConflictError('WORKFLOW_NOT_DIRECTLY_EXECUTABLE', `flow '${flowId}' is a Workflow: it runs through a WorkflowExecute step, which checks that its workflow configuration is enabled (test it with ivrflow test)`);
    }
    // A missing required input or one of the wrong type is the caller's mistake: nothing runs, nothing is stored.
    const { problems } = acceptInputs(flow, request.variables);
    if (problems.length) throw new BadRequestError('INVALID_INPUT', inputProblemsMessage(flow.id, problems), problems);
    const deadlineAt = startedAt + Math.min(flow.deadlineMs, request.deadlineMs ?? flow.deadlineMs);
    const run: RunPlan = { flow, request, executionId: this.props.randomness.id(), deadlineAt, progress: { backendCalled: false } };
    if (idempotencyKey === undefined) return this.run(run);

    // The deadline is how long this attempt may take, not what it asks: a retry with less time left is the same request.
    // Key-sorted JSON (as Powertools' BasePersistenceLayer hashes payloads): key order never changes the hash.
    const requestHash = createHash('sha256')
      .update(stableStringify([flowId, request.variables, request.contactId ?? null]) ?? '')
      .digest('hex');
    const idempotency = { scope: flowId, key: idempotencyKey };
    const lockExpiresAt = Math.ceil(deadlineAt / 1000) + IDEMPOTENCY_LOCK_MARGIN_SECONDS;
    const release = () => this.props.state.releaseIdempotencyKey(flowId, idempotencyKey, run.executionId).catch(() => undefined);
    const claiming = this.props.state.claimIdempotencyKey(flowId, idempotencyKey, { status: 'IN_PROGRESS', requestHash, executionId: run.executionId, lockExpiresAt }, this.idempotencyTtlSeconds);
    const claim = await this.bounded(claiming, deadlineAt - finishReserveOf(flow), 'claiming the Idempotency-Key').catch((err: unknown) => {
      // The claim may still land (a store that stalled): this request ran nothing, so free the key for the caller's retry once it settles.
      if (err instanceof StoreUnavailableError) void claiming.then(release, release);
      throw err;
    });
    if (claim.claimed) {
      try {
        return await this.run({ ...run, idempotency });
      } catch (err) {
        // Once a backend was called, the key is never released: a retry must not repeat side effects.
        if (!run.progress.backendCalled) await release();
        throw err;
      }
    }
    if (claim.record.requestHash !== requestHash) {
      throw new UnprocessableRequestError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request');
    }
    return this.awaitFirst(flowId, idempotencyKey, claim.record, deadlineAt);
  }

  /**
   * Waits for the request that holds the key to finish, then returns its result. A first request
   * whose lock expired without an answer (its worker died, or its record could not be stored) is
   * in doubt: its side effects may have run, so it is never run again.
   */
  private async awaitFirst(flowId: string, key: string, first: IdempotencyRecord, deadlineAt: number): Promise<ExecutionResult> {
    const { clock, state } = this.props;
    for (let record: IdempotencyRecord | undefined = first; ;) {
      if (record?.status === 'COMPLETED') {
        const result = await this.bounded(state.getExecution(record.executionId), deadlineAt, 'reading the first answer');
        if (result) return result;
      }
      const details = { executionId: first.executionId };
      if (record?.status === 'IN_PROGRESS' && record.lockExpiresAt * 1000 <= clock.now()) {
        throw new ConflictError(
          'IDEMPOTENCY_IN_DOUBT',
          `the first request with this Idempotency-Key (execution ${first.executionId}) stopped without an answer; it may have called its backends, so it is not run again (see GET /executions/${first.executionId})`,
          { details },
        );
      }
      if (!record || clock.now() + this.pollMs >= deadlineAt) {
        throw new ConflictError('IDEMPOTENCY_IN_PROGRESS', `the first request with this Idempotency-Key (execution ${first.executionId}) has not finished; retry later`, { details });
      }
      await clock.sleep(this.pollMs);
      record = await this.bounded(state.getIdempotencyRecord(flowId, key), deadlineAt, 'reading the Idempotency-Key');
    }
  }

  /**
   * A store call that must end by `deadlineAt` (epoch ms). One that takes longer is not waited
   * for: it goes on, `onLate` sees its value when it lands, and the caller gets StoreUnavailableError.
   * @throws StoreUnavailableError, or what the call throws
   */
  private async bounded<T>(work: Promise<T>, deadlineAt: number, what: string, onLate?: (value: T) => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = Symbol('late');
    const timeout = new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), Math.max(0, deadlineAt - this.props.clock.now()))));
    try {
      const first = await Promise.race([work, timeout]);
      if (first !== late) return first;
      void work.then(onLate, () => undefined);
      throw new StoreUnavailableError(`the state store did not answer in time (${what})`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a planned execution: the session restored, the flow advanced, and its one {@link finish}. */
  private async run(plan: RunPlan): Promise<ExecutionResult> {
    const { clock, state } = this.props;
    const { flow, request, executionId, deadlineAt, progress } = plan;
    const http: HttpClient = {
      send: (req: HttpRequest) => {
        progress.backendCalled = true;
        return this.props.http.send(req);
      },
    };
    const startedAt = clock.now();
    try {
      // Only what the flow accepts reaches a template, the session key's included.
      const { variables } = acceptInputs(flow, { ...request.variables, ...(request.contactId ? { contact_id: request.contactId } : {}) });
      const sessionKey = sessionKeyOf(flow, variables);
      if (flow.session && sessionKey) {
        // A session that cannot be read now is a fresh call, not a failed one.
        const restored = await this.bounded(state.getSession(flow.id, sessionKey, clock.now()), deadlineAt - finishReserveOf(flow), 'reading the session').catch((err: unknown) => {
          this.report({ type: 'session_unavailable', flowId: flow.id, error: err });
          return undefined;
        });
        // Restored values fill in what this call did not send.
        for (const [k, v] of Object.entries(restored ?? {})) if ((variables[k] ?? null) === null) variables[k] = v;
      }
      const deps = this.executorDeps(http);
      const snapshot = await advance(startExecution(flow, { variables, executionId, deadlineMs: Math.max(1, deadlineAt - clock.now()) }, deps), deps, { flows: [flow] });
      return await this.finish(snapshot, { flow, sessionKey, deadlineAt, deps, ...(plan.idempotency ? { idempotency: plan.idempotency } : {}) });
    } catch (err) {
      if (progress.backendCalled && !(err instanceof StoreUnavailableError)) await this.recordEngineFailure(flow, executionId, startedAt, deadlineAt, plan.idempotency);
      throw err;
    }
  }

  /**
   * The one end of a synchronous run (straight through, or to its first wait): a suspended
   * execution's snapshot is stored whole for whoever resumes it; an ended one's session is saved
   * and its record written (shrunk to fit, {@link fitRecord}), by the deadline. A record that cannot
   * be stored in time goes to the log whole (`record_write_failed`, redacted) and is counted, and
   * the caller still gets its answer; a wait that cannot be stored is 503 (nothing could resume it).
   * @throws StoreUnavailableError when a WAITING snapshot cannot be stored
   */
  private async finish(snapshot: ExecutionSnapshot, end: { flow: Flow; sessionKey: string | undefined; deadlineAt: number; deps: ExecutorDeps; idempotency?: { scope: string; key: string } }): Promise<ExecutionResult> {
    const { state, clock } = this.props;
    // The answer must still reach the caller by its deadline; a run that ended at its deadline still gets a short write.
    const writeBy = Math.max(end.deadlineAt - ANSWER_MARGIN_MS, clock.now() + MIN_CALL_MS);
    try {
      snapshot = await this.storeWaits(snapshot, end.deps, (s) => this.bounded(state.saveSnapshot(s, this.executionTtlSeconds, end.idempotency), writeBy, 'storing the waiting execution'));
    } catch (err) {
      this.report({ type: 'record_write_failed', record: resultOf(snapshot, clock.now()), error: err });
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError('the waiting execution could not be stored', { cause: err });
    }
    if (snapshot.status === 'WAITING') return resultOf(snapshot, clock.now());
    const record = fitRecord(resultOf(snapshot, clock.now()));
    await this.bounded(this.saveSession(end.flow, end.sessionKey, rootVariables(snapshot)), writeBy, 'saving the session').catch((err: unknown) => this.report({ type: 'session_unavailable', flowId: end.flow.id, error: err }));
    await this.bounded(state.putExecution(record, this.executionTtlSeconds, end.idempotency), writeBy, 'writing the execution record', () => undefined).catch((err: unknown) =>
      this.report({ type: 'record_write_failed', record, error: err }),
    );
    return record;
  }

  private executorDeps(http: HttpClient): ExecutorDeps {
    return {
      clock: this.props.clock,
      randomness: this.props.randomness,
      http,
      resolveFlow: (id, version) => this.props.flows.getFlow(id, version),
      ...(this.props.circuits ? { circuits: this.props.circuits } : {}),
      ...(this.props.services ? { services: this.props.services } : {}),
    };
  }

  /**
   * Stores a suspended execution with `save`; when its callback came before it suspended (the
   * store returns the payload instead), resumes it with that payload at once, and again for each
   * next wait. @returns the snapshot, stored if WAITING; an ended one is not stored yet
   */
  private async storeWaits(snapshot: ExecutionSnapshot, deps: ExecutorDeps, save: (snapshot: ExecutionSnapshot) => Promise<SaveOutcome>): Promise<ExecutionSnapshot> {
    while (snapshot.status === 'WAITING' && snapshot.wait) {
      const { earlyCallback } = await save(snapshot);
      if (!earlyCallback) break;
      snapshot = await resume(snapshot, { waitId: snapshot.wait.waitId, payload: earlyCallback.payload }, deps);
    }
    return snapshot;
  }

  /** Reports a store failure the caller did not see (logs and metrics; never throws). */
  private report(event: StoreFailureEvent): void {
    try {
      (this.props.onStoreFailure ?? reportStoreFailure)(event);
    } catch {
      // A faulty listener must not change an answer.
    }
  }

  /**
   * Continues a WAITING execution with what its step waited for, or its timeout: claims it (one
   * conditional write, so of racing resumers exactly one continues; a payload only before the
   * wait's deadline, a timeout only from it on), resumes it, and stores the outcome (conditionally
   * on the revision it claimed).
   * @returns `resumed: true` and the execution's answer for the one that continued; `resumed:
   *   false` for the others, with the status the winner left (undefined when there is no such
   *   execution), by what the wait was settled when it was, and `waitUntil` when it still waits
   */
  async continueWait(executionId: string, event: WaitEvent): Promise<{ resumed: true; result: ExecutionResult } | ({ resumed: false } & Omit<Extract<WaitClaim, { claimed: false }>, 'claimed'>)> {
    const { state, clock } = this.props;
    const by = 'timedOut' in event ? 'timeout' : 'payload';
    const claim = await state.claimWait(executionId, event.waitId, by);
    if (!claim.claimed) {
      const { claimed: _claimed, ...rest } = claim;
      return { resumed: false, ...rest };
    }
    const claimedRev = claim.snapshot.rev;
    try {
      const deps = this.executorDeps(this.props.http);
      const snapshot = await this.storeWaits(await resume(claim.snapshot, event, deps), deps, (s) => state.saveSnapshot(s, this.executionTtlSeconds));
      if (snapshot.status !== 'WAITING') {
        await state.saveSnapshot(snapshot, this.executionTtlSeconds);
        await this.saveSessionAfterWait(snapshot);
      }
      return { resumed: true, result: resultOf(snapshot, clock.now()) };
    } catch (err) {
      // Never left RUNNING: the claimed execution ends FAILED (unless another worker changed it), and the fault goes on.
      // The stored snapshot is the claimed one (a claim changes only item attributes), so the failure path reads it rather than every resume copying it.
      if (!(err instanceof VersionConflictError)) {
        await state
          .getSnapshot(executionId)
          .then((stored) => stored && this.failClaimed({ ...stored, rev: claimedRev }, by, 'the execution stopped on an internal error while continuing after a wait; see the logs'))
          .catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Ends a claimed execution FAILED (`ENGINE_ERROR`), conditionally on the revision it was claimed
   * at; its wait is recorded as settled, so a repeated callback is acknowledged, not run.
   * @throws VersionConflictError when another worker changed it first
   */
  private async failClaimed(snapshot: ExecutionSnapshot, by: Settled['by'], message: string): Promise<void> {
    const root = snapshot.frames[0]!;
    const wait = snapshot.wait;
    const now = this.props.clock.now();
    const failed: ExecutionSnapshot = {
      ...snapshot,
      status: 'FAILED',
      ...(wait ? { settled: { ...snapshot.settled, [wait.waitId]: { by, ...(wait.callback?.connection ? { connection: wait.callback.connection } : {}) } } } : {}),
      result: resultOf({ ...snapshot, status: 'FAILED' }, now),
    };
    failed.result = { ...failed.result!, branch: 'EngineError', error: { code: 'ENGINE_ERROR', message }, durationMs: now - root.startedAt };
    delete failed.wait;
    await this.props.state.saveSnapshot(failed, this.executionTtlSeconds);
  }

  /** Saves the flow's re-dial session variables (when it has a session and a key) from an ended execution's `variables` (credentials redacted). */
  private async saveSession(flow: Flow, sessionKey: string | undefined, variables: Readonly<Record<string, unknown>>): Promise<void> {
    if (!flow.session || !sessionKey) return;
    const saved: Record<string, unknown> = {};
    for (const name of flow.session.variables) if (Object.hasOwn(variables, name)) saved[name] = variables[name];
    await this.props.state.putSession(flow.id, sessionKey, saved, this.props.clock.now() + flow.session.ttlSeconds * 1000);
  }

  /** {@link saveSession} for an execution that ended after a wait. */
  private async saveSessionAfterWait(snapshot: ExecutionSnapshot): Promise<void> {
    const root = snapshot.frames[0];
    const flow = root && (await this.props.flows.getFlow(root.flowId, root.version ?? undefined));
    if (!flow?.session) return;
    const variables = rootVariables(snapshot);
    await this.saveSession(flow, sessionKeyOf(flow, variables), variables);
  }

  /**
   * Sends a WAITING execution whose wait's deadline has passed down its timeout branch, unless
   * another resumer got there first. @returns the answer when this call continued it
   */
  private async timeOut(executionId: string): Promise<ExecutionResult | undefined> {
    const wait = (await this.props.state.getSnapshot(executionId))?.wait;
    if (!wait) return undefined;
    const outcome = await this.continueWait(executionId, { waitId: wait.waitId, timedOut: true });
    return outcome.resumed ? outcome.result : undefined;
  }

  /**
   * The wait-sweeper's run, earliest first, at most `limit` executions and none started after
   * `budgetMs` (ms from now; what the function's time allows): every execution still WAITING past its wait's
   * deadline takes its timeout branch (the flow continues from there); every claim whose resumer
   * died (its lease expired) ends FAILED (`ENGINE_ERROR`). A timeout whose continuation fails ends
   * FAILED as well ({@link continueWait}); the failures are returned for the caller to log.
   * @returns how many were due, timed out and abandoned, and the failures (execution id and message)
   */
  async sweepWaits(limit = 100, budgetMs = Infinity): Promise<SweepSummary> {
    const { clock, state } = this.props;
    const stopAt = clock.now() + budgetMs;
    const due = await state.listDueWaits(clock.now(), limit);
    const summary: SweepSummary = { due: due.length, timedOut: 0, abandoned: 0, failed: [] };
    for (const wait of due) {
      if (clock.now() >= stopAt) break;
      try {
        const outcome = await this.continueWait(wait.executionId, { waitId: wait.waitId, timedOut: true });
        if (outcome.resumed) summary.timedOut++;
        else if (outcome.status === 'RUNNING' && outcome.claimedAt !== undefined && outcome.settledBy !== undefined) {
          // Claimed and not saved since: wait out the claim's lease, then its resumer is deemed dead.
          if (outcome.claimedAt + CLAIM_LEASE_MS > clock.now()) continue;
          const snapshot = await state.getSnapshot(wait.executionId);
          if (snapshot) {
            await this.failClaimed({ ...snapshot, rev: outcome.rev! }, outcome.settledBy, 'the execution was abandoned while continuing after a wait (its worker stopped, e.g. a function timeout)');
            summary.abandoned++;
          }
        }
        await state.forgetDueWait(wait.key);
      } catch (err) {
        if (err instanceof VersionConflictError) continue;
        summary.failed.push({ executionId: wait.executionId, message: (err as Error).message });
      }
    }
    return summary;
  }

  /**
   * A FAILED record (`ENGINE_ERROR`) for an execution an engine fault stopped after its side
   * effects ran, completing its idempotency key: tried again while the deadline allows, else logged
   * whole (`record_write_failed`).
   */
  private async recordEngineFailure(flow: Flow, executionId: string, startedAt: number, deadlineAt: number, idempotency?: { scope: string; key: string }): Promise<void> {
    const { clock, state } = this.props;
    const result: ExecutionResult = {
      executionId,
      flowId: flow.id,
      flowVersion: flow.version ?? 0,
      status: 'FAILED',
      branch: 'EngineError',
      variables: {},
      trace: [],
      error: { code: 'ENGINE_ERROR', message: 'the execution stopped on an internal error after calling a backend; see the logs' },
      startedAt: new Date(startedAt).toISOString(),
      durationMs: clock.now() - startedAt,
    };
    let error: unknown;
    for (let attempt = 0; attempt < 2 && (attempt === 0 || clock.now() + MIN_CALL_MS <= deadlineAt); attempt++) {
      try {
        await this.bounded(state.putExecution(result, this.executionTtlSeconds, idempotency), Math.max(deadlineAt - ANSWER_MARGIN_MS, clock.now() + MIN_CALL_MS), 'writing the failure record');
        return;
      } catch (err) {
        error = err;
      }
    }
    this.report({ type: 'record_write_failed', record: result, error });
  }

  /**
   * The execution's record, or its current view while it waits or runs. A WAITING execution whose
   * wait's deadline has passed takes its timeout branch first (the poll is one of the two ways a
   * deadline is enforced; the wait-sweeper is the other). With `waitMs`, a long poll: answers as
   * soon as the execution is neither WAITING nor RUNNING, or when `waitMs` has passed (re-reading
   * with a backoff from 50 ms up to 500 ms).
   * @param waitMs how long to wait for the execution to move on, ms (0: answer at once)
   * @throws NotFoundError (404)
   */
  async get(executionId: string, waitMs = 0): Promise<ExecutionResult> {
    const { clock, state } = this.props;
    const giveUpAt = clock.now() + waitMs;
    let timeoutTried: string | undefined;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      const result = await state.getExecution(executionId);
      if (!result) throw new NotFoundError(`execution '${executionId}' does not exist`);
      const waitUntil = result.waitUntil === undefined ? Infinity : Date.parse(result.waitUntil);
      // Once per wait: if another resumer won, the next read shows what it did.
      if (result.status === 'WAITING' && waitUntil <= clock.now() && timeoutTried !== result.waitUntil) {
        timeoutTried = result.waitUntil;
        const continued = await this.timeOut(executionId);
        if (continued && continued.status !== 'WAITING') return continued;
        continue;
      }
      const now = clock.now();
      if ((result.status !== 'WAITING' && result.status !== 'RUNNING') || now >= giveUpAt) return result;
      await clock.sleep(Math.max(1, Math.min(delay, giveUpAt - now, waitUntil > now ? waitUntil - now : delay)));
    }
  }
}
