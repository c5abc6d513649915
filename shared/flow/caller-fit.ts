/**
 * Caller fit (docs/caller-fit.md): whether a flow's worst case fits the time its caller waits.
 *
 * The caller (an Amazon Connect block, a Twilio Run Function widget, a CXone REST API action, a
 * Genesys data action, or any HTTP client) gives up after its own limit; the engine cuts every call
 * at the run's deadline, so a flow whose worst case is longer never overruns, but its timeouts and
 * fallbacks fire on the caller's clock rather than as designed. This module computes, from the
 * flow definition alone, the worst-case synchronous time of every simple path from the start step
 * to the run's end, and reports the paths and steps that cannot fit.
 *
 * Pure: no I/O, no clock. Sub-flows, workflow flows and connection timeouts come from the options.
 */
import { DEFAULT_CONNECTION_TIMEOUT_MS } from '../connections/connection';
import { BadRequestError, type Diagnostic } from '../errors';
import { backoffDelayMs, isRetryableRequest, RetryPolicy } from '../resilience/retry';
import type { HttpRequestConfig } from '../steps/http-request';
import type { IntegrationHubExecuteConfig } from '../steps/integration-hub-execute';
import type { SubFlowConfig } from '../steps/sub-flow';
import type { WorkflowExecuteConfig } from '../steps/workflow-execute';
import { stepBranches } from './branches';
import { DEFAULT_DEADLINE_MS, type Flow, type Step } from './schema';

// ---------------------------------------------------------------------------------------------
// Callers

/** The callers `--caller` knows; `custom` is a plain `<ms>`. */
export type CallerName = 'connect' | 'twilio' | 'cxone' | 'genesys' | 'custom';

/** A caller's limit: how long it waits for the flow's answer, ms, and whether it tries again itself. */
export interface Caller {
  name: CallerName;
  /** How long the caller waits for one answer, ms. */
  limitMs: number;
  /** The caller sends the request again when a try fails (CXone's REST API action): the flow may run twice for one call. */
  retries?: boolean;
}

/** What each named caller allows: its default limit (when `<name>` alone is valid), its largest, whether it retries, and where the figures come from. */
export const CALLER_LIMITS: Readonly<Record<Exclude<CallerName, 'custom'>, { defaultMs?: number; maxMs?: number; retries?: boolean; source: string }>> = {
  // InvocationTimeLimitSeconds: "greater than 0, no larger than 8"; the block defaults to 3 s.
  connect: { defaultMs: 8000, maxMs: 8000, source: 'Amazon Connect Administrator Guide: Invoke AWS Lambda function block (timeout at most 8 seconds, 3 by default)' },
  twilio: { defaultMs: 10000, maxMs: 10000, source: 'Twilio: Run Function widget (a Function runs at most 10 seconds)' },
  // "Timeout ... cannot be more than 90 seconds"; "will automatically try two times if a failure message is received".
  cxone: { maxMs: 90000, retries: true, source: 'NICE CXone Studio: REST API action (TimeOutInMilliSeconds at most 90000; tries twice on a failure)' },
  genesys: { source: "Genesys Cloud: the data action's timeout as configured" },
};

/** The forms {@link parseCaller} accepts, for messages and help text. */
export const CALLER_FORMS = 'connect (8000 ms), connect:<ms> (at most 8000), twilio (10000 ms), twilio:<ms> (at most 10000), cxone:<ms> (at most 90000), genesys:<ms>, or <ms>';

/** A `--caller` / `?caller=` value that is not one of {@link CALLER_FORMS}; code `INVALID_CALLER`. */
export class CallerError extends BadRequestError {
  constructor(message: string) {
    super('INVALID_CALLER', `${message}; use ${CALLER_FORMS}`);
    this.name = 'CallerError';
  }
}

/** Milliseconds as written after the colon: a positive whole number. @throws CallerError */
function parseMs(text: string, what: string): number {
  if (!/^[0-9]+$/.test(text)) throw new CallerError(`caller ${what}: '${text.slice(0, 40)}' is not a whole number of milliseconds`);
  const ms = Number(text);
  if (ms <= 0 || !Number.isSafeInteger(ms)) throw new CallerError(`caller ${what}: the limit must be a positive number of milliseconds, got ${text.slice(0, 40)}`);
  return ms;
}

