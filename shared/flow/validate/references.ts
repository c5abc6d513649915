/**
 * What a flow names (docs/architecture.md, "Validation"): step ids (DUPLICATE_STEP_ID),
 * transitions, `startStepId` and the steps a configuration names (MISSING_STEP), the sub-flows it
 * calls (MISSING_FLOW, INVALID_SUBFLOW, through the `flowExists` option), the variables
 * bound to secrets that are also set otherwise (SECRET_VARIABLE_CONFLICT); and the warnings on the
 * whole graph: steps no transition leads to (UNREACHABLE_STEP), variables read but never set
 * (UNSET_VARIABLE).
 */
import type { Diagnostic } from '../../errors';
import type { StepAnalysis } from '../../steps/types';
import { SYSTEM_VARIABLES } from '../inputs';
import type { Step } from '../schema';
import { CallbackFailure, type Validation } from './context';
import { own, quoted } from './messages';
import type { ParsedStep } from './structure';

/** Step ids, including those of steps that failed the schema, so one bad step does not cascade. @returns each id with the index of its first step. */
export function checkStepIds(rawSteps: unknown[], errors: Diagnostic[]): Map<string, number> {
  const ids = new Map<string, number>();
  rawSteps.forEach((s, index) => {
    const id = own(s, 'id');
    if (typeof id !== 'string') return;
    if (ids.has(id)) errors.push({ code: 'DUPLICATE_STEP_ID', path: `steps[${index}].id`, message: `step id ${quoted(id)} is already used by steps[${ids.get(id)}]` });
    else ids.set(id, index);
  });
  return ids;
}

/** MISSING_STEP at `path` when no step has the id `target`. */
function missingStep(v: Pick<Validation, 'ids' | 'errors'>, path: string, target: string): void {
  if (!v.ids.has(target)) v.errors.push({ code: 'MISSING_STEP', path, message: `no step has id ${quoted(target)}` });
}

/** The transitions of every step, parsed or not, then `startStepId`. @returns the flow's `startStepId`, as given. */
export function checkTransitions(raw: unknown, rawSteps: unknown[], v: Pick<Validation, 'ids' | 'errors'>): unknown {
  // Transitions are checked on every step, parsed or not.
  rawSteps.forEach((s, index) => {
    const next = own(s, 'next');
    const branches = own(s, 'branches');
    if (typeof next === 'string') missingStep(v, `steps[${index}].next`, next);
    if (branches && typeof branches === 'object' && !Array.isArray(branches)) {
      for (const [branch, target] of Object.entries(branches)) if (typeof target === 'string') missingStep(v, `steps[${index}].branches.${branch}`, target);
    }
  });
  const startStepId = own(raw, 'startStepId');
  if (typeof startStepId === 'string') missingStep(v, 'startStepId', startStepId);
  return startStepId;
}

/**
 * The variables the flow declares: built-in ones, inputs and session variables are set; those bound
 * to secrets cannot also be one of them or an output (SECRET_VARIABLE_CONFLICT).
 * @returns `reads` (none yet), `sets` and `secretNames`.
 */
export function checkDeclaredVariables(raw: unknown, errors: Diagnostic[]): Pick<Validation, 'reads' | 'sets' | 'secretNames'> {
  const reads = new Map<string, string>();
  const sets = new Set<string>(SYSTEM_VARIABLES);
  const inputsValue = own(raw, 'inputs');
  // Entries are names or { name, ... }; what is neither was reported by the schema.
  const inputs = Array.isArray(inputsValue) ? (inputsValue as unknown[]).map((e) => (typeof e === 'string' ? e : own(e, 'name'))) : [];
  const sessionVariables = own(own(raw, 'session'), 'variables');
  for (const v of [...inputs, ...(Array.isArray(sessionVariables) ? (sessionVariables as unknown[]) : [])]) {
    if (typeof v === 'string') sets.add(v);
  }
  const secretBindings = own(raw, 'secrets');
  const secretNames = new Set(secretBindings && typeof secretBindings === 'object' && !Array.isArray(secretBindings) ? Object.keys(secretBindings) : []);
  const outputs = own(raw, 'outputs');
  for (const v of [...inputs, ...(Array.isArray(outputs) ? (outputs as unknown[]) : []), ...(Array.isArray(sessionVariables) ? (sessionVariables as unknown[]) : []), ...SYSTEM_VARIABLES]) {
    if (typeof v === 'string' && secretNames.has(v))
      errors.push({ code: 'SECRET_VARIABLE_CONFLICT', path: `secrets.${v}`, message: `variable ${quoted(v)} is bound to a secret, so it cannot also be a built-in variable, an input, an output or a session variable` });
  }
  return { reads, sets, secretNames };
}

