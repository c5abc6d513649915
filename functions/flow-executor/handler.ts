/**
 * flow-executor Lambda: `POST /flows/{flowId}/executions` (optional `Idempotency-Key` header) runs
 * a flow synchronously within its deadline; `GET /executions/{executionId}` reads a record back.
 * A thin middy adapter over {@link ExecutionService}; path parameters are checked first (shared/api/params.ts).
 */
import middy from '@middy/core';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { header, httpErrors, json, readJsonBody, router, type ApiEvent, type ApiResult } from '../../shared/api/http';
import { executionIdParam, flowIdParam } from '../../shared/api/params';
import { servicesFromEnv, type Services } from '../../shared/api/runtime';
import { logger, metrics } from '../../shared/observability';

export function createFlowExecutorHandler(services: () => Services) {
  const routes = router({
    'POST /flows/{flowId}/executions': async (event) => {
      const flowId = flowIdParam(event);
      const result = await services().executionService.start(flowId, readJsonBody(event, { optional: true }), header(event, 'idempotency-key'));
      logger.info('execution finished', { executionId: result.executionId, flowId, status: result.status, branch: result.branch, durationMs: result.durationMs });
      return json(200, result);
    },
    'GET /executions/{executionId}': async (event) => json(200, await services().executionService.get(executionIdParam(event))),
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(logMetrics(metrics))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

export const handler = createFlowExecutorHandler(servicesFromEnv);
