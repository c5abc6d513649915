/**
 * Flow coverage of a test run (docs/testing.md): per flow, the steps entered out of all its steps
 * and the branches taken out of its declared ones. A step's declared branches are its `next`,
 * each key of its `branches`, and for a Condition each of its `conditions` and its
 * `defaultStepId`. A run takes a branch when it leaves the step by it.
 */
import { declaredBranches, declaredBranchOf, type DeclaredBranch } from '../flow/branches';
import type { Flow } from '../flow/schema';
import type { FileResult } from './runner';

/** Steps and branches of one flow (or of all): how many there are, how many were covered, and which were missed. */
export interface FlowCoverage {
  steps: { total: number; covered: number; missed: string[] };
  branches: { total: number; covered: number; missed: DeclaredBranch[] };
}

/** The `--coverage-json` document. */
export interface CoverageReport {
  flows: Record<string, FlowCoverage>;
  total: { steps: { total: number; covered: number }; branches: { total: number; covered: number } };
}

/** Percent of covered out of total (100 when there is nothing to cover), one decimal. */
export function percent(covered: number, total: number): number {
  return total === 0 ? 100 : Math.floor((covered / total) * 1000) / 10;
}

/**
 * The coverage of the flows under test and of every flow their cases entered.
 * @param flows the flows by id (the version the tests ran)
 */
export function coverageOf(results: readonly FileResult[], flows: ReadonlyMap<string, Flow>): CoverageReport {
  const entered = new Map<string, Set<string>>();
  const taken = new Map<string, Set<string>>();
  for (const file of results) entered.set(file.flowId, entered.get(file.flowId) ?? new Set());
  for (const c of results.flatMap((r) => r.cases)) {
    for (const t of c.taken) {
      const flow = flows.get(t.flowId);
      if (!flow) continue;
      const steps = entered.get(t.flowId) ?? new Set();
      steps.add(t.stepId);
      entered.set(t.flowId, steps);
      if (t.next === undefined) continue;
      const step = flow.steps.find((s) => s.id === t.stepId);
      const branch = declaredBranchOf(step, t.branch);
      const set = taken.get(t.flowId) ?? new Set();
      set.add(`${t.stepId}\u0000${branch}`);
      taken.set(t.flowId, set);
    }
  }
  const report: CoverageReport = { flows: {}, total: { steps: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } } };
  for (const flowId of [...entered.keys()].sort()) {
    const flow = flows.get(flowId);
    if (!flow) continue;
    const steps = entered.get(flowId)!;
    const declared = declaredBranches(flow);
    const hit = taken.get(flowId) ?? new Set();
    const missedBranches = declared.filter((b) => !hit.has(`${b.step}\u0000${b.branch}`));
    const coverage: FlowCoverage = {
      steps: { total: flow.steps.length, covered: flow.steps.filter((s) => steps.has(s.id)).length, missed: flow.steps.filter((s) => !steps.has(s.id)).map((s) => s.id) },
      branches: { total: declared.length, covered: declared.length - missedBranches.length, missed: missedBranches },
    };
    report.flows[flowId] = coverage;
    report.total.steps.total += coverage.steps.total;
    report.total.steps.covered += coverage.steps.covered;
    report.total.branches.total += coverage.branches.total;
    report.total.branches.covered += coverage.branches.covered;
  }
  return report;
}
