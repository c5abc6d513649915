/**
 * `Condition` (also the error router after an `HTTPRequest`, on `http_status_code` / `http_error`):
 * the first `conditions[i].expression` that is true sends the flow to its `nextStepId`; none true →
 * `defaultStepId`, else the step's `next`.
 */
import * as z from 'zod';
import { evaluate } from '../expressions/evaluator';
import { isFlowFailure } from '../errors';
import { failureTypeOf, stepFailure } from '../flow/failures';
import { defineStep } from './types';
import { StepId, Expression } from './common';

/** The configuration of a `Condition` step: `conditions` checked in order, each an expression and the step it leads to, and an optional `defaultStepId`. */
export const ConditionConfig = z.lazy(() =>
  z
    .object({
      conditions: z
        .array(z.object({ expression: Expression, nextStepId: StepId }).strict())
        .min(1)
        .max(100)
        .describe('Checked in order; the first true expression wins'),
      defaultStepId: StepId.optional().describe("Taken when no condition is true (else the step's `next`)"),
    })
    .strict(),
);
/** The configuration of a `Condition` step. */
export type ConditionConfig = z.infer<typeof ConditionConfig>;

/** The `Condition` step type: the first true condition's `nextStepId`, else `defaultStepId`, else `Default`; OnError for an expression that fails. */
export const conditionStep = defineStep<ConditionConfig>({
  type: 'Condition',
  configSchema: ConditionConfig,
  branches: ['OnError'],
  analyze: (c) => ({
    expressions: c.conditions.map((x, i) => ({ path: `conditions[${i}].expression`, source: x.expression })),
    stepRefs: [...c.conditions.map((x, i) => ({ path: `conditions[${i}].nextStepId`, stepId: x.nextStepId })), ...(c.defaultStepId ? [{ path: 'defaultStepId', stepId: c.defaultStepId }] : [])],
  }),
  execute(step, ctx) {
    const { conditions, defaultStepId } = step.configuration;
    for (let i = 0; i < conditions.length; i++) {
      const c = conditions[i]!;
      let value: unknown;
      try {
        value = evaluate(c.expression, ctx.variables, ctx.functions);
      } catch (err) {
        if (!isFlowFailure(err)) throw err;
        return { branch: 'OnError', status: 'FAILED', trace: { error: stepFailure(failureTypeOf(err), err.message) } };
      }
      if (value) return { branch: `conditions[${i}]`, status: 'SUCCEEDED', nextStepId: c.nextStepId };
    }
    return defaultStepId ? { branch: 'defaultStepId', status: 'SUCCEEDED', nextStepId: defaultStepId } : { branch: 'Default', status: 'SUCCEEDED' };
  },
});
