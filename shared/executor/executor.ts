/**
 * The flow executor (docs/architecture.md, "Executing a flow" and "Durable executions"): an
 * execution is a plain-JSON {@link ExecutionSnapshot}, and {@link advance} moves it forward until
 * it ends, its deadline comes, or a step suspends; {@link resume} hands a suspended step what it
 * waited for (or its timeout) and advances again. A sub-flow call pushes a frame on the snapshot's
 * stack; its end pops it and the calling step finishes with the child's result. Time and
 * randomness come from `deps`, so advancing is deterministic for a given clock, randomness and
 * backend: running straight through, or storing and resuming the snapshot at every step boundary,
 * gives the same result.
 *
 * Transitions: a step's outcome branch (e.g. OnServerError) is looked up in `branches`; a failed
 * step with no branch of its own falls back to `OnError`; then `Default` (`branches.Default` or
 * `next`). No transition ends the flow: SUCCEEDED unless the last step failed. An `End` step ends
 * it with its own status and outcome. Outbound calls end by the frame's deadline less the flow's
 * finish reserve, so a failure's fallback still runs in time; when a frame's deadline passes with
 * steps left it stops TIMED_OUT at once (branch `""`, `error.code` DEADLINE_EXCEEDED).
 *
 * Budgets (`shared/budgets.ts`): steps are counted across all frames against the root flow's
 * `maxSteps`; every variable a step sets must fit the 64 KiB value budget and a frame's variables
 * together 256 KiB. A budget that runs out ends the whole execution FAILED with `error.code`
 * `BUDGET_EXCEEDED` (branch `BudgetExceeded`), wherever in the sub-flows it ran out.
 *
 * Outputs: the declared `outputs`, else every variable a step of the flow set (never the caller's
 * input echoed back, never the engine's own `flow_execution_id`/`flow_id`). Credentials the steps
 * sent are redacted (`***`) from the outputs, the trace and the error.
 */
import type { Clock, Randomness } from '../clock';
import { MAX_SUBFLOW_DEPTH, MIN_CALL_MS } from '../budgets';
import { BudgetExceededError, ConflictError, isFlowFailure } from '../errors';
import type { FunctionContext } from '../expressions/functions';
import { renderText } from '../expressions/template';
import { finishReserveOf, type Flow, type Step } from '../flow/schema';
import { failureTypeOf, stepFailure } from '../flow/failures';
import { acceptInputs, inputProblemsMessage } from '../flow/inputs';
import type { HttpClient } from '../http/client';
import { withLogKeys, type LogKeys } from '../log-context';
import type { CircuitBreaker } from '../resilience/circuit-breaker';
import { circuitsService, clockService, httpService, ServiceContainer } from '../services';
import { getStepDefinition } from '../steps/registry';
import type { ExecutionResult, ExecutionStatus, ResumeEvent, StepContext, StepOutcome, StepResult, SubFlowCall, TraceEntry } from '../steps/types';
import { budgetError, newFrame, nullProto, setVariables } from './frames';
import { SecretRedactor } from './redact';
import { contactIdIn, resultOf, SNAPSHOT_VERSION, type ExecutionSnapshot, type Frame } from './snapshot';

export { resultOf };

export { MAX_SUBFLOW_DEPTH };

/** Resolves flows by id and optional version (latest when absent); undefined when missing. */
export type FlowResolver = (flowId: string, version?: number) => Promise<Flow | undefined>;

/** What the executor runs with: time, randomness, how flows are resolved, outbound HTTP, and optionally the shared circuit breaker and the function's services. */
export interface ExecutorDeps {
  clock: Clock;
  randomness: Randomness;
  resolveFlow: FlowResolver;
  /** Outbound HTTP for this execution (provided to its steps as the `http` service). */
  http: HttpClient;
  /** The shared circuit breaker. @default the `circuits` service of `services` (a process-memory breaker unless provided) */
  circuits?: CircuitBreaker;
  /** The function's services; each execution gets a container of its own over it. @default none */
  services?: ServiceContainer;
  /**
   * Told before each step runs (or resumes): the step's path, `<callingStepId>/<stepId>` through
   * sub-flows and workflows (e.g. `subflow-integration/http-customer-lookup`). Must not throw.
   * Flow tests answer HTTP by it. @default none
   */
  onStep?: (stepPath: string) => void;
}

