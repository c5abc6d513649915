/**
 * wait-sweeper Lambda, run by an EventBridge schedule every minute: every execution still WAITING
 * past its wait's deadline takes its timeout branch and continues (a poll of the execution does
 * the same, whichever comes first; the claim makes it happen once), and every execution whose
 * resumer died mid-way (its claim's lease expired) ends FAILED. Failures of single executions are
 * logged, never thrown: a thrown error would make EventBridge retry the whole run.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { fromEnvironment } from '../roots/adapters';
import { executionRoot, type ExecutionRoot } from '../roots/execution';
import { logger, metrics } from '#shared/observability';
import { checkScheduledEvent } from '#shared/platforms/schedule';

/** Executions handled per run (the next run takes the rest). */
const PER_RUN = 100;
/** The longest continuation (a flow's deadline is at most 30 s), plus a margin, ms. */
const CONTINUATION_MARGIN_MS = 35_000;

/** The handler over given services (the local server and tests inject theirs). */
export function createWaitSweeperHandler(services: () => ExecutionRoot) {
  return middy(async (event: unknown, context: Context) => {
    const invalid = checkScheduledEvent(event, 'wait-sweeper');
    if (invalid) return invalid;
    // No new continuation starts when one more could outlive the function (a flow runs up to 30 s).
    const summary = await services().executionService.sweepWaits(PER_RUN, context.getRemainingTimeInMillis() - CONTINUATION_MARGIN_MS);
    if (summary.timedOut > 0) metrics.addMetric('WaitsTimedOut', MetricUnit.Count, summary.timedOut);
    if (summary.failed.length > 0) logger.warn('wait sweep failures', { failed: summary.failed });
    logger.info('wait sweep run', { due: summary.due, timedOut: summary.timedOut, abandoned: summary.abandoned, failed: summary.failed.length });
    return summary;
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** The Lambda handler: scheduled wait sweeps over the execution root built from the environment on first invocation. */
export const handler = createWaitSweeperHandler(fromEnvironment(executionRoot));
