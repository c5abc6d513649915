/**
 * token-refresher Lambda, run by an EventBridge schedule every 5 minutes: refreshes the OAuth2
 * tokens that will soon expire (shared/connections/refresher.ts) and logs what it did. Failures
 * of single tokens are logged and counted (`TokenRefreshFailures`), never thrown: a thrown error
 * would make EventBridge retry the whole run.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { fromEnvironment } from '../roots/adapters';
import { tokenRefresherRoot, type TokenRefresherRoot } from './root';
import { refreshTokens, type RefreshSummary } from '#shared/connections/refresher';
import { logger, metrics } from '#shared/observability';
import { checkScheduledEvent, type InvalidEventAnswer } from '#shared/platforms/schedule';

/** The handler over given services (the local server and tests inject theirs). */
export function createTokenRefresherHandler(services: () => TokenRefresherRoot) {
  return middy(async (event: unknown): Promise<RefreshSummary | InvalidEventAnswer> => {
    const invalid = checkScheduledEvent(event, 'token-refresher');
    if (invalid) return invalid;
    const { tokenRegistry, tokens } = services();
    const summary = await refreshTokens(tokenRegistry, tokens);
    logger.info('token refresh run', { ...summary });
    return summary;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** The Lambda handler: scheduled token refresh runs over the token-refresher root built from the environment on first invocation. */
export const handler = createTokenRefresherHandler(fromEnvironment(tokenRefresherRoot));
