/**
 * The transitions a flow declares (docs/testing.md, `--coverage`; docs/graph.md): a step's `next`,
 * each key of its `branches`, and for a Condition each of its `conditions` and its
 * `defaultStepId`. Flow coverage counts them and the flow graph draws them, so both agree on what
 * a branch is and on the name a run's trace gives it.
 */
import type { Flow, Step } from './schema';

/** A declared branch: the step, the branch's name (`next`, `OnError`, `conditions[1]`, `defaultStepId`) and its target step. */
export interface DeclaredBranch {
  step: string;
  branch: string;
  target: string;
}

/** The configuration fields of a Condition step that declare transitions. */
interface ConditionTransitions {
  conditions?: Array<{ expression?: string; nextStepId: string }>;
  defaultStepId?: string;
}

/**
 * The branches one step declares, in the order `next`, `branches` (as written), then a
 * Condition's `conditions[i]` and `defaultStepId`.
 * @example stepBranches({ id: 'a', type: 'DataAPI', next: 'b', configuration }) // [{ step: 'a', branch: 'next', target: 'b' }]
 */
export function stepBranches(step: Step): DeclaredBranch[] {
  const out: DeclaredBranch[] = [];
  if (step.next) out.push({ step: step.id, branch: 'next', target: step.next });
  for (const [branch, target] of Object.entries(step.branches ?? {})) if (target) out.push({ step: step.id, branch, target });
  if (step.type === 'Condition') {
    const c = step.configuration as ConditionTransitions;
    (c.conditions ?? []).forEach((condition, i) => out.push({ step: step.id, branch: `conditions[${i}]`, target: condition.nextStepId }));
    if (c.defaultStepId) out.push({ step: step.id, branch: 'defaultStepId', target: c.defaultStepId });
  }
  return out;
}

/** The branches a flow declares, in step order (each step's as {@link stepBranches} lists them). */
export function declaredBranches(flow: Flow): DeclaredBranch[] {
  return flow.steps.flatMap(stepBranches);
}

/**
 * The declared branch a trace entry's `branch` names. The executor records `Default` when a step
 * left by its fallback; that is the step's `next` when `branches` has no `Default` of its own.
 * @param step the step the trace entry is of (undefined when the flow no longer has it)
 * @param traceBranch the entry's `branch` (`OnSuccess`, `conditions[0]`, `defaultStepId`, `Default`, …)
 */
export function declaredBranchOf(step: Step | undefined, traceBranch: string): string {
  return traceBranch === 'Default' && step?.branches?.['Default'] === undefined && step?.next ? 'next' : traceBranch;
}