/**
 * Parses a caller: `connect` (8000 ms), `connect:<ms>`, `twilio` (10000 ms), `twilio:<ms>`,
 * `cxone:<ms>` (required: the action's `TimeOutInMilliSeconds`; `retries: true`), `genesys:<ms>`
 * (required), or a plain `<ms>` (`custom`). Names are case-insensitive; surrounding spaces are ignored.
 * Limits: Amazon Connect Administrator Guide, "Invoke AWS Lambda function block" (≤ 8 s); Twilio,
 * "Run Function widget" (10 s); NICE CXone Studio, "REST API action" (≤ 90 s, two tries).
 * @param text the `--caller` value
 * @returns the caller, `limitMs` in ms
 * @throws CallerError (`INVALID_CALLER`, a {@link BadRequestError}) for an unknown name, a missing,
 *   non-numeric, zero or negative ms, or one above the caller's maximum; the message lists the valid forms
 * @example parseCaller('connect:3000') // { name: 'connect', limitMs: 3000 }
 */
export function parseCaller(text: string): Caller {
  const value = text.trim();
  if (value === '') throw new CallerError('the caller is empty');
  if (/^[0-9+-]/.test(value)) return { name: 'custom', limitMs: parseMs(value, value) };
  const colon = value.indexOf(':');
  const name = (colon === -1 ? value : value.slice(0, colon)).toLowerCase();
  if (!Object.hasOwn(CALLER_LIMITS, name)) throw new CallerError(`unknown caller '${name.slice(0, 40)}'`);
  const known = name as keyof typeof CALLER_LIMITS;
  const spec = CALLER_LIMITS[known];
  let limitMs: number;
  if (colon === -1) {
    if (spec.defaultMs === undefined) throw new CallerError(`caller ${known} needs its timeout: ${known}:<ms>`);
    limitMs = spec.defaultMs;
  } else {
    limitMs = parseMs(value.slice(colon + 1), value);
    if (spec.maxMs !== undefined && limitMs > spec.maxMs) throw new CallerError(`caller ${value}: ${limitMs} ms exceeds ${known}'s ${spec.maxMs} ms maximum (${spec.source})`);
  }
  return { name: known, limitMs, ...(spec.retries ? { retries: true } : {}) };
}

/** How a caller is named in messages: `connect:3000`, or `a 5000 ms caller`. */
function callerLabel(caller: Caller): string {
  return caller.name === 'custom' ? `a ${caller.limitMs} ms caller` : `${caller.name}:${caller.limitMs}`;
}

// ---------------------------------------------------------------------------------------------
// Figures

/** The most paths listed per flow; past it the worst case is found over the step graph instead (see {@link CallerFitReport.worstCaseExact}). */
export const MAX_LISTED_PATHS = 1000;
/** The most `CALLER_DEADLINE_EXCEEDED` diagnostics per report (worst paths first); the last names how many more paths exceed the limit. */
export const MAX_PATH_DIAGNOSTICS = 10;

/** One simple path from the start step to where the run ends, and its worst-case time. */
export interface PathFigure {
  /** The flow's own step ids, start first; a sub-flow or workflow is one step, its worst case folded in. */
  path: string[];
  /** The sum of the steps' worst cases, ms. */
  worstCaseMs: number;
  /** `End`: an End step; `lastStep`: a step with no transition ends the run; `loop`: every way on leads back onto the path (the loop is counted once). */
  endsBy: 'End' | 'lastStep' | 'loop';
}

/** How long one step can hold the run in the worst case, and why. */
export interface StepFigure {
  stepId: string;
  type: string;
  /** ms. */
  worstCaseMs: number;
  /** The timeout of one attempt (HTTPRequest, IntegrationHubExecute) or of the workflow (WorkflowExecute), ms. */
  timeoutMs?: number;
  /** Attempts in the worst case (1 + the retries that can happen). */
  attempts?: number;
  /** The largest backoff delays before each retry, ms. */
  backoffMs?: number[];
  /** The flow it runs (SubFlow, WorkflowExecute when resolved). */
  flowId?: string;
  /** That flow's worst path, when known. */
  flowPath?: string[];
  /** How the figure was found, e.g. `3 attempts × 3000 ms + backoff 100 + 200 ms`. */
  basis: string;
}

