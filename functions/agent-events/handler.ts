/**
 * agent-events Lambda (the custom-event REST API of the agent event stream; shared/agents/agent-events.ts):
 * - `PUT /agents/{agentId}/custom-event?eventName=&persistInMemory=&data=` → 202 `{ delivered, reason? }`
 *   (`data` may come as the body instead, text, for payloads too long for a URL);
 * - `POST /agents/{agentId}/session` → 200 `{ agentId, sessionId, expiresAt }` (join, or extend);
 * - `DELETE /agents/{agentId}/session` → 204 (404 when not joined);
 * - `GET /agents/{agentId}/next-event?timeout=N` (seconds, ≤ 20) → 200 `{ events: [...] }`, a long
 *   poll (409 `AGENT_NOT_JOINED` before joining).
 * Bad parameters are 400 with codes MISSING_PARAMETER, INVALID_PARAMETER, DATA_TOO_LARGE.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { customEventParams, MAX_EVENT_DATA_BYTES, MAX_NEXT_EVENT_TIMEOUT_S } from '#shared/agents/agent-events';
import { httpErrors, intQuery, json, readTextBody, router, type ApiEvent, type ApiResult } from '#shared/api/http';
import { agentIdParam } from '#shared/api/params';
import { fromEnvironment } from '../roots/adapters';
import { agentEventsRoot, type AgentEventsRoot } from './root';
import { NotFoundError } from '#shared/errors';
import { logger, metrics } from '#shared/observability';

/** The `data` of a custom event: the query parameter, else the body as text. */
function dataOf(event: ApiEvent): string | undefined {
  const query = event.queryStringParameters?.['data'];
  if (query !== undefined || event.body === undefined || event.body === '') return query;
  // A body too large for any event is refused at once; customEventParams gives the coded 400 for one that fits a request but not an event.
  return readTextBody(event, 4 * MAX_EVENT_DATA_BYTES);
}

/** The handler over given services (the local server and tests inject theirs). */
export function createAgentEventsHandler(services: () => AgentEventsRoot) {
  const routes = router({
    'PUT /agents/{agentId}/custom-event': async (event) => {
      const q = event.queryStringParameters ?? {};
      const params = customEventParams({ eventName: q['eventName'], persistInMemory: q['persistInMemory'], data: dataOf(event) });
      return json(202, await services().agentEventService.send(agentIdParam(event), params));
    },
    'POST /agents/{agentId}/session': async (event) => json(200, await services().agentEventService.join(agentIdParam(event))),
    'DELETE /agents/{agentId}/session': async (event) => {
      const agentId = agentIdParam(event);
      if (!(await services().agentEventService.leave(agentId))) throw new NotFoundError(`agent '${agentId}' has no session`);
      return { statusCode: 204 };
    },
    'GET /agents/{agentId}/next-event': async (event) => json(200, await services().agentEventService.nextEvents(agentIdParam(event), intQuery(event, 'timeout', { min: 0, max: MAX_NEXT_EVENT_TIMEOUT_S }) ?? 0)),
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

/** The Lambda handler: the agent custom-event routes over the agent-events root built from the environment on first invocation. */
export const handler = createAgentEventsHandler(fromEnvironment(agentEventsRoot));
