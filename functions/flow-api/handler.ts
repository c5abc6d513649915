/**
 * flow-api Lambda: `PUT /flows/{flowId}`, `GET /flows/{flowId}[?version=N]`, `GET /flows[?limit=&cursor=]`,
 * `DELETE /flows/{flowId}`, `GET /flows/{flowId}/graph[?format=mermaid|dot|svg&version=N]` (docs/graph.md),
 * `POST /flows/validate[?caller=<name>[:ms]]` (caller fit: docs/caller-fit.md); circuits: `GET /circuits`, `GET /circuits/{key}`
 * (key URL-encoded), `DELETE /circuits/{key}` (operator reset); connections: `PUT /connections/{name}`
 * (201 created / 200 replaced), `GET /connections/{name}`, `GET /connections[?limit=&cursor=]`,
 * `DELETE /connections/{name}` (credentials write-only); workflow configurations:
 * `PUT/GET/DELETE /workflow-configurations/{configurationId}`; operators' history:
 * `GET /flows/{flowId}/versions`, `GET /executions?flowId=&status=&since=&until=&contactId=&limit=&cursor=`
 * (execution search), `GET /audit?since=&until=&kind=&limit=&cursor=` (who changed what; every
 * change above is recorded with the caller's IAM ARN, docs/operating.md). A thin middy adapter over the services;
 * path parameters are checked first (shared/api/params.ts), so a malformed one is a 400.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { auditorOf, httpErrors, intQuery, json, readJsonBody, router, type ApiEvent, type ApiResult } from '#shared/api/http';
import { GRAPH_FORMATS, type GraphFormat } from '#shared/api/flow-graph-service';
import { BadRequestError } from '#shared/errors';
import { circuitKeyParam, configurationIdParam, connectionNameParam, flowIdParam } from '#shared/api/params';
import { fromEnvironment } from '../roots/adapters';
import { flowApiRoot, type FlowApiRoot } from './root';
import { logger, metrics } from '#shared/observability';

/** The handler over given services (the local server and tests inject theirs). */
export function createFlowApiHandler(services: () => FlowApiRoot) {
  const routes = router({
    'PUT /flows/{flowId}': async (event) => {
      const result = await services().flowService.deploy(flowIdParam(event), readJsonBody(event), auditorOf(event));
      return json(result.version === 1 ? 201 : 200, result);
    },
    'GET /flows/{flowId}': async (event) => json(200, await services().flowService.get(flowIdParam(event), intQuery(event, 'version', { min: 1, max: 1e9 }))),
    'GET /flows/{flowId}/graph': async (event) => {
      const { contentType, body } = await services().graphService.graph(flowIdParam(event), graphFormatQuery(event), intQuery(event, 'version', { min: 1, max: 1e9 }));
      return { statusCode: 200, headers: { 'content-type': contentType }, body };
    },
    'GET /flows/{flowId}/versions': async (event) => json(200, await services().flowService.versions(flowIdParam(event), intQuery(event, 'limit', { min: 1, max: 100 }) ?? 25, event.queryStringParameters?.['cursor'])),
    'GET /flows': async (event) => json(200, await services().flowService.list(intQuery(event, 'limit', { min: 1, max: 100 }) ?? 25, event.queryStringParameters?.['cursor'])),
    'DELETE /flows/{flowId}': async (event) => {
      await services().flowService.delete(flowIdParam(event), auditorOf(event));
      return { statusCode: 204 };
    },
    'GET /circuits': async (event) => json(200, await services().circuitService.list(intQuery(event, 'limit', { min: 1, max: 100 }) ?? 25, event.queryStringParameters?.['cursor'])),
    'GET /circuits/{key}': async (event) => json(200, await services().circuitService.get(circuitKeyParam(event))),
    'DELETE /circuits/{key}': async (event) => {
      await services().circuitService.reset(circuitKeyParam(event), auditorOf(event));
      return { statusCode: 204 };
    },
    'PUT /connections/{name}': async (event) => {
      const { connection, created } = await services().connectionService.put(connectionNameParam(event), readJsonBody(event), auditorOf(event));
      return json(created ? 201 : 200, connection);
    },
    'GET /connections/{name}': async (event) => json(200, await services().connectionService.get(connectionNameParam(event))),
    'GET /connections': async (event) => json(200, await services().connectionService.list(intQuery(event, 'limit', { min: 1, max: 100 }) ?? 25, event.queryStringParameters?.['cursor'])),
    'DELETE /connections/{name}': async (event) => {
      await services().connectionService.delete(connectionNameParam(event), auditorOf(event));
      return { statusCode: 204 };
    },
    'PUT /workflow-configurations/{configurationId}': async (event) => {
      const { configuration, created } = await services().workflowConfigurationService.put(configurationIdParam(event), readJsonBody(event), auditorOf(event));
      return json(created ? 201 : 200, configuration);
    },
    'GET /workflow-configurations/{configurationId}': async (event) => json(200, await services().workflowConfigurationService.get(configurationIdParam(event))),
    'DELETE /workflow-configurations/{configurationId}': async (event) => {
      await services().workflowConfigurationService.delete(configurationIdParam(event), auditorOf(event));
      return { statusCode: 204 };
    },
    'GET /executions': async (event) => json(200, await services().historyService.executions(event.queryStringParameters ?? {})),
    'GET /audit': async (event) => json(200, await services().historyService.audit(event.queryStringParameters ?? {})),
    'POST /flows/validate': async (event) => {
      const caller = event.queryStringParameters?.['caller'];
      const report = await services().flowService.check(readJsonBody(event), caller === undefined ? {} : { caller });
      return json(report.valid ? 200 : 422, report);
    },
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

/** `?format=` of the graph route: mermaid (the default), dot or svg. @throws BadRequestError 400 INVALID_PARAMETER */
function graphFormatQuery(event: ApiEvent): GraphFormat {
  const format = event.queryStringParameters?.['format'] ?? 'mermaid';
  if (!Object.hasOwn(GRAPH_FORMATS, format)) throw new BadRequestError('INVALID_PARAMETER', `format must be one of ${Object.keys(GRAPH_FORMATS).join(', ')}; got '${format.slice(0, 40)}'`);
  return format as GraphFormat;
}

/** The Lambda handler: the flow-api routes over its root built from the environment on first invocation. */
export const handler = createFlowApiHandler(fromEnvironment(flowApiRoot));
