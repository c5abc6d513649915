/**
 * The flow executor (docs/architecture.md, "Executing a flow"): runs a validated flow from
 * `startStepId`, follows branches, keeps variables, enforces `maxSteps`, the deadline and the
 * budgets, and returns the execution result.
 *
 * Transitions: a step's outcome branch (e.g. OnServerError) is looked up in `branches`; a failed
 * step with no branch of its own falls back to `OnError`; then `Default` (`branches.Default` or
 * `next`). No transition ends the flow: SUCCEEDED unless the last step failed. An `End` step ends
 * it with its own status and outcome. When the deadline passes the run stops TIMED_OUT at once.
 *
 * Budgets (see `shared/budgets.ts`): steps are counted across all sub-flows against the root
 * flow's `maxSteps`; every variable a step sets must fit the 64 KiB value budget and a frame's
 * variables together 256 KiB. A budget that runs out ends the whole execution FAILED with
 * `error.code` `BUDGET_EXCEEDED` (branch `BudgetExceeded`), wherever in the sub-flows it ran out.
 *
 * Outputs: the declared `outputs`, else every variable a step of the flow set (never the caller's
 * input echoed back, never the engine's own `flow_execution_id`/`flow_id`). Credentials the steps
 * sent are redacted (`***`) from the outputs, the trace and the error.
 */
import type { Clock, Randomness } from '../clock';
import { checkValue, jsonSizeWithin, MAX_JSON_DEPTH, MAX_SUBFLOW_DEPTH, MAX_VARIABLES_BYTES } from '../budgets';
import { BudgetExceededError, isFlowFailure } from '../errors';
import type { FunctionContext } from '../expressions/functions';
import { renderText } from '../expressions/template';
import type { Flow, Step } from '../flow/schema';
import type { HttpClient } from '../http/client';
import { CircuitBreaker } from '../resilience/circuit-breaker';
import { MemoryCircuitStore } from '../resilience/memory-circuit-store';
import { getStepDefinition } from '../steps/registry';
import type { ExecutionResult, ExecutionStatus, StepContext, StepOutcome, TraceEntry } from '../steps/types';
import { SecretRedactor } from './redact';

export { MAX_SUBFLOW_DEPTH };

/** Resolves sub-flows by id and optional version (latest when absent); undefined when missing. */
export type FlowResolver = (flowId: string, version?: number) => Promise<Flow | undefined>;

export interface ExecutorDeps {
  clock: Clock;
  randomness: Randomness;
  http: HttpClient;
  resolveFlow: FlowResolver;
  /** The shared circuit breaker. @default one over this process's memory (CLI runs, flow tests) */
  circuits?: CircuitBreaker;
}

/** Circuits of in-process runs (no DynamoDB): shared by every run in this process. */
const processCircuits = new MemoryCircuitStore();

export interface ExecutionRequest {
  variables?: Record<string, unknown>;
  /** Default: a random id. */
  executionId?: string;
  /** The caller's budget, ms; the run uses min(this, flow.deadlineMs). */
  deadlineMs?: number;
}

/** What every frame of one execution shares: the step count across sub-flows and the credentials sent. */
interface ExecutionScope {
  deps: ExecutorDeps & { circuits: CircuitBreaker };
  executionId: string;
  /** Steps run so far across all frames, and the limit (the root flow's `maxSteps`). */
  steps: { count: number; limit: number; rootFlowId: string };
  secrets: SecretRedactor;
}

/** One running flow: its variables and their sizes (for the variables budget). */
class Frame {
  readonly variables = Object.create(null) as Record<string, unknown>;
  /** Names set by the flow's steps: the default outputs. */
  readonly setByFlow = new Set<string>();
  private readonly sizes = new Map<string, number>();
  private total = 0;

  /** Sets caller or engine variables (not counted as set by the flow). @throws BudgetExceededError */
  seed(values: Readonly<Record<string, unknown>>): void {
    for (const [name, value] of Object.entries(values)) {
      const size = jsonSizeWithin(value, MAX_VARIABLES_BYTES);
      if (size === -1) throw new BudgetExceededError('valueDepth', MAX_JSON_DEPTH, `variable ${name} nests deeper than ${MAX_JSON_DEPTH} levels`);
      this.put(name, value, size);
    }
  }

  /** Sets variables a step produced: each within the value budget. @throws BudgetExceededError */
  assign(values: Readonly<Record<string, unknown>>): void {
    for (const [name, value] of Object.entries(values)) {
      this.put(name, value, checkValue(value, `variable ${name}`));
      this.setByFlow.add(name);
    }
  }