/** What starts an execution: the caller's variables, an optional execution id and the caller's deadline (ms). */
export interface ExecutionRequest {
  variables?: Record<string, unknown>;
  /** Default: a random id. */
  executionId?: string;
  /** The caller's budget, ms; the run uses min(this, flow.deadlineMs). */
  deadlineMs?: number;
}

/** Options of {@link advance}. */
export interface AdvanceOptions {
  /** Stop after this many steps (the snapshot stays RUNNING): a step boundary to store at. @default no limit */
  stepLimit?: number;
  /** Flows already at hand (e.g. the root flow), looked up before `deps.resolveFlow`. */
  flows?: readonly Flow[];
}

/** A resume of a suspended execution: the payload its step waited for, or its timeout. */
export type WaitEvent = { waitId: string; payload: unknown } | { waitId: string; timedOut: true };

/** `resume` was given a snapshot that is not waiting for this wait id. */
export class NotWaitingError extends ConflictError {
  constructor(message: string) {
    super('NOT_WAITING', message);
    this.name = 'NotWaitingError';
  }
}

/**
 * A snapshot of a new execution of `flow`, ready for {@link advance}. Never throws for caller
 * input: variables past a budget make an execution that has already ended FAILED.
 */
export function startExecution(flow: Flow, request: ExecutionRequest, deps: Pick<ExecutorDeps, 'clock' | 'randomness'>): ExecutionSnapshot {
  const now = deps.clock.now();
  const executionId = request.executionId ?? deps.randomness.id();
  const deadlineAt = now + Math.min(flow.deadlineMs, request.deadlineMs ?? flow.deadlineMs);
  const snapshot: ExecutionSnapshot = {
    snapshotVersion: SNAPSHOT_VERSION,
    executionId,
    status: 'RUNNING',
    frames: [],
    counters: { steps: 0, stepsLimit: flow.maxSteps },
    secrets: [],
    rev: 0,
  };
  try {
    snapshot.frames.push(newFrame(flow, request.variables ?? {}, executionId, deadlineAt, now));
  } catch (err) {
    if (!(err instanceof BudgetExceededError)) throw err;
    // The root frame without the caller's input, so that the answer can be built.
    const frame = newFrame(flow, {}, executionId, deadlineAt, now);
    snapshot.frames.push(frame);
    snapshot.status = 'FAILED';
    snapshot.result = { executionId, flowId: flow.id, flowVersion: flow.version ?? 0, status: 'FAILED', branch: 'BudgetExceeded', variables: {}, trace: [], error: budgetError(err), startedAt: new Date(now).toISOString(), durationMs: 0 };
  }
  return snapshot;
}

/** Picks the transition for an outcome; returns the branch key used and the target. */
function transition(step: Step, outcome: StepOutcome): { taken: string; target: string } | undefined {
  if (outcome.nextStepId) return { taken: outcome.branch, target: outcome.nextStepId };
  const branches = step.branches;
  if (branches) {
    const own = branches[outcome.branch];
    if (own) return { taken: outcome.branch, target: own };
    const onError = outcome.status === 'FAILED' ? branches['OnError'] : undefined;
    if (onError) return { taken: 'OnError', target: onError };
  }
  const fallback = branches?.['Default'] ?? step.next;
  return fallback ? { taken: 'Default', target: fallback } : undefined;
}

/** A value or a promise of it: the executor's steps finish synchronously when they do no I/O (most steps), without a promise. */
type MaybePromise<T> = T | Promise<T>;

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/** One advance or resume call: the snapshot, the deps and the flows looked up so far. */
class Run {
  readonly secrets = new SecretRedactor();
  readonly services: ServiceContainer;
  /** The flows this run has (a handful at most: the root and its sub-flows), the last one found first. */
  private readonly flows: Flow[];
  private lastFlow: Flow | undefined;
  /** Each frame's step context: the same for every step of a frame within one run. */
  private readonly contexts = new Map<Frame, StepContext>();