/** Records the step's transitions in the graph. @returns its edges, to which {@link checkStepRefs} adds. */
export function stepEdges(v: Validation, step: Step): string[] {
  const targets: string[] = [...(step.next ? [step.next] : []), ...Object.values(step.branches ?? {}).filter((t): t is string => typeof t === 'string')];
  v.edges.set(step.id, targets);
  return targets;
}

/** The steps a configuration names (MISSING_STEP); they are edges of the graph too. */
export function checkStepRefs(v: Validation, analysis: StepAnalysis, cfg: string, targets: string[]): void {
  for (const ref of analysis.stepRefs ?? []) {
    missingStep(v, `${cfg}.${ref.path}`, ref.stepId);
    targets.push(ref.stepId);
  }
}

/** The sub-flows a step calls, when the `flowExists` option is given (MISSING_FLOW, INVALID_SUBFLOW). */
export async function checkFlowRefs(v: Validation, analysis: StepAnalysis, cfg: string): Promise<void> {
  const { options, errors } = v;
  for (const f of analysis.flowRefs ?? []) {
    if (!options.flowExists) continue;
    let answer: boolean | string;
    try {
      answer = await options.flowExists(f.flowId, f.version);
    } catch (err) {
      throw new CallbackFailure(err);
    }
    const flow = `flow ${quoted(f.flowId)}${f.version ? ` version ${f.version}` : ''}`;
    if (typeof answer === 'string') errors.push({ code: 'INVALID_SUBFLOW', path: `${cfg}.${f.path}`, message: answer || `${flow} exists but is invalid` });
    else if (!answer) errors.push({ code: 'MISSING_FLOW', path: `${cfg}.${f.path}`, message: `${flow} does not exist` });
  }
}

/** The variables a step sets; none may be bound to a secret (SECRET_VARIABLE_CONFLICT). */
export function checkSets(v: Validation, analysis: StepAnalysis, cfg: string): void {
  for (const name of analysis.sets ?? []) {
    if (v.secretNames.has(name)) v.errors.push({ code: 'SECRET_VARIABLE_CONFLICT', path: cfg, message: `the step sets ${quoted(name)}, a variable bound to a secret` });
    v.sets.add(name);
  }
}

/**
 * Once every step is checked, and only when every step parsed (a step left out would make false
 * warnings): steps that cannot be reached from the start (UNREACHABLE_STEP), variables read but
 * never set (UNSET_VARIABLE; variables bound to secrets count as set).
 */
export function checkGraph(v: Validation, startStepId: unknown, steps: ParsedStep[], rawSteps: unknown[]): void {
  const { edges, reads, sets, warnings } = v;
  for (const name of v.secretNames) sets.add(name);

  if (steps.length === rawSteps.length && steps.length > 0) {
    const start = typeof startStepId === 'string' ? startStepId : steps[0]!.step.id;
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length) {
      const id = queue.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(...(edges.get(id) ?? []));
    }
    for (const { step, index } of steps) {
      if (!seen.has(step.id)) warnings.push({ code: 'UNREACHABLE_STEP', path: `steps[${index}]`, message: `step ${quoted(step.id)} cannot be reached from ${quoted(start)}` });
    }
    for (const [name, path] of reads) {
      if (!sets.has(name)) warnings.push({ code: 'UNSET_VARIABLE', path, message: `variable ${quoted(name)} is read but never set; declare it in inputs` });
    }
  }
}
