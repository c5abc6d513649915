/**
 * wait-sweeper Lambda, run by an EventBridge schedule every minute: every execution still WAITING
 * past its wait's deadline takes its timeout branch and continues (a poll of the execution does
 * the same, whichever comes first; the claim makes it happen once). Failures of single executions
 * are logged and left for the next run, never thrown: a thrown error would make EventBridge retry
 * the whole run.
 */
import middy from '@middy/core';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { servicesFromEnv, type Services } from '../../shared/api/runtime';
import { logger, metrics } from '../../shared/observability';

/** Executions handled per run (the next run takes the rest). */
const PER_RUN = 100;

/** The handler over given services (the local server and tests inject theirs). */
export function createWaitSweeperHandler(services: () => Services) {
  return middy(async () => {
    const summary = await services().executionService.sweepWaits(PER_RUN);
    if (summary.failed.length > 0) logger.warn('wait sweep failures', { failed: summary.failed });
    logger.info('wait sweep run', { due: summary.due, timedOut: summary.timedOut, failed: summary.failed.length });
    return summary;
  }).use(logMetrics(metrics));
}

export const handler = createWaitSweeperHandler(servicesFromEnv);
