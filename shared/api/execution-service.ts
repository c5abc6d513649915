/**
 * Executions (docs/architecture.md, "Executing a flow" and "Durable executions"): run a flow
 * synchronously within its deadline, with an optional idempotency key (a repeat returns the first
 * answer and does not run the flow again) and re-dial sessions (the flow's `session` setting,
 * `shared/flow/schema.ts`). Every run ends through {@link ExecutionLifecycle.finish}; continuing
 * after a wait is {@link Continuations}, reading and long polls {@link ExecutionPolls}.
 */
import { createHash } from 'node:crypto';
import { stringify as stableStringify } from 'safe-stable-stringify';
import * as z from 'zod';
import { BadRequestError, ConflictError, NotFoundError, StoreUnavailableError, UnprocessableRequestError } from '../errors';
import { advance, sessionKeyOf, startExecution } from '../executor/executor';
import { acceptInputs, inputProblemsMessage } from '../flow/inputs';
import { finishReserveOf, type Flow } from '../flow/schema';
import type { HttpClient, HttpRequest } from '../http/client';
import type { ExecutionResult } from '../steps/types';
import type { IdempotencyRecord } from '../stores/ports';
import { Continuations, type SweepSummary } from './continuations';
import { ExecutionLifecycle, type LifecycleProps } from './execution-lifecycle';
import { ExecutionPolls } from './execution-polls';

/** The body of `POST /flows/{flowId}/executions`. */
export const ExecutionRequestBody = z.lazy(() =>
  z
    .object({
      variables: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names must be identifiers'), z.unknown()).default({}),
      contactId: z.string().min(1).max(256).optional(),
      deadlineMs: z.number().int().min(100).max(30000).optional().describe("The caller's own limit, ms"),
    })
    .strict(),
);

/** Idempotency keys: printable ASCII, 1–255 characters (IETF draft "The Idempotency-Key HTTP Header Field"). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** What the execution service is built from: the lifecycle's props and the idempotency settings. */
export interface ExecutionServiceProps extends LifecycleProps {
  /** How long an idempotency key remembers its first answer, seconds. @default 24 h */
  idempotencyTtlSeconds?: number;
  /** Interval of polling a key another request is running, ms. @default 50 */
  idempotencyPollMs?: number;
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
/** Seconds an IN_PROGRESS key's lock outlives its request's deadline; past it, a repeat is answered IDEMPOTENCY_IN_DOUBT. */
const IDEMPOTENCY_LOCK_MARGIN_SECONDS = 2;

/** Runs flows synchronously (with idempotency keys and re-dial sessions) and delegates continuing after a wait to {@link Continuations} and reading to {@link ExecutionPolls}. */
export class ExecutionService {
  private readonly idempotencyTtlSeconds: number;
  private readonly pollMs: number;
  /** Where every run ends (records, snapshots, sessions; `onEnded`). */
  readonly lifecycle: ExecutionLifecycle;
  private readonly continuations: Continuations;
  private readonly polls: ExecutionPolls;

  constructor(private readonly props: ExecutionServiceProps) {
    this.idempotencyTtlSeconds = props.idempotencyTtlSeconds ?? 24 * 3600;
    this.pollMs = props.idempotencyPollMs ?? 50;
    this.lifecycle = new ExecutionLifecycle(props);
    this.continuations = new Continuations(this.lifecycle);
    this.polls = new ExecutionPolls(props.state, props.clock, this.continuations);
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
    const flow = await this.lifecycle.bounded(this.props.flows.getFlow(flowId), startedAt + (request.deadlineMs ?? MAX_FLOW_DEADLINE_MS), `reading flow '${flowId}'`);
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
    const claim = await this.lifecycle.bounded(claiming, deadlineAt - finishReserveOf(flow), 'claiming the Idempotency-Key').catch((err: unknown) => {
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
    const details = { executionId: first.executionId };
    const inProgress = () => new ConflictError('IDEMPOTENCY_IN_PROGRESS', `the first request with this Idempotency-Key (execution ${first.executionId}) has not finished; retry later`, { details });
    for (let record: IdempotencyRecord | undefined = first; ;) {
      if (record?.status === 'COMPLETED') {
        const result = await this.lifecycle.bounded(state.getExecution(record.executionId), deadlineAt, 'reading the first answer');
        if (result) return result;
      }
      if (record?.status === 'IN_PROGRESS' && record.lockExpiresAt * 1000 <= clock.now()) {
        throw new ConflictError(
          'IDEMPOTENCY_IN_DOUBT',
          `the first request with this Idempotency-Key (execution ${first.executionId}) stopped without an answer; it may have called its backends, so it is not run again (see GET /executions/${first.executionId})`,
          { details },
        );
      }
      if (!record || clock.now() + this.pollMs >= deadlineAt) throw inProgress();
      await clock.sleep(this.pollMs);
      try {
        record = await this.lifecycle.bounded(state.getIdempotencyRecord(flowId, key), deadlineAt, 'reading the Idempotency-Key');
      } catch (err) {
        // The store answered before: a poll that does not answer by the deadline leaves the key as last read, still in progress.
        if (err instanceof StoreUnavailableError) throw inProgress();
        throw err;
      }
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
        const restored = await this.lifecycle.bounded(state.getSession(flow.id, sessionKey, clock.now()), deadlineAt - finishReserveOf(flow), 'reading the session').catch((err: unknown) => {
          this.lifecycle.report({ type: 'session_unavailable', flowId: flow.id, error: err });
          return undefined;
        });
        // Restored values fill in what this call did not send.
        for (const [k, v] of Object.entries(restored ?? {})) if ((variables[k] ?? null) === null) variables[k] = v;
      }
      const deps = this.lifecycle.executorDeps(http);
      const snapshot = await advance(startExecution(flow, { variables, executionId, deadlineMs: Math.max(1, deadlineAt - clock.now()) }, deps), deps, { flows: [flow] });
      return await this.lifecycle.finish({ kind: 'run', snapshot, flow, sessionKey, deadlineAt, deps, ...(plan.idempotency ? { idempotency: plan.idempotency } : {}) });
    } catch (err) {
      if (progress.backendCalled && !(err instanceof StoreUnavailableError))
        await this.lifecycle.finish({ kind: 'engine_failure', flow, executionId, startedAt, deadlineAt, ...(request.contactId ? { contactId: request.contactId } : {}), ...(plan.idempotency ? { idempotency: plan.idempotency } : {}) });
      throw err;
    }
  }

  /** {@link Continuations.continueWait}: a callback's payload or a timeout continues a WAITING execution. */
  continueWait(...args: Parameters<Continuations['continueWait']>): ReturnType<Continuations['continueWait']> {
    return this.continuations.continueWait(...args);
  }

  /** {@link Continuations.sweepWaits}: the wait-sweeper's run. */
  sweepWaits(limit = 100, budgetMs = Infinity): Promise<SweepSummary> {
    return this.continuations.sweepWaits(limit, budgetMs);
  }

  /** {@link ExecutionPolls.get}: the execution's record or current view, optionally a long poll. */
  get(executionId: string, waitMs = 0): Promise<ExecutionResult> {
    return this.polls.get(executionId, waitMs);
  }
}