  constructor(
    readonly snapshot: ExecutionSnapshot,
    readonly deps: ExecutorDeps,
    known: readonly Flow[],
  ) {
    this.flows = [...known];
    for (const value of snapshot.secrets) this.secrets.add(value);
    this.services = new ServiceContainer(deps.services).provide(clockService, deps.clock).provide(httpService, deps.http);
    if (deps.circuits) this.services.provide(circuitsService, deps.circuits);
    for (const frame of snapshot.frames) if (Object.getPrototypeOf(frame.variables) !== null) frame.variables = nullProto(frame.variables);
  }

  /** A flow this run already has, without waiting (most steps are in the flow of the step before). */
  known(flowId: string, version: number | null | undefined): Flow | undefined {
    const wanted = version ?? null;
    const last = this.lastFlow;
    if (last && last.id === flowId && (last.version ?? null) === wanted) return last;
    const hit = this.flows.find((f) => f.id === flowId && (f.version ?? null) === wanted);
    if (hit) this.lastFlow = hit;
    return hit;
  }

  /** The flow of a frame (or a sub-flow to call). */
  async flow(flowId: string, version: number | null | undefined): Promise<Flow | undefined> {
    const hit = this.known(flowId, version);
    if (hit) return hit;
    const flow = await this.deps.resolveFlow(flowId, version ?? undefined);
    if (flow) this.flows.push(flow);
    return flow;
  }

  /** The path of the top frame's current step: `<stepId>`, or `<callingStepId>/<stepId>` inside a sub-flow. */
  stepPath(): string {
    const { frames } = this.snapshot;
    return frames.length === 1 ? frames[0]!.stepId : frames.map((f) => f.stepId).join('/');
  }

  /** The keys of a log line written while this run advances: {@link logKeys} when the line is written. */
  readonly logKeySource = (): LogKeys => this.logKeys();

  /** What a log line written now carries: the execution (its root flow and contact) and the path of the step running. */
  logKeys(): LogKeys {
    const root = this.snapshot.frames[0]!;
    const contactId = contactIdIn(root.variables);
    const stepId = this.stepPath();
    return contactId !== undefined
      ? { executionId: this.snapshot.executionId, flowId: root.flowId, flowVersion: root.version ?? 0, contactId, stepId }
      : { executionId: this.snapshot.executionId, flowId: root.flowId, flowVersion: root.version ?? 0, stepId };
  }

  get top(): Frame {
    return this.snapshot.frames[this.snapshot.frames.length - 1]!;
  }

  /** The context of the top frame's current step (`frame`, of `flow`), about to run or resume. */
  context(frame: Frame, flow: Flow): StepContext {
    this.deps.onStep?.(this.stepPath());
    let ctx = this.contexts.get(frame);
    if (!ctx) this.contexts.set(frame, (ctx = this.newContext(frame, flow)));
    return ctx;
  }

  private newContext(frame: Frame, flow: Flow): StepContext {
    const { deps } = this;
    const functions: FunctionContext = { now: () => deps.clock.now() };
    return {
      executionId: frame.executionId,
      rootExecutionId: this.snapshot.executionId,
      flowId: frame.flowId,
      variables: frame.variables,
      deadlineAt: frame.deadlineAt,
      callDeadlineAt: frame.deadlineAt - finishReserveOf(flow),
      clock: deps.clock,
      randomness: deps.randomness,
      services: this.services,
      functions,
      allowedHosts: flow.allowedHosts,
      secretVariables: flow.secrets,
      markSecret: (value) => {
        if (value === '' || this.snapshot.secrets.includes(value)) return;
        this.secrets.add(value);
        this.snapshot.secrets.push(value);
      },
      redact: (value) => this.secrets.redact(value),
    };
  }
}

/** The outputs of a frame's flow: declared `outputs`, else the variables its steps set. */
function outputsOf(frame: Frame, flow: Flow | undefined): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const name of flow?.outputs ?? frame.setByFlow) outputs[name] = Object.hasOwn(frame.variables, name) ? frame.variables[name] : null;
  return outputs;
}

/** Each flow's steps by id, built on first use (a flow object is immutable once parsed). */
const stepsById = new WeakMap<Flow, Map<string, Step>>();
function stepOf(flow: Flow, stepId: string): Step | undefined {
  let byId = stepsById.get(flow);
  if (!byId) stepsById.set(flow, (byId = new Map(flow.steps.map((s) => [s.id, s]))));
  return byId.get(stepId);
}