  private put(name: string, value: unknown, size: number): void {
    this.total += size - (this.sizes.get(name) ?? 0);
    this.sizes.set(name, size);
    this.variables[name] = value;
    if (this.total > MAX_VARIABLES_BYTES) {
      throw new BudgetExceededError('variablesBytes', MAX_VARIABLES_BYTES, `the variables together are larger than ${MAX_VARIABLES_BYTES} bytes (after setting ${name})`);
    }
  }
}

/** Picks the transition for an outcome; returns the branch key used and the target. */
function transition(step: Step, outcome: StepOutcome): { taken: string; target: string } | undefined {
  if (outcome.nextStepId) return { taken: outcome.branch, target: outcome.nextStepId };
  const branches = step.branches ?? {};
  const candidates = outcome.status === 'FAILED' ? [outcome.branch, 'OnError'] : [outcome.branch];
  for (const c of candidates) {
    const target = branches[c];
    if (target) return { taken: c, target };
  }
  const fallback = branches['Default'] ?? step.next;
  return fallback ? { taken: 'Default', target: fallback } : undefined;
}

/**
 * Runs a flow to its end, its deadline, `maxSteps` or a budget.
 * @param flow a validated flow (see `parseFlow`)
 * @returns the result; never throws for anything a flow, its caller or its backends do (an engine bug still throws)
 */
