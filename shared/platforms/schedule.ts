/**
 * The events of the scheduled functions (token-refresher, wait-sweeper): what an EventBridge
 * schedule sends ("Amazon EventBridge User Guide: Creating a rule that runs on a schedule", the
 * `Scheduled Event` detail type), or an empty object from a manual invocation (`ivrflow serve`'s
 * timers, `aws lambda invoke`). Anything else is refused with a coded answer, never run.
 */
import * as z from 'zod';

const ScheduledEvent = z.lazy(() => z.union([z.object({}).strict(), z.object({ 'detail-type': z.literal('Scheduled Event'), source: z.enum(['aws.events', 'aws.scheduler']) }).passthrough()]));

/** The answer of a scheduled function to an event that is not a schedule's. */
export interface InvalidEventAnswer {
  statusCode: 400;
  error: { code: 'INVALID_EVENT'; message: string };
}

/** Checks a scheduled function's event. @returns undefined for a schedule's (or an empty) event, else the coded answer */
export function checkScheduledEvent(event: unknown, functionName: string): InvalidEventAnswer | undefined {
  if (event === undefined || event === null || ScheduledEvent.safeParse(event).success) return undefined;
  return { statusCode: 400, error: { code: 'INVALID_EVENT', message: `${functionName} runs on a schedule: its event must be an EventBridge Scheduled Event or {}` } };
}