/** The answer of a frame that ended. */
function frameResult(run: Run, frame: Frame, flow: Flow | undefined, status: ExecutionStatus, branch: string, error: ExecutionResult['error']): ExecutionResult {
  // Built key by key (no spreads: this runs once per execution), in the order the answer prints.
  const result = { executionId: frame.executionId, flowId: frame.flowId, flowVersion: frame.version ?? 0, status, branch, variables: outputsOf(frame, flow), trace: frame.trace } as ExecutionResult;
  if (error) result.error = error;
  const contactId = contactIdIn(frame.variables);
  if (contactId !== undefined) result.contactId = contactId;
  result.startedAt = new Date(frame.startedAt).toISOString();
  result.durationMs = run.deps.clock.now() - frame.startedAt;
  return result;
}

/**
 * Ends the top frame. The root's end ends the execution; a sub-flow's end pops it and finishes
 * the parent's calling step with the child's result (which may end the parent, and so on).
 */
function endFrame(run: Run, status: ExecutionStatus, branch: string, error?: ExecutionResult['error'], flow?: Flow): Promise<void> | undefined {
  const { snapshot } = run;
  const result = frameResult(run, run.top, flow, status, branch, error);
  if (snapshot.frames.length === 1) {
    snapshot.status = status;
    snapshot.result = run.secrets.redact(result);
    delete snapshot.wait;
    return undefined;
  }
  snapshot.frames.pop();
  return finishCall(run, result);
}

/**
 * Ends the whole execution on a budget, wherever it ran out: the frames above the root are
 * dropped, and the root's pending or current step is recorded as the one that failed.
 */
async function endOnBudget(run: Run, err: BudgetExceededError, startedAt: number): Promise<void> {
  const { snapshot } = run;
  snapshot.frames.length = 1;
  const root = run.top;
  const flow = await run.flow(root.flowId, root.version);
  const type = flow?.steps.find((s) => s.id === root.stepId)?.type ?? 'unknown';
  const began = root.pending?.startedAt ?? startedAt;
  root.trace.push({ stepId: root.stepId, type, branch: 'BudgetExceeded', status: 'FAILED', durationMs: run.deps.clock.now() - began, error: stepFailure('budget', err.message) });
  await endFrame(run, 'FAILED', 'BudgetExceeded', budgetError(err), flow);
}

/** A step's failure as its outcome when it is the flow's fault (e.g. an expression that fails at run time); anything else is an engine fault and is rethrown. */
function flowFailureOutcome(err: unknown): StepResult {
  // Expressions that fail at run time (e.g. reading `__proto__` through a computed key) are the flow's fault, not the engine's.
  if (isFlowFailure(err)) return { branch: 'OnError', status: 'FAILED', trace: { error: stepFailure(failureTypeOf(err), err.message) } };
  throw err;
}

/** Runs (or resumes) one step; a promise only when the step returned one (it did I/O). */
function runStep(step: Step, ctx: StepContext, event?: ResumeEvent): MaybePromise<StepResult> {
  const definition = getStepDefinition(step.type);
  if (!definition) return { branch: 'OnError', status: 'FAILED', trace: { error: stepFailure('invalid_request', `unknown step type ${step.type}`) } };
  let result: MaybePromise<StepResult>;
  try {
    if (!event) result = definition.execute(step, ctx);
    else if (!definition.resume) throw new Error(`step type ${step.type} cannot be resumed`);
    else result = definition.resume(step, event, ctx);
  } catch (err) {
    return flowFailureOutcome(err);
  }
  return isPromise(result) ? result.catch(flowFailureOutcome) : result;
}

/**
 * Applies a finished step's outcome to the top frame: variables, trace, transition, and the
 * frame's end when there is nothing more to run. A promise only when ending the frame has to wait
 * (most steps just move on).
 * @throws BudgetExceededError when a variable it sets passes a budget
 */
