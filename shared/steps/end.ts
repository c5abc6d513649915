/**
 * `End`: finishes the flow with an `outcome` (the execution's `branch`, default `Default`), a
 * `status` (default SUCCEEDED) and optional `outputs` assigned first (templates, typed when a
 * value is exactly `{{ expr }}`).
 */
import * as z from 'zod';
import { MAX_VARIABLES_BYTES } from '../budgets';
import { isFlowFailure } from '../errors';
import { failureTypeOf, stepFailure } from '../flow/failures';
import { renderJsonValue, templatesIn } from '../expressions/template';
import { VariableName } from './common';
import { defineStep } from './types';

/** The configuration of an `End` step: its `outcome` (default `Default`), `status` (default SUCCEEDED) and optional `outputs`. */
export const EndConfig = z.lazy(() =>
  z
    .object({
      outcome: z.string().min(1).max(128).default('Default'),
      status: z.enum(['SUCCEEDED', 'FAILED']).default('SUCCEEDED'),
      outputs: z.record(VariableName, z.unknown()).optional(),
    })
    .strict(),
);
/** The configuration of an `End` step, defaults applied. */
export type EndConfig = z.infer<typeof EndConfig>;

/** The `End` step type: renders its `outputs` and ends the flow with its status and outcome (FAILED when an output fails to render). */
export const endStep = defineStep<EndConfig>({
  type: 'End',
  configSchema: EndConfig,
  branches: [],
  analyze: (c) => ({ templates: templatesIn(c.outputs ?? {}, 'outputs'), sets: Object.keys(c.outputs ?? {}) }),
  execute(step, ctx) {
    const c = step.configuration;
    let variables: Record<string, unknown> = {};
    try {
      if (c.outputs) variables = renderJsonValue(c.outputs, ctx.variables, ctx.functions, MAX_VARIABLES_BYTES) as Record<string, unknown>;
    } catch (err) {
      if (!isFlowFailure(err)) throw err;
      return { branch: c.outcome, status: 'FAILED', end: { status: 'FAILED', outcome: c.outcome }, trace: { error: stepFailure(failureTypeOf(err), err.message) } };
    }
    return { branch: c.outcome, status: c.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED', variables, end: { status: c.status, outcome: c.outcome } };
  },
});
