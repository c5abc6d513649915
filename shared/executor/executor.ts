/**
 * The flow executor (DESIGN §4): runs a validated flow from `startStepId`, follows branches,
 * keeps variables, enforces `maxSteps` and the deadline, and returns the execution result.
 *
 * Transitions: a step's outcome branch (e.g. OnServerError) is looked up in `branches`; a failed
 * step with no branch of its own falls back to `OnError`; then `Default` (`branches.Default` or
 * `next`). No transition ends the flow: SUCCEEDED unless the last step failed. An `End` step ends
 * it with its own status and outcome. When the deadline passes the run stops TIMED_OUT at once.
 */
import type { Clock, Randomness } from '../clock';
import { IvrflowError } from '../errors';
import type { FunctionContext } from '../expressions/functions';
import { renderText } from '../expressions/template';
import type { Flow, Step } from '../flow/schema';
import type { HttpClient } from '../http/client';
import { CircuitBreaker } from '../resilience/circuit-breaker';
import { MemoryCircuitStore } from '../resilience/memory-circuit-store';
import { getStepDefinition } from '../steps/registry';
import type { ExecutionResult, ExecutionStatus, StepContext, StepOutcome, TraceEntry } from '../steps/types';

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

/** Sub-flows may nest this deep (a flow calling itself is allowed but bounded). */
export const MAX_SUBFLOW_DEPTH = 8;

function nullProtoCopy(source: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  if (source) for (const [k, v] of Object.entries(source)) out[k] = v;
  return out;
}

/** Picks the transition for an outcome; returns the branch key used and the target. */
function transition(step: Step, outcome: StepOutcome): { taken: string; target: string } | undefined {
  if (outcome.nextStepId) return { taken: outcome.branch, target: outcome.nextStepId };
  const branches = (step.branches ?? {}) as Partial<Record<string, string>>;
  const candidates = outcome.status === 'FAILED' ? [outcome.branch, 'OnError'] : [outcome.branch];
  for (const c of candidates) {
    const target = branches[c];
    if (target) return { taken: c, target };
  }
  const fallback = branches['Default'] ?? step.next;
  return fallback ? { taken: 'Default', target: fallback } : undefined;
}

/**
 * Runs a flow to its end, its deadline or `maxSteps`.
 * @param flow a validated flow (see `parseFlow`)
 * @returns the result; never throws for anything a flow or its backends do (an engine bug still throws)
 */
export async function runFlow(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<ExecutionResult> {
  return (await runFlowWithVariables(flow, request, deps)).result;
}

/** {@link runFlow}, also returning every variable at the end (not only the declared outputs), e.g. to save a session. */
export async function runFlowWithVariables(flow: Flow, request: ExecutionRequest, deps: ExecutorDeps): Promise<{ result: ExecutionResult; variables: Readonly<Record<string, unknown>> }> {
  const startMs = deps.clock.now();
  const budgetMs = Math.min(flow.deadlineMs, request.deadlineMs ?? flow.deadlineMs);
  const variables = nullProtoCopy(undefined);
  const withCircuits = { ...deps, circuits: deps.circuits ?? new CircuitBreaker({ store: processCircuits, clock: deps.clock, instanceId: deps.randomness.id() }) };
  const result = await execute(flow, request.variables ?? {}, request.executionId ?? deps.randomness.id(), startMs + budgetMs, withCircuits, 0, variables);
  return { result, variables };
}

async function execute(
  flow: Flow,
  input: Readonly<Record<string, unknown>>,
  executionId: string,
  deadlineAt: number,
  deps: ExecutorDeps & { circuits: CircuitBreaker },
  depth: number,
  variables: Record<string, unknown> = nullProtoCopy(undefined),
): Promise<ExecutionResult> {
  const startMs = deps.clock.now();
  for (const name of flow.inputs ?? []) variables[name] = null;
  Object.assign(variables, input);
  variables['flow_execution_id'] = executionId;
  variables['flow_id'] = flow.id;

  const functions: FunctionContext = { now: () => deps.clock.now() };
  const stepsById = new Map(flow.steps.map((s) => [s.id, s]));
  const trace: TraceEntry[] = [];
  let status: ExecutionStatus = 'SUCCEEDED';
  let branch = 'Default';
  let error: ExecutionResult['error'];

  const ctx: Omit<StepContext, 'variables'> = {
    executionId,
    flowId: flow.id,
    deadlineAt,
    clock: deps.clock,
    randomness: deps.randomness,
    http: deps.http,
    circuits: deps.circuits,
    functions,
    runSubFlow: async (flowId, version, vars) => {
      const child = depth + 1 > MAX_SUBFLOW_DEPTH ? undefined : await deps.resolveFlow(flowId, version);
      if (!child) {
        const message = depth + 1 > MAX_SUBFLOW_DEPTH ? `sub-flows nest deeper than ${MAX_SUBFLOW_DEPTH}` : `flow '${flowId}'${version ? ` version ${version}` : ''} does not exist`;
        return failedResult(flowId, version ?? 0, executionId, 'SUBFLOW_UNAVAILABLE', message, deps.clock.now());
      }
      // The child's own deadlineMs bounds it too, leaving the parent time to take its fallback branch.
      const childDeadlineAt = Math.min(deadlineAt, deps.clock.now() + child.deadlineMs);
      return execute(child, vars, `${executionId}/${child.id}`, childDeadlineAt, deps, depth + 1);
    },
  };

  let current: Step | undefined = flow.startStepId ? stepsById.get(flow.startStepId) : flow.steps[0];
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
    const outcome = await runStep(step, { ...ctx, variables });
    if (outcome.variables) Object.assign(variables, outcome.variables);
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

  const outputs: Record<string, unknown> = {};
  for (const name of flow.outputs ?? Object.keys(variables)) outputs[name] = Object.hasOwn(variables, name) ? variables[name] : null;
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

async function runStep(step: Step, ctx: StepContext): Promise<StepOutcome> {
  const definition = getStepDefinition(step.type);
  if (!definition) return { branch: 'OnError', status: 'FAILED', trace: { error: { type: 'invalid_request', message: `unknown step type ${step.type}` } } };
  try {
    return await definition.execute(step, ctx);
  } catch (err) {
    // Expressions that fail at run time (e.g. reading `__proto__` through a computed key) are the flow's fault, not the engine's.
    if (err instanceof IvrflowError) return { branch: 'OnError', status: 'FAILED', trace: { error: { type: 'invalid_request', message: err.message } } };
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
