/**
 * Executions (docs/architecture.md, "Executing a flow" and "Durable executions"): run a flow
 * synchronously within its deadline, with an optional idempotency key (a repeat returns the first
 * answer and does not run the flow again), re-dial sessions (the flow's `session` setting,
 * `shared/flow/schema.ts`), and one write of the execution record at the end.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Clock, Randomness } from '../clock';
import { BadRequestError, ConflictError, NotFoundError, UnprocessableRequestError, VersionConflictError } from '../errors';
import { resume, resultOf, rootVariables, runFlowWithVariables, sessionKeyOf, type ExecutorDeps, type WaitEvent } from '../executor/executor';
import { fitRecord } from '../executor/record';
import type { Flow } from '../flow/schema';
import type { HttpClient, HttpRequest } from '../http/client';
import type { CircuitBreaker } from '../resilience/circuit-breaker';
import type { ServiceContainer } from '../services';
import type { FlowStore, StateStore, WaitClaim } from '../stores/ports';
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
}

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
   * Runs the latest version of `flowId` with the request body.
   * @throws UnprocessableRequestError `INVALID_BODY` for a body of the wrong shape, or
   *   `IDEMPOTENCY_KEY_REUSED` when a key comes back with another body; BadRequestError for a
   *   malformed key; NotFoundError for an unknown flow; ConflictError `IDEMPOTENCY_IN_PROGRESS` when
   *   the first request with the key is still running at the deadline.
   */
  async start(flowId: string, body: unknown, idempotencyKey?: string): Promise<ExecutionResult> {
    const parsed = ExecutionRequestBody.safeParse(body ?? {});
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => ({ code: i.code === 'unrecognized_keys' ? 'UNKNOWN_KEY' : 'INVALID_VALUE', path: i.path.join('.'), message: i.message }));
      throw new UnprocessableRequestError('INVALID_BODY', `invalid execution request: ${details[0]?.path || '(body)'}: ${details[0]?.message}`, details);
    }
    const request = parsed.data;
    const flow = await this.props.flows.getFlow(flowId);
    if (!flow) throw new NotFoundError(`flow '${flowId}' does not exist`);
    if (idempotencyKey === undefined) return this.run(flow, request);

    if (!IDEMPOTENCY_KEY.test(idempotencyKey)) throw new BadRequestError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1–255 printable ASCII characters');
    // The deadline is how long this attempt may take, not what it asks: a retry with less time left is the same request.
    const requestHash = createHash('sha256')
      .update(JSON.stringify([flowId, request.variables, request.contactId ?? null]))
      .digest('hex');
    const executionId = this.props.randomness.id();
    const deadlineMs = Math.min(flow.deadlineMs, request.deadlineMs ?? flow.deadlineMs);
    const lockExpiresAt = Math.ceil((this.props.clock.now() + deadlineMs) / 1000) + 5;
    const claim = await this.props.state.claimIdempotencyKey(flowId, idempotencyKey, { status: 'IN_PROGRESS', requestHash, executionId, lockExpiresAt }, this.idempotencyTtlSeconds);
    if (claim.claimed) {
      const progress = { backendCalled: false };
      try {
        return await this.run(flow, request, { executionId, idempotency: { scope: flowId, key: idempotencyKey }, progress });
      } catch (err) {
        // Once a backend was called, the key is never released: a retry must not repeat side effects.
        if (!progress.backendCalled) await this.props.state.releaseIdempotencyKey(flowId, idempotencyKey);
        throw err;
      }
    }
    if (claim.record.requestHash !== requestHash) {
      throw new UnprocessableRequestError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request');
    }
    return this.awaitFirst(flowId, idempotencyKey, claim.record.executionId, deadlineMs);
  }

  /** Waits for the request that holds the key to finish, then returns its result. */
  private async awaitFirst(flowId: string, key: string, executionId: string, deadlineMs: number): Promise<ExecutionResult> {
    const giveUpAt = this.props.clock.now() + deadlineMs + 1000;
    for (;;) {
      const record = await this.props.state.getIdempotencyRecord(flowId, key);
      if (record?.status === 'COMPLETED') {
        const result = await this.props.state.getExecution(record.executionId);
        if (result) return result;
      }
      if (!record || this.props.clock.now() >= giveUpAt) {
        throw new ConflictError('IDEMPOTENCY_IN_PROGRESS', `the first request with this Idempotency-Key (execution ${executionId}) has not finished; retry later`);
      }
      await this.props.clock.sleep(this.pollMs);
    }
  }

  /**
   * Runs the flow, saves the session and writes the record (shrunk to fit, see {@link fitRecord}).
   * When an engine fault stops it after a backend was called, a FAILED record (`ENGINE_ERROR`) is
   * still written, completing the idempotency key, before the fault goes on to the edge (500).
   */
  private async run(flow: Flow, request: z.infer<typeof ExecutionRequestBody>, options: { executionId?: string; idempotency?: { scope: string; key: string }; progress?: { backendCalled: boolean } } = {}): Promise<ExecutionResult> {
    const { clock, state } = this.props;
    const progress = options.progress ?? { backendCalled: false };
    const executionId = options.executionId ?? this.props.randomness.id();
    const startedAt = clock.now();
    const http: HttpClient = {
      send: (req: HttpRequest) => {
        progress.backendCalled = true;
        return this.props.http.send(req);
      },
    };
    try {
      const variables: Record<string, unknown> = { ...request.variables, ...(request.contactId ? { contact_id: request.contactId } : {}) };
      const sessionKey = sessionKeyOf(flow, variables);
      if (flow.session && sessionKey) {
        const restored = await state.getSession(flow.id, sessionKey, clock.now());
        // Restored values fill in what this call did not send.
        for (const [k, v] of Object.entries(restored ?? {})) if (!Object.hasOwn(variables, k)) variables[k] = v;
      }
      const deps = this.executorDeps(http);
      const { result, variables: finalVariables, snapshot } = await runFlowWithVariables(flow, { variables, executionId, ...(request.deadlineMs ? { deadlineMs: request.deadlineMs } : {}) }, deps);
      if (snapshot.status === 'WAITING') {
        // Suspended: the snapshot is stored whole (one conditional write) for whoever resumes it.
        await state.saveSnapshot(snapshot, this.executionTtlSeconds, options.idempotency);
        return result;
      }
      await this.saveSession(flow, sessionKey, finalVariables);
      const record = fitRecord(result);
      await state.putExecution(record, this.executionTtlSeconds, options.idempotency);
      return record;
    } catch (err) {
      if (progress.backendCalled) await this.recordEngineFailure(flow, executionId, startedAt, options.idempotency);
      throw err;
    }
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
      const snapshot = await resume(claim.snapshot, event, this.executorDeps(this.props.http));
      await state.saveSnapshot(snapshot, this.executionTtlSeconds);
      if (snapshot.status !== 'WAITING') await this.saveSessionAfterWait(snapshot);
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

  /** Best effort: a FAILED record for an execution an engine fault stopped after its side effects ran. */
  private async recordEngineFailure(flow: Flow, executionId: string, startedAt: number, idempotency?: { scope: string; key: string }): Promise<void> {
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
      durationMs: this.props.clock.now() - startedAt,
    };
    await this.props.state.putExecution(result, this.executionTtlSeconds, idempotency).catch(() => undefined);
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