/** What {@link callerFit} found. */
export interface CallerFitReport {
  flowId: string;
  /** min(flow `deadlineMs`, caller's `limitMs`), ms: what every path must fit in. */
  limitMs: number;
  caller?: Caller;
  /** The flow's `deadlineMs` (default {@link DEFAULT_DEADLINE_MS}), ms. */
  deadlineMs: number;
  /** The worst case over every path, ms. */
  worstCaseMs: number;
  /** False only when the paths were capped and the flow has loops: `worstCaseMs` is then an upper bound (every step of each loop counted once). */
  worstCaseExact: boolean;
  /** Every path, worst first (at most {@link MAX_LISTED_PATHS}). */
  paths: PathFigure[];
  /** True when the flow has more than {@link MAX_LISTED_PATHS} paths. */
  pathsTruncated: boolean;
  /** Every step of the flow, in order. */
  steps: StepFigure[];
  /** With a caller: CALLER_DEADLINE_EXCEEDED, STEP_TIMEOUT_EXCEEDS_DEADLINE. */
  errors: Diagnostic[];
  /** NO_TIMEOUT_FALLBACK, SUBFLOW_DEADLINE_EXCEEDED, SUBFLOW_NOT_RESOLVED, SUBFLOW_RECURSION, CALLER_FIT_PATHS_CAPPED; without a caller also the checks that are errors with one. */
  warnings: Diagnostic[];
}

/** What {@link callerFit} reads besides the flow. */
export interface CallerFitOptions {
  /** The caller; without one the flow's `deadlineMs` is the limit and the deadline checks are warnings. */
  caller?: Caller;
  /** SubFlow targets by flow id (a SubFlow's `version` is not looked at: give the version it runs). Without it, a SubFlow's time is not counted (SUBFLOW_NOT_RESOLVED). */
  flows?: ReadonlyMap<string, Flow>;
  /** The flow a WorkflowExecute runs, by its configuration and workflow ids (asked only when neither is a template); its worst case then counts when shorter than `timeoutMilliSec`. Without it, `timeoutMilliSec` counts. */
  workflowFlow?: (configurationId: string, workflowId: string) => Flow | undefined;
  /** The timeout of a connection's request, ms (the request's `timeoutMs`, else the connection's); undefined when unknown ({@link DEFAULT_CONNECTION_TIMEOUT_MS} is assumed). */
  connectionTimeoutMs?: (connection: string, request: string) => number | undefined;
}

/** The step types that have a timeout of their own, and the configuration field that holds it. */
const TIMED_STEPS: Readonly<Record<string, string>> = { HTTPRequest: 'timeout', IntegrationHubExecute: 'connectName', WorkflowExecute: 'timeoutMilliSec' };

/** The transitions of a flow as indices: successors of each step, the start, the steps reachable from it. */
interface Graph {
  index: Map<string, number>;
  succ: number[][];
  start: number;
  reachable: boolean[];
}

/** The worst case of one flow. */
interface FlowFigure {
  graph: Graph;
  steps: StepFigure[];
  paths: PathFigure[];
  truncated: boolean;
  worstCaseMs: number;
  exact: boolean;
  /** The worst path, when known (always unless the bound is inexact). */
  worstPath?: string[];
  /** What the figure leaves out (sub-flows not given, recursions), as sentences. */
  gaps: string[];
  /** The SUBFLOW_* warnings of this flow's own steps. */
  notes: Diagnostic[];
}

/** One analysis: the options and the figures of the flows met so far (each flow once, by id). */
interface Context {
  options: CallerFitOptions;
  memo: Map<string, FlowFigure>;
  inProgress: Set<string>;
}

/** Where a step can go next: the targets of the branches it declares (`stepBranches`). An End goes nowhere. */
function targetsOf(step: Step): string[] {
  return step.type === 'End' ? [] : [...new Set(stepBranches(step).map((b) => b.target))];
}

function graphOf(flow: Flow): Graph {
  const index = new Map<string, number>();
  flow.steps.forEach((s, i) => {
    if (!index.has(s.id)) index.set(s.id, i);
  });
  const succ = flow.steps.map((s) => targetsOf(s).flatMap((t) => (index.has(t) ? [index.get(t)!] : [])));
  const start = index.get(flow.startStepId ?? flow.steps[0]!.id) ?? 0;
  const reachable = flow.steps.map(() => false);
  const queue = [start];
  while (queue.length) {
    const i = queue.pop()!;
    if (reachable[i]) continue;
    reachable[i] = true;
    queue.push(...succ[i]!);
  }
  return { index, succ, start, reachable };
}

/** `3 attempts × 3000 ms + backoff 100 + 200 ms`. */
function attemptsBasis(attempts: number, timeoutMs: number, backoffMs: number[]): string {
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'} × ${timeoutMs} ms`;
  return backoffMs.length ? `${tries} + backoff ${backoffMs.join(' + ')} ms` : tries;
}

