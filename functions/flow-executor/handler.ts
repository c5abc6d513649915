/**
 * flow-executor Lambda: `POST /flows/{flowId}/executions` (optional `Idempotency-Key` header) runs
 * a flow within its deadline, to its end or its first wait for a callback (then `status: WAITING`,
 * `waitUntil` and `pollAfterMs`); `GET /executions/{executionId}[?waitMs=N]` reads a record back,
 * with `waitMs` (≤ 10,000) a long poll while the execution waits or runs.
 * A thin middy adapter over {@link ExecutionService}; path parameters are checked first (shared/api/params.ts).
 */
import middy from '@middy/core';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { header, httpErrors, intQuery, json, readJsonBody, router, type ApiEvent, type ApiResult } from '../../shared/api/http';
import { executionIdParam, flowIdParam } from '../../shared/api/params';
import { servicesFromEnv, type Services } from '../../shared/api/runtime';
import { logger, metrics } from '../../shared/observability';

/** The longest long poll, ms: well under API Gateway's 30 s integration timeout. */
export const MAX_LONG_POLL_MS = 10_000;

export function createFlowExecutorHandler(services: () => Services) {
  const routes = router({
    'POST /flows/{flowId}/executions': async (event) => {
      const flowId = flowIdParam(event);
      const result = await services().executionService.start(flowId, readJsonBody(event, { optional: true }), header(event, 'idempotency-key'));
      logger.info('execution finished', { executionId: result.executionId, flowId, status: result.status, branch: result.branch, durationMs: result.durationMs });
      return json(200, result);
    },
    'GET /executions/{executionId}': async (event) => json(200, await services().executionService.get(executionIdParam(event), intQuery(event, 'waitMs', { min: 0, max: MAX_LONG_POLL_MS }) ?? 0)),
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(logMetrics(metrics))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

export const handler = createFlowExecutorHandler(servicesFromEnv);
