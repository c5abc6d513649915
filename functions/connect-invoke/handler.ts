/**
 * connect-invoke Lambda: the function Amazon Connect's "Invoke AWS Lambda function" block calls
 * with a `ContactFlowEvent` (shared/platforms/connect.ts). Answers a STRING_MAP (or JSON with
 * `Parameters.responseType` JSON) under 32 KB; caller mistakes are coded answers, not errors.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { fromEnvironment } from '../roots/adapters';
import { executionRoot, type ExecutionRoot } from '../roots/execution';
import { logger, metrics } from '#shared/observability';
import { invokeFromConnect } from '#shared/platforms/connect';

/** The handler over given services (the local server and tests inject theirs). */
export function createConnectInvokeHandler(services: () => ExecutionRoot) {
  return middy(async (event: unknown, context: Context) => {
    const answer = await invokeFromConnect(services().executionService, event, context.getRemainingTimeInMillis());
    logger.info('connect invocation', { status: answer['ivrflow_status'], branch: answer['ivrflow_branch'], executionId: answer['ivrflow_execution_id'], error: answer['ivrflow_error'] });
    return answer;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** The Lambda handler: Amazon Connect invocations over the execution root built from the environment on first invocation. */
export const handler = createConnectInvokeHandler(fromEnvironment(executionRoot));
