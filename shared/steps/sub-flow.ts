/**
 * `SubFlow` (an IVR flow keeps each backend integration in a sub-flow, so a failing backend never
 * tears down the call; docs/architecture.md, "Executing a flow"): runs another flow with
 * `passThroughVariables` copied in and `returnVariables` copied back. The executor runs the child
 * as a frame pushed on the execution's stack (`call`), and finishes this step with its result. The
 * child runs within the parent's deadline and its own `deadlineMs`, whichever comes first, so the
 * parent keeps time for a fallback. A failing sub-flow never tears down the parent: it takes
 * OnError (its return variables are still copied back).
 */
import * as z from 'zod';
import { stepFailure } from '../flow/failures';
import { VariableName } from './common';
import { defineStep } from './types';

/** The configuration of a `SubFlow` step: the flow (and version, default the latest), the variables passed in and those copied back. */
export const SubFlowConfig = z.lazy(() =>
  z
    .object({
      flowId: z.string().min(1).max(128),
      version: z.number().int().min(1).optional().describe('Default: the latest version'),
      passThroughVariables: z.array(VariableName).max(200).default([]),
      returnVariables: z.array(VariableName).max(200).default([]),
    })
    .strict(),
);
/** The configuration of a `SubFlow` step, defaults applied. */
export type SubFlowConfig = z.infer<typeof SubFlowConfig>;

/** The `SubFlow` step type: calls the flow as a child frame, then OnSuccess when it SUCCEEDED, else OnError, its return variables copied back either way. */
export const subFlowStep = defineStep<SubFlowConfig>({
  type: 'SubFlow',
  configSchema: SubFlowConfig,
  branches: ['OnSuccess', 'OnError'],
  analyze: (c) => ({
    flowRefs: [{ path: 'flowId', flowId: c.flowId, ...(c.version ? { version: c.version } : {}) }],
    expressions: c.passThroughVariables.map((v, i) => ({ path: `passThroughVariables[${i}]`, source: v })),
    sets: c.returnVariables,
  }),
  execute(step, ctx) {
    const c = step.configuration;
    const variables: Record<string, unknown> = {};
    for (const name of c.passThroughVariables) variables[name] = Object.hasOwn(ctx.variables, name) ? ctx.variables[name] : null;
    return Promise.resolve({ call: { flowId: c.flowId, version: c.version, variables } });
  },
  resume(step, event) {
    if (event.kind !== 'child') throw new Error('a SubFlow step is resumed only by its child');
    const child = event.result;
    const variables: Record<string, unknown> = {};
    for (const name of step.configuration.returnVariables) variables[name] = Object.hasOwn(child.variables, name) ? child.variables[name] : null;
    const ok = child.status === 'SUCCEEDED';
    return Promise.resolve({
      branch: ok ? 'OnSuccess' : 'OnError',
      status: ok ? 'SUCCEEDED' : 'FAILED',
      variables,
      trace: {
        subFlow: { flowId: child.flowId, version: child.flowVersion, status: child.status, trace: child.trace },
        ...(ok ? {} : { error: stepFailure('subflow_failed', child.error?.message ?? `sub-flow ended ${child.status} on ${child.branch}`) }),
      },
    });
  },
});