/**
 * The retries a call can make in the worst case, with the largest backoff before each: the
 * pipeline (shared/http/call-pipeline.ts) retries only a timeout (`retryOnTimeout`) or a status of
 * `retryOnStatusCodes`, and only when `retryable` (an idempotent method or an Idempotency-Key);
 * either can take a whole timeout, so the worst case assumes every attempt does. The backoff's
 * ceiling is `backoffDelayMs` at its supremum (full jitter draws below it).
 */
function retriesOf(policy: RetryPolicy, retryable: boolean): { retries: number; backoffMs: number[]; why?: string } {
  if (policy.maxRetries === 0) return { retries: 0, backoffMs: [] };
  if (!retryable) return { retries: 0, backoffMs: [], why: 'never retried: not an idempotent method and no Idempotency-Key header' };
  if (!policy.retryOnTimeout && policy.retryOnStatusCodes.length === 0) return { retries: 0, backoffMs: [], why: 'never retried: no timeout or status code is retried' };
  const backoffMs = Array.from({ length: policy.maxRetries }, (_, retry) => backoffDelayMs(policy, retry, 1));
  return { retries: policy.maxRetries, backoffMs };
}

/** A call's figure: `attempts × timeoutMs + Σ backoff`. */
function callFigure(step: Step, timeoutMs: number, policy: RetryPolicy, retryable: boolean, extra: string[]): StepFigure {
  const { retries, backoffMs, why } = retriesOf(policy, retryable);
  const attempts = 1 + retries;
  const worstCaseMs = attempts * timeoutMs + backoffMs.reduce((a, b) => a + b, 0);
  const basis = [attemptsBasis(attempts, timeoutMs, backoffMs), ...(why ? [`maxRetries ${policy.maxRetries} ${why}`] : []), ...extra].join('; ');
  return { stepId: step.id, type: step.type, worstCaseMs, timeoutMs, attempts, backoffMs, basis };
}

/** The figure of a flow another step runs, or undefined when it is running above (a recursion). */
function calledFigure(flow: Flow, ctx: Context): FlowFigure | undefined {
  if (ctx.inProgress.has(flow.id)) return undefined;
  return figureOf(flow, ctx);
}

/**
 * The time a flow run by a step (SubFlow, WorkflowExecute) holds the run: its worst case, cut
 * where the engine cuts it — at its own `deadlineMs` and (WorkflowExecute) `timeoutMilliSec`
 * (a child frame's deadline is the earliest of those and the caller's; docs/architecture.md,
 * "The deadline is the caller's"). A worst case past its own deadline is SUBFLOW_DEADLINE_EXCEEDED:
 * its calls are cut by that deadline, so its timeouts and retries do not run as configured.
 */
function calledFlow(flow: Flow, step: Step, path: string, target: Flow, ctx: Context, gaps: string[], notes: Diagnostic[], timeoutMs?: number): Omit<StepFigure, 'stepId' | 'type'> {
  const figure = calledFigure(target, ctx);
  if (!figure) {
    gaps.push(`${flow.id}: step '${step.id}' runs flow '${target.id}', which is already running above it (counted once)`);
    notes.push({ code: 'SUBFLOW_RECURSION', path, message: `step '${step.id}' runs flow '${target.id}', which is already running above it: the recursion is counted once (this call 0 ms)` });
    return { worstCaseMs: 0, flowId: target.id, basis: `flow '${target.id}' recursion: counted once` };
  }
  if (figure.gaps.length) {
    gaps.push(...figure.gaps);
    notes.push({ code: 'SUBFLOW_NOT_RESOLVED', path, message: `the worst case of flow '${target.id}' (step '${step.id}') leaves out: ${figure.gaps.join('; ')}` });
  }
  const deadlineMs = target.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const cutMs = Math.min(deadlineMs, timeoutMs ?? Infinity);
  const worst = `flow '${target.id}' worst case ${figure.worstCaseMs} ms${figure.exact ? '' : ' (an upper bound)'}`;
  if (figure.worstCaseMs > deadlineMs) {
    const worstPath = figure.worstPath ? ` (${figure.worstPath.join(' → ')})` : '';
    notes.push({
      code: 'SUBFLOW_DEADLINE_EXCEEDED',
      path,
      message: `flow '${target.id}' (step '${step.id}') can take ${figure.worstCaseMs} ms${worstPath}, more than its own ${deadlineMs} ms deadlineMs: the engine cuts it there (its calls end by that deadline less its finish reserve), so its timeouts and retries do not run as configured`,
    });
  }
  const flowPath = figure.worstPath ? { flowPath: figure.worstPath } : {};
  if (figure.worstCaseMs <= cutMs) return { worstCaseMs: figure.worstCaseMs, flowId: target.id, ...flowPath, basis: worst };
  const by = cutMs === timeoutMs ? `timeoutMilliSec ${cutMs} ms` : `its deadlineMs ${cutMs} ms`;
  return { worstCaseMs: cutMs, flowId: target.id, ...flowPath, basis: `${worst}, cut at ${by}` };
}