function complete(run: Run, flow: Flow, step: Step, outcome: StepOutcome, startedAt: number): Promise<void> | undefined {
  const frame = run.top;
  delete frame.pending;
  if (outcome.variables) setVariables(frame, outcome.variables, true);
  const now = run.deps.clock.now();
  const next = outcome.end ? undefined : transition(step, outcome);
  frame.branch = outcome.branch;
  const entry: TraceEntry = { stepId: step.id, type: step.type, branch: next?.taken ?? outcome.branch, status: outcome.status, durationMs: now - startedAt };
  if (next) entry.nextStepId = next.target;
  if (outcome.trace) Object.assign(entry, outcome.trace);
  frame.trace.push(entry);
  if (outcome.end) return endFrame(run, outcome.end.status, outcome.end.outcome, undefined, flow);
  // Out of time with more to do (or on a failure the deadline likely caused): stop now.
  if (now >= frame.deadlineAt && (next || outcome.status === 'FAILED')) return timedOut(run, flow, `the run's deadline passed at step '${step.id}'`);
  if (!next) return endFrame(run, outcome.status === 'FAILED' ? 'FAILED' : 'SUCCEEDED', outcome.branch, undefined, flow);
  frame.stepId = next.target;
  return undefined;
}

/**
 * Ends the top frame TIMED_OUT: its deadline passed with no branch left to take. The branch is
 * `""` (never a failure branch such as OnTimeout: no step took one) and `error.code`
 * `DEADLINE_EXCEEDED` (docs/architecture.md, "The deadline is the caller's").
 */
function timedOut(run: Run, flow: Flow | undefined, message: string): Promise<void> | undefined {
  return endFrame(run, 'TIMED_OUT', '', { code: 'DEADLINE_EXCEEDED', message }, flow);
}

/** Acts on what a step returned: a call pushes a frame, a suspension makes the execution WAITING, an outcome completes the step. */
function settle(run: Run, flow: Flow, step: Step, result: StepResult, startedAt: number): Promise<void> | undefined {
  const { snapshot } = run;
  const frame = run.top;
  if ('call' in result) {
    frame.pending = { kind: 'call', startedAt };
    return call(run, result.call, flow);
  }
  if ('suspend' in result) {
    frame.pending = { kind: 'wait', startedAt };
    const now = run.deps.clock.now();
    snapshot.status = 'WAITING';
    const { waitId, until, onTimeout, callback, state } = result.suspend;
    snapshot.wait = { waitId, until, onTimeout, remainingMs: snapshot.frames.map((f) => Math.max(0, f.deadlineAt - now)), ...(callback ? { callback } : {}), ...(state ? { state } : {}) };
    return undefined;
  }
  return complete(run, flow, step, result, startedAt);
}

/**
 * Runs (or resumes, with `event`) the top frame's current step inside its log keys and acts on
 * its result; a budget that runs out on the way ends the execution. A promise only when the step
 * or what follows it does I/O.
 */
function runAndSettle(run: Run, frame: Frame, flow: Flow, step: Step, startedAt: number, event?: ResumeEvent): Promise<void> | undefined {
  const onBudget = (err: unknown): Promise<void> | undefined => {
    if (!(err instanceof BudgetExceededError)) throw err;
    return endOnBudget(run, err, startedAt);
  };
  try {
    const result = runStep(step, run.context(frame, flow), event);
    const settled = isPromise(result) ? result.then((r) => settle(run, flow, step, r, startedAt)) : settle(run, flow, step, result, startedAt);
    return settled?.catch(onBudget);
  } catch (err) {
    return onBudget(err);
  }
}

/** Finishes the step of the top frame that called a sub-flow, with the child's result. */
async function finishCall(run: Run, child: ExecutionResult): Promise<void> {
  const frame = run.top;
  const flow = (await run.flow(frame.flowId, frame.version))!;
  const step = stepOf(flow, frame.stepId)!;
  const outcome = await runStep(step, run.context(frame, flow), { kind: 'child', result: child });
  await settle(run, flow, step, outcome, frame.pending?.startedAt ?? run.deps.clock.now());
}

/** Runs the top frame's next step; pushes a frame for a call, suspends for a wait. A promise only when it has to wait (I/O, or a flow to look up). */
function step(run: Run): Promise<void> | undefined {
  const frame = run.top;
  const flow = run.known(frame.flowId, frame.version);
  return flow ? stepIn(run, frame, flow) : run.flow(frame.flowId, frame.version).then((found) => stepIn(run, frame, found));
}

