/**
 * flow-executor Lambda: `POST /flows/{flowId}/executions` (JSON, or form-urlencoded fields as
 * variables; optional `Idempotency-Key` header or field; `GET` with query parameters for callers
 * limited to GET; `?shape=flat|json&maxBytes=N`, shared/platforms/http-callers.ts) runs
 * a flow within its deadline, to its end or its first wait for a callback (then `status: WAITING`,
 * `waitUntil` and `pollAfterMs`); `GET /executions/{executionId}[?waitMs=N]` reads a record back,
 * with `waitMs` (≤ 10,000) a long poll while the execution waits or runs.
 * A thin middy adapter over {@link ExecutionService}; path parameters are checked first (shared/api/params.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { httpErrors, intQuery, json, router, type ApiEvent, type ApiResult } from '#shared/api/http';
import { readExecutionCall, shapeAnswer } from '#shared/platforms/http-callers';
import { executionIdParam, flowIdParam } from '#shared/api/params';
import { fromEnvironment } from '../roots/adapters';
import { executionRoot, type ExecutionRoot } from '../roots/execution';
import { logger, metrics } from '#shared/observability';

/** The longest long poll, ms: well under API Gateway's 30 s integration timeout. */
export const MAX_LONG_POLL_MS = 10_000;

/** The handler over given services (the local server and tests inject theirs). */
export function createFlowExecutorHandler(services: () => ExecutionRoot) {
  /** Runs a flow for a JSON, form-urlencoded or GET request, and answers in the shape asked for. */
  const execute = async (event: ApiEvent): Promise<ApiResult> => {
    const flowId = flowIdParam(event);
    const call = readExecutionCall(event);
    const result = await services().executionService.start(flowId, call.body, call.idempotencyKey);
    logger.info('execution finished', { executionId: result.executionId, flowId, status: result.status, branch: result.branch, durationMs: result.durationMs });
    return json(200, shapeAnswer(result, call));
  };
  const routes = router({
    'POST /flows/{flowId}/executions': (event) => execute(event),
    'GET /flows/{flowId}/executions': (event) => execute(event),
    'GET /executions/{executionId}': async (event) => json(200, await services().executionService.get(executionIdParam(event), intQuery(event, 'waitMs', { min: 0, max: MAX_LONG_POLL_MS }) ?? 0)),
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

/** The Lambda handler: the execution routes over the execution root built from the environment on first invocation. */
export const handler = createFlowExecutorHandler(fromEnvironment(executionRoot));
