/**
 * `WorkflowExecute` (the Studio Workflow Execute action; docs/architecture.md, "CRM workflows"):
 * runs a workflow of a workflow configuration — a flow of `flowType: Workflow`, as a child
 * execution (a frame on the execution's stack, like a sub-flow) with the payload's fields as its
 * input variables and its declared outputs as the result — within `timeoutMilliSec`.
 *
 * Configuration: `configurationId`, `workflowId` (templates), `workflowPayload` (a JSON string,
 * a `{{ reference }}` to an object, or an object rendered leaf by leaf; it must be a JSON object),
 * `timeoutMilliSec` (default 6000, as the action's documentation suggests), and the names of the
 * output variables (`workflowResultOutput`, `workflowErrorOutput` by default).
 * Branches, as the action lists them: OnSuccess (the workflow succeeded; result = its outputs),
 * OnError (it failed), OnInvalidWorkflow (the configuration has no such workflow, or its flow is
 * gone), OnIntegrationDisabled (the configuration is disabled), OnTimeout (it ran out of
 * `timeoutMilliSec`: it ended TIMED_OUT, or failed on a call cut by its time limit; the calling
 * flow keeps its own deadline), OnValidationFailure (unknown
 * configuration id, or a payload that is not a JSON object), Default. The error variable is
 * `{ code, message }` on every branch but OnSuccess, where it is null.
 */
import * as z from 'zod';
import { isFlowFailure } from '../errors';
import { stepFailure, type FailureType } from '../flow/failures';
import { renderJsonValue, renderText, renderValue, templatesIn } from '../expressions/template';
import { parseUntrustedJson } from '../json';
import { ConfigurationId } from '../ids';
import { workflowConfigurationsService } from '../workflows/workflow-configuration';
import { Template, VariableName } from './common';
import { defineStep, type StepContext, type StepOutcome, type StepResult } from './types';

/** The configuration of a `WorkflowExecute` step: the configuration and workflow ids, the payload, the time limit (`timeoutMilliSec`, ms) and the output variables' names. */
export const WorkflowExecuteConfig = z.lazy(() =>
  z
    .object({
      configurationId: Template.describe('The workflow configuration'),
      workflowId: Template.describe('A workflow of that configuration'),
      workflowPayload: z
        .union([z.string(), z.record(z.string(), z.unknown())])
        .default('{}')
        .describe("The workflow's input variables: a JSON object, as text, a {{ reference }} or an object"),
      timeoutMilliSec: z.number().int().min(1).max(30000).default(6000).describe('How long the workflow may run, ms'),
      workflowResultOutputVarName: VariableName.default('workflowResultOutput'),
      workflowErrorOutputVarName: VariableName.default('workflowErrorOutput'),
    })
    .strict(),
);
/** The configuration of a `WorkflowExecute` step, defaults applied. */
export type WorkflowExecuteConfig = z.infer<typeof WorkflowExecuteConfig>;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A workflow that failed because its time ran out: the last failure in its trace is a `timeout`
 * or `deadline` (its calls end by its deadline less its finish reserve, so it may end on its own
 * timeout route rather than TIMED_OUT).
 */
function ranOutOfTime(child: { trace: ReadonlyArray<{ error?: { type: string } }> }): boolean {
  const lastError = child.trace.findLast((entry) => entry.error !== undefined)?.error;
  return lastError?.type === 'timeout' || lastError?.type === 'deadline';
}