function stepIn(run: Run, frame: Frame, flow: Flow | undefined): Promise<void> | undefined {
  const { snapshot, deps } = run;
  if (!flow) throw new Error(`flow '${frame.flowId}' version ${frame.version ?? 'latest'} of a running execution is gone`);
  const step = stepOf(flow, frame.stepId);
  if (!step) throw new Error(`step '${frame.stepId}' of flow '${flow.id}' is gone`);
  const now = deps.clock.now();
  if (now >= frame.deadlineAt) return timedOut(run, flow, `the run's deadline passed before step '${step.id}'`);
  if (++frame.executed > flow.maxSteps) {
    return endFrame(run, 'FAILED', 'MaxStepsExceeded', { code: 'MAX_STEPS_EXCEEDED', message: `the run executed ${flow.maxSteps} steps (maxSteps) without ending` }, flow);
  }
  if (++snapshot.counters.steps > snapshot.counters.stepsLimit) {
    const err = new BudgetExceededError('steps', snapshot.counters.stepsLimit, `the execution ran ${snapshot.counters.stepsLimit} steps across its sub-flows (maxSteps of '${snapshot.frames[0]!.flowId}') without ending`);
    return endOnBudget(run, err, now);
  }
  return runAndSettle(run, frame, flow, step, now);
}

/**
 * Pushes the frame of a sub-flow call, or finishes the calling step at once when it cannot run.
 * The child ends by the parent's call deadline (its deadline less its finish reserve), its own
 * `deadlineMs` and the call's limit, whichever comes first, so the parent keeps its reserve for
 * its fallback branch; with less than 50 ms left it does not start (TIMED_OUT).
 */
async function call(run: Run, request: SubFlowCall, parentFlow: Flow): Promise<void> {
  const parent = run.top;
  const depth = run.snapshot.frames.length;
  const child = depth > MAX_SUBFLOW_DEPTH ? undefined : await run.flow(request.flowId, request.version);
  const now = run.deps.clock.now();
  const callDeadlineAt = parent.deadlineAt - finishReserveOf(parentFlow);
  const unavailable = (status: 'FAILED' | 'TIMED_OUT', error: NonNullable<ExecutionResult['error']>): ExecutionResult => ({
    executionId: parent.executionId,
    flowId: request.flowId,
    flowVersion: request.version ?? 0,
    status,
    branch: status === 'FAILED' ? 'OnError' : '',
    variables: {},
    trace: [],
    error,
    startedAt: new Date(now).toISOString(),
    durationMs: 0,
  });
  if (!child) {
    const message = depth > MAX_SUBFLOW_DEPTH ? `sub-flows nest deeper than ${MAX_SUBFLOW_DEPTH}` : `flow '${request.flowId}'${request.version ? ` version ${request.version}` : ''} does not exist`;
    await finishCall(run, unavailable('FAILED', { code: 'SUBFLOW_UNAVAILABLE', message }));
    return;
  }
  if (callDeadlineAt - now < MIN_CALL_MS) {
    await finishCall(run, unavailable('TIMED_OUT', { code: 'DEADLINE_EXCEEDED', message: `${Math.max(0, callDeadlineAt - now)} ms were left before the run's finish reserve; flow '${child.id}' was not started` }));
    return;
  }
  const problems = acceptInputs(child, request.variables).problems;
  if (problems.length) {
    await finishCall(run, unavailable('FAILED', { code: 'INVALID_INPUT', message: inputProblemsMessage(child.id, problems) }));
    return;
  }
  const deadlineAt = Math.min(callDeadlineAt, now + child.deadlineMs, request.deadlineMs === undefined ? Infinity : now + request.deadlineMs);
  run.snapshot.frames.push(newFrame(child, request.variables, `${parent.executionId}/${child.id}`, deadlineAt, now));
}

/**
 * Moves an execution forward until it ends, its deadline comes, a step suspends it (WAITING), or
 * `options.stepLimit` steps ran (still RUNNING).
 * @param snapshot a RUNNING snapshot; advance takes it over and returns it, changed
 * @returns the snapshot; `result` is set once the execution ended
 * @throws Error for engine faults only (a flow of a running execution that is gone, a bug); what a
 *   flow, its caller or its backends do ends as a branch or a final status, never as an exception
 */
