/**
 * webhook-callback Lambda: `POST /callbacks/{token}`, the result of an async backend that answered
 * 202 Accepted (shared/api/callback-service.ts). No API authorizer: the token and the Standard
 * Webhooks signature authenticate the sender. Answers 200 `{ status: "resumed" | "duplicate",
 * executionId }`, 202 `{ status: "accepted" }` (an early callback, kept until its execution
 * suspends), or 400, 401, 404, 409, 410, 413 with `{ error: { code, message } }`.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { httpErrors, json, pathParam, readTextBody, router, type ApiEvent, type ApiResult } from '#shared/api/http';
import { fromEnvironment } from '../roots/adapters';
import { executionRoot, type ExecutionRoot } from '../roots/execution';
import { IvrflowError } from '#shared/errors';
import { logger, metrics } from '#shared/observability';

/** The handler over given services (the local server and tests inject theirs). */
export function createWebhookCallbackHandler(services: () => ExecutionRoot) {
  const routes = router({
    'POST /callbacks/{token}': async (event) => {
      const raw = readTextBody(event);
      const headers = event.headers ?? {};
      const answer = await services()
        .callbackService.deliver(pathParam(event, 'token'), raw, headers)
        .catch((err: unknown) => {
          // A refused callback is counted by its code (a bounded set: INVALID_SIGNATURE, CALLBACK_NOT_FOUND, ...).
          if (err instanceof IvrflowError) metrics.singleMetric().addDimensions({ reason: err.code }).addMetric('CallbacksRejected', MetricUnit.Count, 1);
          throw err;
        });
      logger.info('callback delivered', { ...answer, webhookId: headers['webhook-id'] });
      // 202: kept for an execution that has not suspended yet (it continues as soon as it does).
      return json(answer.status === 'accepted' ? 202 : 200, answer);
    },
  });
  return middy<ApiEvent, ApiResult>(routes)
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpErrors((message, error, requestId) => logger.error(message, { error: error as Error, requestId })));
}

/** The Lambda handler: `POST /callbacks/{token}` over the execution root built from the environment on first invocation. */
export const handler = createWebhookCallbackHandler(fromEnvironment(executionRoot));