/** The payload as an object of input variables, or why it is not one. */
function payloadOf(config: WorkflowExecuteConfig, ctx: StepContext): Record<string, unknown> | string {
  let value: unknown;
  if (typeof config.workflowPayload !== 'string') value = renderJsonValue(config.workflowPayload, ctx.variables, ctx.functions);
  else {
    value = renderValue(config.workflowPayload, ctx.variables, ctx.functions);
    if (typeof value === 'string') {
      try {
        value = parseUntrustedJson(value);
      } catch (err) {
        return `workflowPayload is not valid JSON: ${(err as Error).message}`;
      }
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'workflowPayload must be a JSON object (its fields are the workflow’s input variables)';
  const bad = Object.keys(value).find((k) => !IDENTIFIER.test(k) || k.length > 128);
  if (bad !== undefined) return `workflowPayload field '${bad.slice(0, 40)}' is not a variable name`;
  return value as Record<string, unknown>;
}

/** The failure type of each `workflowErrorOutput` code (the codes are the output's, the types the taxonomy's). */
const TYPE_OF_CODE: Partial<Record<string, FailureType>> = {
  INVALID_INPUT: 'validation_failure',
  UNKNOWN_CONFIGURATION: 'validation_failure',
  INVALID_PAYLOAD: 'validation_failure',
  INTEGRATION_DISABLED: 'integration_disabled',
  INVALID_WORKFLOW: 'invalid_workflow',
  WORKFLOW_TIMEOUT: 'timeout',
};

/** The `WorkflowExecute` step type: runs the workflow's flow as a child frame within `timeoutMilliSec` (branches in the module's header). */
export const workflowExecuteStep = defineStep<WorkflowExecuteConfig>({
  type: 'WorkflowExecute',
  configSchema: WorkflowExecuteConfig,
  branches: ['OnSuccess', 'OnError', 'OnInvalidWorkflow', 'OnIntegrationDisabled', 'OnTimeout', 'OnValidationFailure'],
  services: [workflowConfigurationsService],
  analyze: (c) => ({
    templates: [
      { path: 'configurationId', text: c.configurationId },
      { path: 'workflowId', text: c.workflowId },
      ...(typeof c.workflowPayload === 'string' ? [{ path: 'workflowPayload', text: c.workflowPayload }] : templatesIn(c.workflowPayload, 'workflowPayload')),
    ],
    sets: [c.workflowResultOutputVarName, c.workflowErrorOutputVarName],
  }),
  async execute(step, ctx): Promise<StepResult> {
    const c = step.configuration;
    const failed = (branch: string, code: string, message: string): StepOutcome => {
      const error = stepFailure(TYPE_OF_CODE[code] ?? 'validation_failure', message);
      return { branch, status: 'FAILED', variables: { [c.workflowResultOutputVarName]: null, [c.workflowErrorOutputVarName]: { code, type: error.type, message } }, trace: { error } };
    };
    let configurationId: string;
    let workflowId: string;
    let payload: Record<string, unknown> | string;
    try {
      configurationId = renderText(c.configurationId, ctx.variables, ctx.functions);
      workflowId = renderText(c.workflowId, ctx.variables, ctx.functions);
      payload = payloadOf(c, ctx);
    } catch (err) {
      if (isFlowFailure(err)) return failed('OnValidationFailure', 'INVALID_INPUT', err.message);
      throw err;
    }
    // An id no configuration can have (empty, too long, odd characters) is unknown without a lookup.
    const configuration = ConfigurationId.safeParse(configurationId).success ? await ctx.services.get(workflowConfigurationsService).get(configurationId) : undefined;
    if (!configuration) return failed('OnValidationFailure', 'UNKNOWN_CONFIGURATION', `workflow configuration '${configurationId.slice(0, 128)}' does not exist`);
    if (!configuration.enabled) return failed('OnIntegrationDisabled', 'INTEGRATION_DISABLED', `workflow configuration '${configurationId}' is disabled`);
    const workflow = Object.hasOwn(configuration.workflows, workflowId) ? configuration.workflows[workflowId] : undefined;
    if (!workflow) return failed('OnInvalidWorkflow', 'INVALID_WORKFLOW', `workflow '${workflowId.slice(0, 128)}' is not one of configuration '${configurationId}'`);
    if (typeof payload === 'string') return failed('OnValidationFailure', 'INVALID_PAYLOAD', payload);
    return { call: { flowId: workflow.flowId, variables: payload, deadlineMs: c.timeoutMilliSec } };
  },
  resume(step, event): Promise<StepOutcome> {
    if (event.kind !== 'child') throw new Error('a WorkflowExecute step is resumed only by its workflow');
    const c = step.configuration;
    const child = event.result;
    const subFlow = { flowId: child.flowId, version: child.flowVersion, status: child.status, trace: child.trace };
    if (child.status === 'SUCCEEDED') {
      return Promise.resolve({ branch: 'OnSuccess', status: 'SUCCEEDED', variables: { [c.workflowResultOutputVarName]: child.variables, [c.workflowErrorOutputVarName]: null }, trace: { subFlow } });
    }
    const [branch, code, message] =
      child.error?.code === 'SUBFLOW_UNAVAILABLE'
        ? ['OnInvalidWorkflow', 'INVALID_WORKFLOW', child.error.message]
        : child.status === 'TIMED_OUT' || ranOutOfTime(child)
          ? ['OnTimeout', 'WORKFLOW_TIMEOUT', `the workflow did not finish within ${c.timeoutMilliSec} ms`]
          : ['OnError', child.error?.code ?? 'WORKFLOW_FAILED', child.error?.message ?? `the workflow ended ${child.status} on ${child.branch}`];
    return Promise.resolve({
      branch,
      status: 'FAILED',
      variables: { [c.workflowResultOutputVarName]: null, [c.workflowErrorOutputVarName]: { code, type: TYPE_OF_CODE[code] ?? 'subflow_failed', message, branch: child.branch } },
      trace: { subFlow, error: stepFailure(TYPE_OF_CODE[code] ?? 'subflow_failed', message) },
    });
  },
});