function stepFigure(flow: Flow, step: Step, index: number, ctx: Context, gaps: string[], notes: Diagnostic[]): StepFigure {
  const base = { stepId: step.id, type: step.type };
  switch (step.type) {
    case 'HTTPRequest': {
      // The step union is not narrowed by `type` (it is built from the registry): the schema checked this shape.
      const c = step.configuration as HttpRequestConfig;
      const retryable = isRetryableRequest(c.method, c.headers ?? {});
      return callFigure(step, c.timeout, c.retryPolicy ?? RetryPolicy.parse({}), retryable, c.async ? ['async: the wait for the callback is not counted'] : []);
    }
    case 'IntegrationHubExecute': {
      const c = step.configuration as IntegrationHubExecuteConfig;
      const known = ctx.options.connectionTimeoutMs?.(c.connectName, c.requestName);
      const timeoutMs = known ?? DEFAULT_CONNECTION_TIMEOUT_MS;
      // The request's method is the connection's: unknown here, so retries are assumed to happen.
      const extra = [known === undefined ? `timeout of ${c.connectName}/${c.requestName} unknown: a connection's default ${DEFAULT_CONNECTION_TIMEOUT_MS} ms assumed` : `timeout of ${c.connectName}/${c.requestName}`];
      return callFigure(step, timeoutMs, c.retryPolicy ?? RetryPolicy.parse({}), true, extra);
    }
    case 'WorkflowExecute': {
      const c = step.configuration as WorkflowExecuteConfig;
      const templated = c.configurationId.includes('{{') || c.workflowId.includes('{{');
      const target = templated ? undefined : ctx.options.workflowFlow?.(c.configurationId, c.workflowId);
      const timeout = { timeoutMs: c.timeoutMilliSec };
      if (!target) return { ...base, ...timeout, worstCaseMs: c.timeoutMilliSec, basis: `timeoutMilliSec ${c.timeoutMilliSec} ms` };
      return { ...base, ...timeout, ...calledFlow(flow, step, `steps[${index}].configuration.workflowId`, target, ctx, gaps, notes, c.timeoutMilliSec) };
    }
    case 'SubFlow': {
      const c = step.configuration as SubFlowConfig;
      const target = ctx.options.flows?.get(c.flowId);
      const path = `steps[${index}].configuration.flowId`;
      if (!target) {
        gaps.push(`${flow.id}: step '${step.id}' calls flow '${c.flowId}', which was not given`);
        notes.push({ code: 'SUBFLOW_NOT_RESOLVED', path, message: `step '${step.id}' calls flow '${c.flowId}', which was not given: its time is not counted (0 ms)` });
        return { ...base, worstCaseMs: 0, flowId: c.flowId, basis: `flow '${c.flowId}' not given: not counted` };
      }
      return { ...base, ...calledFlow(flow, step, path, target, ctx, gaps, notes) };
    }
    default:
      // Condition, DataAPI, CustomEvent and End make no outbound call with a timeout of their own.
      return { ...base, worstCaseMs: 0, basis: 'no outbound call' };
  }
}

/** How a path that stops at step `i` ends: an End, a step without transitions, or a loop closing. */
function endOf(flow: Flow, graph: Graph, i: number): PathFigure['endsBy'] {
  return flow.steps[i]!.type === 'End' ? 'End' : graph.succ[i]!.length === 0 ? 'lastStep' : 'loop';
}