export async function runFlow(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<ExecutionResult> {
  return (await runFlowWithVariables(flow, request, deps)).result;
}

/**
 * {@link runFlow}, also returning every variable at the end (not only the outputs, credentials
 * redacted), e.g. to save a session.
 */
export async function runFlowWithVariables(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<{ result: ExecutionResult; variables: Readonly<Record<string, unknown>> }> {
  const startMs = deps.clock.now();
  const budgetMs = Math.min(flow.deadlineMs, request.deadlineMs ?? flow.deadlineMs);
  const scope: ExecutionScope = {
    deps: { ...deps, circuits: deps.circuits ?? new CircuitBreaker({ store: processCircuits, clock: deps.clock, instanceId: deps.randomness.id() }) },
    executionId: request.executionId ?? deps.randomness.id(),
    steps: { count: 0, limit: flow.maxSteps, rootFlowId: flow.id },
    secrets: new SecretRedactor(),
  };
  const frame = new Frame();
  const result = await execute(flow, request.variables ?? {}, scope.executionId, startMs + budgetMs, scope, 0, frame);
  return { result: scope.secrets.redact(result), variables: scope.secrets.redact({ ...frame.variables }) };
}

async function execute(flow: Flow, input: Readonly<Record<string, unknown>>, executionId: string, deadlineAt: number, scope: ExecutionScope, depth: number, frame: Frame = new Frame()): Promise<ExecutionResult> {
  const { deps } = scope;
  const startMs = deps.clock.now();
  const trace: TraceEntry[] = [];
  let status: ExecutionStatus = 'SUCCEEDED';
  let branch = 'Default';
  let error: ExecutionResult['error'];
  let current: Step | undefined = flow.startStepId ? flow.steps.find((s) => s.id === flow.startStepId) : flow.steps[0];

  try {
    frame.seed(Object.fromEntries((flow.inputs ?? []).map((name) => [name, null])));
    frame.seed(input);
    frame.seed({ flow_execution_id: executionId, flow_id: flow.id });
  } catch (err) {
    if (!(err instanceof BudgetExceededError) || depth > 0) throw err;
    return finish(err);
  }

  const functions: FunctionContext = { now: () => deps.clock.now() };
  const stepsById = new Map(flow.steps.map((s) => [s.id, s]));
  const ctx: Omit<StepContext, 'variables'> = {
    executionId,
    flowId: flow.id,
    deadlineAt,
    clock: deps.clock,
    randomness: deps.randomness,
    http: deps.http,
    circuits: deps.circuits,
    functions,
    allowedHosts: flow.allowedHosts,
    markSecret: (value) => scope.secrets.add(value),
    redact: (value) => scope.secrets.redact(value),
    runSubFlow: async (flowId, version, vars) => {
      const child = depth + 1 > MAX_SUBFLOW_DEPTH ? undefined : await deps.resolveFlow(flowId, version);
      if (!child) {
        const message = depth + 1 > MAX_SUBFLOW_DEPTH ? `sub-flows nest deeper than ${MAX_SUBFLOW_DEPTH}` : `flow '${flowId}'${version ? ` version ${version}` : ''} does not exist`;
        return failedResult(flowId, version ?? 0, executionId, 'SUBFLOW_UNAVAILABLE', message, deps.clock.now());
      }
      // The child's own deadlineMs bounds it too, leaving the parent time to take its fallback branch.
      const childDeadlineAt = Math.min(deadlineAt, deps.clock.now() + child.deadlineMs);
      return execute(child, vars, `${executionId}/${child.id}`, childDeadlineAt, scope, depth + 1);
    },
  };

  let executed = 0;
  while (current) {
    if (deps.clock.now() >= deadlineAt) {
      status = 'TIMED_OUT';
      error = { code: 'DEADLINE_EXCEEDED', message: `the run's deadline passed before step '${current.id}'` };
      break;
    }
    if (++executed > flow.maxSteps) {
      status = 'FAILED';
      branch = 'MaxStepsExceeded';
      error = { code: 'MAX_STEPS_EXCEEDED', message: `the run executed ${flow.maxSteps} steps (maxSteps) without ending` };
      break;
    }
    const step: Step = current;
    const began = deps.clock.now();
    let outcome: StepOutcome;
    try {
      if (++scope.steps.count > scope.steps.limit) {
        throw new BudgetExceededError('steps', scope.steps.limit, `the execution ran ${scope.steps.limit} steps across its sub-flows (maxSteps of '${scope.steps.rootFlowId}') without ending`);
      }
      outcome = await runStep(step, { ...ctx, variables: frame.variables });
      if (outcome.variables) frame.assign(outcome.variables);
    } catch (err) {
      if (!(err instanceof BudgetExceededError) || depth > 0) throw err;
      trace.push({ stepId: step.id, type: step.type, branch: 'BudgetExceeded', status: 'FAILED', durationMs: deps.clock.now() - began, error: { type: 'budget_exceeded', message: err.message } });
      return finish(err);
    }
    const next = outcome.end ? undefined : transition(step, outcome);
    trace.push({
      stepId: step.id,
      type: step.type,
      branch: next?.taken ?? outcome.branch,
      status: outcome.status,
      durationMs: deps.clock.now() - began,
      ...(next ? { nextStepId: next.target } : {}),
      ...outcome.trace,
    });
    branch = outcome.branch;
    if (outcome.end) {
      status = outcome.end.status;
      branch = outcome.end.outcome;
      break;
    }
    // Out of time with more to do (or on a failure the deadline likely caused): stop now.
    if (deps.clock.now() >= deadlineAt && (next || outcome.status === 'FAILED')) {
      status = 'TIMED_OUT';
      error = { code: 'DEADLINE_EXCEEDED', message: `the run's deadline passed at step '${step.id}'` };
      break;
    }
    if (!next) {
      status = outcome.status === 'FAILED' ? 'FAILED' : 'SUCCEEDED';
      break;
    }
    current = stepsById.get(next.target);
  }
  return finish();

  function finish(budget?: BudgetExceededError): ExecutionResult {
    if (budget) {
      status = 'FAILED';
      branch = 'BudgetExceeded';
      error = { code: 'BUDGET_EXCEEDED', message: budget.message, budget: budget.budget };
    }
    const outputs: Record<string, unknown> = {};
    for (const name of flow.outputs ?? frame.setByFlow) outputs[name] = Object.hasOwn(frame.variables, name) ? frame.variables[name] : null;
    return {
      executionId,
      flowId: flow.id,
      flowVersion: flow.version ?? 0,
      status,
      branch,
      variables: outputs,
      trace,
      ...(error ? { error } : {}),
      startedAt: new Date(startMs).toISOString(),
      durationMs: deps.clock.now() - startMs,
    };
  }
}

async function runStep(step: Step, ctx: StepContext): Promise<StepOutcome> {
  const definition = getStepDefinition(step.type);
  if (!definition) return { branch: 'OnError', status: 'FAILED', trace: { error: { type: 'invalid_request', message: `unknown step type ${step.type}` } } };
  try {
    return await definition.execute(step, ctx);
  } catch (err) {
    // Expressions that fail at run time (e.g. reading `__proto__` through a computed key) are the flow's fault, not the engine's.
    if (isFlowFailure(err)) return { branch: 'OnError', status: 'FAILED', trace: { error: { type: 'invalid_request', message: err.message } } };
    throw err;
  }
}

function failedResult(flowId: string, version: number, executionId: string, code: string, message: string, nowMs: number): ExecutionResult {
  return { executionId, flowId, flowVersion: version, status: 'FAILED', branch: 'OnError', variables: {}, trace: [], error: { code, message }, startedAt: new Date(nowMs).toISOString(), durationMs: 0 };
}

/** Renders a session key template (e.g. `{{phone_number}}`) for the current variables. */
export function sessionKeyOf(flow: Flow, variables: Readonly<Record<string, unknown>>): string | undefined {
  if (!flow.session) return undefined;
  const key = renderText(flow.session.key, variables);
  return key === '' ? undefined : key;
}
