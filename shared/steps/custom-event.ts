/**
 * `CustomEvent` (the Studio CustomEvent action; docs/architecture.md, "Agent custom events"):
 * pushes a named string event to an agent's event stream, which the agent application reads with
 * `GET /agents/{agentId}/next-event`.
 *
 * Configuration: `targetAgent` (default `{{AgentId}}`, the variable the platform fills when an
 * agent answers), `eventName` (1–100 characters, case-sensitive; a later event of the same name
 * replaces one not read yet), `persistInMemory` (default false: an agent that has not joined never
 * gets it), `data` (a template; an object or array is sent as its JSON text, at most 32 KiB).
 * Branches: Default (sent: into the stream, or kept for an agent not joined yet when persisting),
 * OnAgentNotConnected (the agent id is empty, or the agent has not joined and the event does not
 * persist), OnError (a bad agent id or event name, data too large).
 */
import * as z from 'zod';
import { agentEventsService, checkAgentId, customEventParams } from '../agents/agent-events';
import { isFlowFailure } from '../errors';
import { stepFailure, type FailureType } from '../flow/failures';
import { renderJsonValue, renderText, renderValue, templatesIn } from '../expressions/template';
import { Template } from './common';
import { defineStep, type StepContext, type StepOutcome } from './types';

/** The configuration of a `CustomEvent` step: `targetAgent`, `eventName`, `persistInMemory` and `data`. */
export const CustomEventConfig = z.lazy(() =>
  z
    .object({
      targetAgent: Template.default('{{AgentId}}').describe('The agent id; default the AgentId variable'),
      eventName: Template.describe('1–100 characters, case-sensitive; a newer event of the same name replaces an unread one'),
      persistInMemory: z.boolean().default(false).describe('Keep the event (24 h) for an agent that has not joined yet'),
      data: z
        .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())])
        .default('')
        .describe('The payload: a template, or a JSON value rendered leaf by leaf and sent as its JSON text (at most 32 KiB)'),
    })
    .strict(),
);
/** The configuration of a `CustomEvent` step, defaults applied. */
export type CustomEventConfig = z.infer<typeof CustomEventConfig>;

/** The data as the string the event carries. */
function dataOf(config: CustomEventConfig, ctx: StepContext): string {
  if (typeof config.data !== 'string') return JSON.stringify(renderJsonValue(config.data, ctx.variables, ctx.functions));
  const value = renderValue(config.data, ctx.variables, ctx.functions);
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
}

/** The `CustomEvent` step type: sends the event through the `agentEvents` service; branches Default, OnAgentNotConnected, OnError. */
export const customEventStep = defineStep<CustomEventConfig>({
  type: 'CustomEvent',
  configSchema: CustomEventConfig,
  branches: ['OnAgentNotConnected', 'OnError'],
  services: [agentEventsService],
  analyze: (c) => ({
    templates: [{ path: 'targetAgent', text: c.targetAgent }, { path: 'eventName', text: c.eventName }, ...(typeof c.data === 'string' ? [{ path: 'data', text: c.data }] : templatesIn(c.data, 'data'))],
  }),
  async execute(step, ctx): Promise<StepOutcome> {
    const c = step.configuration;
    const failed = (branch: string, type: FailureType, message: string): StepOutcome => ({ branch, status: 'FAILED', trace: { error: stepFailure(type, message) } });
    let agentId: string;
    let params: ReturnType<typeof customEventParams>;
    try {
      agentId = renderText(c.targetAgent, ctx.variables, ctx.functions).trim();
      if (agentId === '') return failed('OnAgentNotConnected', 'agent_not_connected', 'the target agent id is empty (no agent has answered yet?)');
      checkAgentId(agentId);
      params = customEventParams({ eventName: renderText(c.eventName, ctx.variables, ctx.functions), data: dataOf(c, ctx), persistInMemory: String(c.persistInMemory) });
    } catch (err) {
      if (isFlowFailure(err)) return failed('OnError', 'invalid_request', err.message);
      throw err;
    }
    const sent = await ctx.services.get(agentEventsService).send(agentId, params);
    if (sent.reason === 'AGENT_NOT_JOINED_DROPPED') return failed('OnAgentNotConnected', 'agent_not_connected', `agent '${agentId}' has not joined and the event does not persist; it was dropped`);
    return { branch: 'Default', status: 'SUCCEEDED' };
  },
});