/** Every maximal simple path from the start, up to {@link MAX_LISTED_PATHS}: a path ends at an End, a step without a transition, or where every way on is already on it. */
function enumerate(flow: Flow, graph: Graph, cost: number[]): { paths: PathFigure[]; truncated: boolean } {
  const paths: PathFigure[] = [];
  const onPath = new Uint8Array(flow.steps.length);
  const stack: number[] = [];
  let truncated = false;
  const visit = (i: number, sum: number): void => {
    onPath[i] = 1;
    stack.push(i);
    const total = sum + cost[i]!;
    const next = graph.succ[i]!.filter((j) => !onPath[j]);
    if (next.length === 0) {
      if (paths.length >= MAX_LISTED_PATHS) truncated = true;
      else paths.push({ path: stack.map((k) => flow.steps[k]!.id), worstCaseMs: total, endsBy: endOf(flow, graph, i) });
    } else {
      for (const j of next) {
        if (truncated) break;
        visit(j, total);
      }
    }
    stack.pop();
    onPath[i] = 0;
  };
  visit(graph.start, 0);
  paths.sort((a, b) => b.worstCaseMs - a.worstCaseMs);
  return { paths, truncated };
}

/**
 * The longest path over the strongly connected components (Tarjan), each weighing the sum of its
 * steps: a simple path visits a step at most once, so this bounds every path; exact, with the
 * path, when no component has two steps (the flow has no loop).
 */
function longestOverComponents(flow: Flow, graph: Graph, cost: number[]): { worstCaseMs: number; exact: boolean; path?: string[] } {
  const n = flow.steps.length;
  const order = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const component = new Array<number>(n).fill(-1);
  const weight: number[] = [];
  const best: number[] = [];
  const bestNext: number[] = [];
  let counter = 0;
  let exact = true;
  const strong = (v: number): void => {
    order[v] = low[v] = counter++;
    stack.push(v);
    onStack[v] = 1;
    for (const w of graph.succ[v]!) {
      if (order[w] === -1) {
        strong(w);
        low[v] = Math.min(low[v], low[w]!);
      } else if (onStack[w]) low[v] = Math.min(low[v], order[w]!);
    }
    if (low[v] !== order[v]) return;
    const id = weight.length;
    const members: number[] = [];
    for (;;) {
      const w = stack.pop()!;
      onStack[w] = 0;
      component[w] = id;
      members.push(w);
      if (w === v) break;
    }
    if (members.length > 1) exact = false;
    // Tarjan closes a component after every component it reaches: their figures are known.
    let after = 0;
    let next = -1;
    for (const m of members) {
      for (const w of graph.succ[m]!) {
        const c = component[w]!;
        if (c !== id && best[c]! > after) [after, next] = [best[c]!, w];
        else if (c !== id && next === -1) next = w;
      }
    }
    weight.push(members.reduce((sum, m) => sum + cost[m]!, 0));
    best.push(weight[id]! + after);
    bestNext.push(next);
  };
  strong(graph.start);
  const worstCaseMs = best[component[graph.start]!]!;
  if (!exact) return { worstCaseMs, exact };
  const path: string[] = [];
  for (let v = graph.start; v !== -1; v = bestNext[component[v]!]!) path.push(flow.steps[v]!.id);
  return { worstCaseMs, exact, path };
}