export async function advance(snapshot: ExecutionSnapshot, deps: ExecutorDeps, options: AdvanceOptions = {}): Promise<ExecutionSnapshot> {
  const run = new Run(snapshot, deps, options.flows ?? []);
  await withLogKeys(run.logKeySource, async () => {
    for (let steps = options.stepLimit ?? Infinity; snapshot.status === 'RUNNING' && steps > 0; steps--) {
      const pending = step(run);
      if (pending) await pending;
    }
  });
  return snapshot;
}

/**
 * Continues a suspended execution: its waiting step's `resume` gets the event's payload, or the
 * wait's timeout (a step takes its `onTimeout` branch then), and the execution advances again.
 * How the wait ended is kept in `snapshot.settled`. Frames' deadlines resume with the time each
 * had left when it suspended.
 * @throws NotWaitingError when the snapshot is not WAITING on `event.waitId`
 */
export async function resume(snapshot: ExecutionSnapshot, event: WaitEvent, deps: ExecutorDeps, options: AdvanceOptions = {}): Promise<ExecutionSnapshot> {
  const wait = snapshot.wait;
  if (snapshot.status !== 'WAITING' || !wait || wait.waitId !== event.waitId) {
    throw new NotWaitingError(`execution ${snapshot.executionId} is ${snapshot.status}${wait ? ` on wait ${wait.waitId}` : ''}, not waiting on ${event.waitId}`);
  }
  const now = deps.clock.now();
  snapshot.frames.forEach((frame, i) => (frame.deadlineAt = now + (wait.remainingMs[i] ?? 0)));
  snapshot.status = 'RUNNING';
  delete snapshot.wait;
  const run = new Run(snapshot, deps, options.flows ?? []);
  const frame = run.top;
  const flow = await run.flow(frame.flowId, frame.version);
  const step = flow && stepOf(flow, frame.stepId);
  if (!flow || !step) throw new Error(`the waiting step '${frame.stepId}' of flow '${frame.flowId}' is gone`);
  const startedAt = frame.pending?.startedAt ?? now;
  const timedOut = 'timedOut' in event;
  snapshot.settled = { ...snapshot.settled, [wait.waitId]: { by: timedOut ? 'timeout' : 'payload', ...(wait.callback?.connection ? { connection: wait.callback.connection } : {}) } };
  const state = wait.state ? { state: wait.state } : {};
  const resumed: ResumeEvent = timedOut ? { kind: 'timeout', waitId: wait.waitId, until: wait.until, ...state } : { kind: 'resume', waitId: event.waitId, payload: event.payload, ...state };
  await withLogKeys(run.logKeySource, () => runAndSettle(run, frame, flow, step, startedAt, resumed));
  return advance(snapshot, deps, options);
}

/**
 * Runs a flow until it ends or suspends.
 * @param flow a validated flow (see `parseFlow`)
 * @returns the result (status WAITING when a step suspended); never throws for anything a flow,
 *   its caller or its backends do (an engine bug still throws)
 */
export async function runFlow(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<ExecutionResult> {
  const snapshot = await advance(startExecution(flow, request, deps), deps, { flows: [flow] });
  return resultOf(snapshot, deps.clock.now());
}

/**
 * {@link runFlow}, also returning the snapshot and every variable of the root flow at the end (not
 * only the outputs; credentials redacted), e.g. to save a session.
 */
export async function runFlowWithVariables(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<{ result: ExecutionResult; variables: Readonly<Record<string, unknown>>; snapshot: ExecutionSnapshot }> {
  const snapshot = await advance(startExecution(flow, request, deps), deps, { flows: [flow] });
  return { result: resultOf(snapshot, deps.clock.now()), variables: rootVariables(snapshot), snapshot };
}

/** Every variable of the root flow, credentials the execution sent redacted (`***`). */
export function rootVariables(snapshot: ExecutionSnapshot): Readonly<Record<string, unknown>> {
  const secrets = new SecretRedactor();
  for (const value of snapshot.secrets) secrets.add(value);
  return secrets.redact({ ...snapshot.frames[0]!.variables });
}

/** Renders a session key template (e.g. `{{phone_number}}`) for the current variables. */
export function sessionKeyOf(flow: Flow, variables: Readonly<Record<string, unknown>>): string | undefined {
  if (!flow.session) return undefined;
  const key = renderText(flow.session.key, variables);
  return key === '' ? undefined : key;
}
