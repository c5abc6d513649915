/**
 * Frames and their variables (docs/architecture.md, "Budgets"): a new frame takes what its flow
 * accepts of its input, and every variable set on a frame is counted against the value and
 * variables budgets.
 */
import { checkValue, jsonSizeWithin, MAX_JSON_DEPTH, MAX_VARIABLES_BYTES, smallValueSize } from '../budgets';
import { BudgetExceededError } from '../errors';
import { acceptInputs } from '../flow/inputs';
import type { Flow } from '../flow/schema';
import type { ExecutionResult } from '../steps/types';
import type { Frame } from './snapshot';

/** A record without a prototype (variables: no `__proto__` or `constructor` can be reached through them). */
export const nullProto = (source: Readonly<Record<string, unknown>> = {}): Record<string, unknown> => Object.assign(Object.create(null) as Record<string, unknown>, source);

/** A frame's variable sizes, for the variables budget. */
interface VariableSizes {
  sizes: Map<string, number>;
  total: number;
}

/**
 * Where a frame object keeps its {@link VariableSizes}: a non-enumerable symbol property, which
 * JSON, structured clones, the DynamoDB marshaller and zod all leave out (a frame is plain JSON
 * in the snapshot); rebuilt once for a frame loaded from a stored snapshot. Not a WeakMap: an
 * entry per execution in a WeakMap cost more than the rest of a short run.
 */
const SIZES = Symbol('variableSizes');

function sizesOf(frame: Frame): VariableSizes {
  const own = (frame as Frame & { [SIZES]?: VariableSizes })[SIZES];
  if (own) return own;
  const entry: VariableSizes = { sizes: new Map(), total: 0 };
  for (const name in frame.variables) {
    const size = Math.max(0, jsonSizeWithin(frame.variables[name], MAX_VARIABLES_BYTES));
    entry.sizes.set(name, size);
    entry.total += size;
  }
  Object.defineProperty(frame, SIZES, { value: entry });
  return entry;
}

/**
 * Sets variables on a frame within the budgets: each a 64 KiB value when a step made it
 * (`fromStep`), all of them 256 KiB; caller input is only checked for depth and the total.
 * @throws BudgetExceededError
 */
export function setVariables(frame: Frame, values: Readonly<Record<string, unknown>>, fromStep: boolean): void {
  const budget = sizesOf(frame);
  for (const name in values) {
    if (!Object.hasOwn(values, name)) continue;
    const value = values[name];
    let size: number;
    if (fromStep) size = smallValueSize(value) ?? checkValue(value, `variable ${name}`);
    else {
      size = jsonSizeWithin(value, MAX_VARIABLES_BYTES);
      if (size === -1) throw new BudgetExceededError('valueDepth', MAX_JSON_DEPTH, `variable ${name} nests deeper than ${MAX_JSON_DEPTH} levels`);
    }
    budget.total += size - (budget.sizes.get(name) ?? 0);
    budget.sizes.set(name, size);
    frame.variables[name] = value;
    if (fromStep && !frame.setByFlow.includes(name)) frame.setByFlow.push(name);
    if (budget.total > MAX_VARIABLES_BYTES) {
      throw new BudgetExceededError('variablesBytes', MAX_VARIABLES_BYTES, `the variables together are larger than ${MAX_VARIABLES_BYTES} bytes (after setting ${name})`);
    }
  }
}

/**
 * A new frame for `flow`: what it accepts of `input` (its declared inputs, typed, `null` when left
 * out; shared/flow/inputs.ts) and the engine's variables. Input problems are the caller's to refuse
 * before (an input in error starts as `null` here). @throws BudgetExceededError
 */
export function newFrame(flow: Flow, input: Readonly<Record<string, unknown>>, executionId: string, deadlineAt: number, now: number): Frame {
  const frame: Frame = {
    flowId: flow.id,
    version: flow.version ?? null,
    executionId,
    stepId: flow.startStepId ?? flow.steps[0]!.id,
    variables: nullProto(),
    setByFlow: [],
    branch: 'Default',
    executed: 0,
    trace: [],
    deadlineAt,
    startedAt: now,
  };
  setVariables(frame, acceptInputs(flow, input).variables, false);
  setVariables(frame, { flow_execution_id: executionId, flow_id: flow.id }, false);
  return frame;
}

/** The `error` of an execution a budget ended. */
export function budgetError(err: BudgetExceededError): ExecutionResult['error'] {
  return { code: 'BUDGET_EXCEEDED', message: err.message, budget: err.budget };
}