/** The figure of a flow (memoised by id; a flow met while it is being figured is a recursion). */
function figureOf(flow: Flow, ctx: Context): FlowFigure {
  const known = ctx.memo.get(flow.id);
  if (known) return known;
  ctx.inProgress.add(flow.id);
  try {
    const graph = graphOf(flow);
    const gaps: string[] = [];
    const notes: Diagnostic[] = [];
    const steps = flow.steps.map((step, i) => (graph.reachable[i] ? stepFigure(flow, step, i, ctx, gaps, notes) : { stepId: step.id, type: step.type, worstCaseMs: 0, basis: 'not reachable from the start' }));
    const cost = steps.map((s) => s.worstCaseMs);
    const { paths, truncated } = enumerate(flow, graph, cost);
    let worstCaseMs = paths[0]?.worstCaseMs ?? 0;
    let exact = true;
    let worstPath = paths[0]?.path;
    if (truncated) {
      const bound = longestOverComponents(flow, graph, cost);
      ({ worstCaseMs, exact } = bound);
      worstPath = bound.path;
      if (bound.path && !paths.some((p) => p.path.join('\u0000') === bound.path!.join('\u0000'))) {
        if (paths.length >= MAX_LISTED_PATHS) paths.pop();
        paths.unshift({ path: bound.path, worstCaseMs, endsBy: endOf(flow, graph, graph.index.get(bound.path.at(-1)!)!) });
      }
    }
    const figure: FlowFigure = { graph, steps, paths, truncated, worstCaseMs, exact, ...(worstPath ? { worstPath } : {}), gaps, notes };
    ctx.memo.set(flow.id, figure);
    return figure;
  } finally {
    ctx.inProgress.delete(flow.id);
  }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

/** `the 3000 ms limit (caller connect:3000)`, or the flow's deadline when it is the smaller. */
function limitText(limitMs: number, deadlineMs: number, caller: Caller | undefined): string {
  if (!caller) return `the flow's ${limitMs} ms deadlineMs`;
  if (caller.limitMs < deadlineMs) return `the ${limitMs} ms limit of the caller (${callerLabel(caller)})`;
  return `the flow's ${limitMs} ms deadlineMs (under the caller's ${callerLabel(caller)})`;
}

/** The CXone clause: its REST API action tries twice, so one call can run the flow twice. */
const CXONE_IDEMPOTENCY =
  "; CXone's REST API action tries twice when a try fails, so one call can run this flow twice: send an Idempotency-Key with the execution request, or make the flow's calls idempotent (idempotent methods or an Idempotency-Key header)";

function deadlineDiagnostics(figure: FlowFigure, limitMs: number, deadlineMs: number, caller: Caller | undefined): Diagnostic[] {
  const over = figure.paths.filter((p) => p.worstCaseMs > limitMs);
  const limit = limitText(limitMs, deadlineMs, caller);
  const suffix = caller?.retries ? CXONE_IDEMPOTENCY : '';
  return over.slice(0, MAX_PATH_DIAGNOSTICS).map((p, n) => {
    // The step at which the running sum passes the limit.
    let sum = 0;
    let at = p.path.at(-1)!;
    for (const id of p.path) {
      sum += figure.steps[figure.graph.index.get(id)!]!.worstCaseMs;
      if (sum > limitMs) {
        at = id;
        break;
      }
    }
    const more = n === MAX_PATH_DIAGNOSTICS - 1 && over.length > MAX_PATH_DIAGNOSTICS ? `; ${over.length - MAX_PATH_DIAGNOSTICS} more paths exceed it (see the report's paths)` : '';
    return {
      code: 'CALLER_DEADLINE_EXCEEDED',
      path: `steps[${figure.graph.index.get(at)!}]`,
      message: `path ${p.path.join(' → ')} can take ${p.worstCaseMs} ms in the worst case, more than ${limit}; it passes the limit at step '${at}' (${figure.steps[figure.graph.index.get(at)!]!.basis})${more}${suffix}`,
    };
  });
}

function stepTimeoutDiagnostics(figure: FlowFigure, limitMs: number, deadlineMs: number, caller: Caller | undefined): Diagnostic[] {
  const limit = limitText(limitMs, deadlineMs, caller);
  return figure.steps.flatMap((s, i): Diagnostic[] => {
    const field = TIMED_STEPS[s.type];
    if (!figure.graph.reachable[i] || field === undefined || s.timeoutMs === undefined || s.timeoutMs <= limitMs) return [];
    const what = s.type === 'WorkflowExecute' ? 'its workflow' : 'one attempt';
    return [
      {
        code: 'STEP_TIMEOUT_EXCEEDS_DEADLINE',
        path: `steps[${i}].configuration.${field}`,
        message: `step '${s.stepId}' (${s.type}) lets ${what} take ${s.timeoutMs} ms, more than ${limit}: the engine cuts it at the run's deadline, so its timeout route fires on the caller's clock, not its own`,
      },
    ];
  });
}

function fallbackDiagnostics(flow: Flow, figure: FlowFigure): Diagnostic[] {
  return flow.steps.flatMap((step, i): Diagnostic[] => {
    if (!figure.graph.reachable[i] || TIMED_STEPS[step.type] === undefined) return [];
    const branches = step.branches ?? {};
    if (branches.OnTimeout !== undefined || branches.OnError !== undefined) return [];
    const onward = branches.Default ?? step.next;
    const then = onward ? `goes on to '${onward}' (its Default route) as if the step had succeeded` : 'ends the run FAILED';
    return [{ code: 'NO_TIMEOUT_FALLBACK', path: `steps[${i}].branches`, message: `step '${step.id}' (${step.type}) can time out but routes neither OnTimeout nor OnError: a timeout ${then}` }];
  });
}

/**
 * The caller fit of a flow (docs/caller-fit.md): the worst-case synchronous time of every simple
 * path from the start step to the run's end (a step is never repeated, so a loop counts once), and
 * what cannot fit `limitMs` = min(flow `deadlineMs`, `caller.limitMs`).
 *
 * Step costs, ms, from the engine's own defaults (the step schemas and `RetryPolicy`):
 * - HTTPRequest: attempts × `timeout` + the largest backoff before each retry (attempts = 1 +
 *   `maxRetries` when the pipeline can retry: an idempotent method or an Idempotency-Key header,
 *   and a timeout or a status it retries; else 1). With `async`, only the request: the wait for
 *   the callback does not run on the caller's clock (a frame's deadline pauses while it waits).
 * - IntegrationHubExecute: the same with the connection request's timeout
 *   (`options.connectionTimeoutMs`, else {@link DEFAULT_CONNECTION_TIMEOUT_MS}); retries are assumed
 *   possible (the request's method is the connection's).
 * - WorkflowExecute: `timeoutMilliSec`, or its workflow flow's worst case when
 *   `options.workflowFlow` gives it and it is shorter (also cut at that flow's `deadlineMs`).
 * - SubFlow: the worst case of its flow (`options.flows`), figured recursively, each flow once, and
 *   cut at that flow's own `deadlineMs` as the engine cuts it; a flow already running above is a
 *   recursion, counted once (0 ms for the inner call).
 * - Condition, DataAPI, CustomEvent, End: 0 (no outbound call of their own). Store round trips,
 *   token requests and the one resend after a renewed OAuth2 token are not counted.
 *
 * Paths: at most {@link MAX_LISTED_PATHS} are listed; past that, the worst case is the longest path
 * over the step graph's strongly connected components (exact when the flow has no loop, else an
 * upper bound counting each loop's steps once) and CALLER_FIT_PATHS_CAPPED says so.
 *
 * Diagnostics (`path` is a JSON-Pointer-like place such as `steps[3].configuration.timeout`):
 * CALLER_DEADLINE_EXCEEDED per path over the limit (worst first, at most
 * {@link MAX_PATH_DIAGNOSTICS}; for a caller that retries, it names idempotency);
 * STEP_TIMEOUT_EXCEEDS_DEADLINE for a reachable step whose one timeout is over the limit — both
 * errors with a caller, warnings without; NO_TIMEOUT_FALLBACK (warning) for a reachable step that can
 * time out without an OnTimeout or OnError route; SUBFLOW_DEADLINE_EXCEEDED (a called flow's worst
 * case is past its own `deadlineMs`), SUBFLOW_NOT_RESOLVED, SUBFLOW_RECURSION (warnings).
 *
 * @param flow a parsed flow (defaults applied, as `parseFlow` returns it)
 * @param options the caller, the flows sub-flows and workflows run, connection timeouts
 * @returns the report: limits and figures in ms, paths worst first, diagnostics
 * @example
 * const report = callerFit(flow, { caller: parseCaller('connect:3000'), flows: new Map([[child.id, child]]) });
 * if (report.errors.length) console.error(report.errors.map((d) => d.message).join('\n'));
 */
export function callerFit(flow: Flow, options: CallerFitOptions = {}): CallerFitReport {
  const { caller } = options;
  const deadlineMs = flow.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const limitMs = Math.min(deadlineMs, caller?.limitMs ?? Infinity);
  const figure = figureOf(flow, { options, memo: new Map(), inProgress: new Set() });

  const checks = [...deadlineDiagnostics(figure, limitMs, deadlineMs, caller), ...stepTimeoutDiagnostics(figure, limitMs, deadlineMs, caller)];
  const warnings = [...(caller ? [] : checks), ...fallbackDiagnostics(flow, figure), ...figure.notes];
  if (figure.truncated) {
    const how = figure.exact ? 'the longest path over the step graph (it has no loop)' : 'an upper bound that counts every step of each loop once; paths over the limit may be among those not listed';
    warnings.push({
      code: 'CALLER_FIT_PATHS_CAPPED',
      path: '',
      message: `the flow has more than ${MAX_LISTED_PATHS} paths from '${flow.steps[figure.graph.start]!.id}': ${figure.paths.length} are listed; the worst case, ${figure.worstCaseMs} ms, is ${how}${figure.worstCaseMs > limitMs ? `, over ${limitText(limitMs, deadlineMs, caller)}` : ''}`,
    });
  }
  return {
    flowId: flow.id,
    limitMs,
    ...(caller ? { caller } : {}),
    deadlineMs,
    worstCaseMs: figure.worstCaseMs,
    worstCaseExact: figure.exact,
    paths: figure.paths,
    pathsTruncated: figure.truncated,
    steps: figure.steps,
    errors: caller ? checks : [],
    warnings,
  };
}
