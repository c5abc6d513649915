/**
 * Structured logs and EMF metrics (Powertools for AWS Lambda; docs/architecture.md,
 * "Observability"), one instance of each per Lambda. Handlers flush metrics with Powertools'
 * `logMetrics` middleware.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CircuitEvent } from './resilience/circuit-breaker';

export const logger = new Logger({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? 'ivrflow' });
export const metrics = new Metrics({ namespace: 'ivrflow', serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? 'ivrflow' });

/** Logs and counts circuit-breaker events: transitions (`CircuitOpened`, ...) and an unreachable store. */
export function reportCircuitEvent(event: CircuitEvent): void {
  if (event.type === 'transition') {
    logger.warn('circuit state changed', { circuitKey: event.key, from: event.from, to: event.to });
    const name = event.to === 'OPEN' ? (event.from === 'HALF_OPEN' ? 'CircuitReopened' : 'CircuitOpened') : event.to === 'CLOSED' ? 'CircuitClosed' : 'CircuitProbe';
    metrics.addMetric(name, MetricUnit.Count, 1);
  } else {
    logger.warn(`circuit breaker state is unavailable; failing ${event.failOpen ? 'open (calls go through)' : 'closed (calls refused)'}`, {
      circuitKey: event.key,
      error: event.error instanceof Error ? event.error.message : String(event.error),
    });
    metrics.addMetric('CircuitStoreUnavailable', MetricUnit.Count, 1);
  }
}
