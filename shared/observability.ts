/**
 * Structured logs and EMF metrics (Powertools for AWS Lambda; docs/architecture.md,
 * "Observability"), one instance of each per Lambda. Handlers flush metrics with Powertools'
 * `logMetrics` middleware.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { serviceName } from './config/env';
import type { TokenEvent } from './connections/token-provider';
import type { StepMetrics } from './services';
import type { ExecutionResult } from './steps/types';
import type { CircuitEvent } from './resilience/circuit-breaker';

/** The Powertools logger of this function (service name `POWERTOOLS_SERVICE_NAME`, else `ivrflow`). */
export const logger = new Logger({ serviceName: serviceName() });
/** The start of the warning Powertools Metrics gives when an invocation published no metric. */
export const EMPTY_METRICS_WARNING = 'No application metrics to publish';

/**
 * The logger Metrics reports its own problems to: this function's structured logger, without the
 * empty-metrics warning. An invocation that counts nothing (a `GET /flows`) is normal here, and
 * Powertools warns on every one (`throwOnEmptyMetrics: false` only keeps it from throwing).
 */
const metricsLogger = {
  debug: (...content: unknown[]) => logger.debug(String(content[0])),
  info: (...content: unknown[]) => logger.info(String(content[0])),
  warn: (...content: unknown[]) => {
    if (!String(content[0]).startsWith(EMPTY_METRICS_WARNING)) logger.warn(String(content[0]));
  },
  error: (...content: unknown[]) => logger.error(String(content[0])),
};

/** The Powertools EMF metrics of this function, namespace `ivrflow`, flushed by the `logMetrics` middleware of every handler. */
export const metrics = new Metrics({ namespace: 'ivrflow', serviceName: serviceName(), logger: metricsLogger });

/** Step metrics as EMF: `StepErrors` with the dimensions `stepType`, `failureType`, `statusCode` (what the functions provide; in-process runs count nothing). */
export const emfStepMetrics: StepMetrics = {
  failure(stepType, failureType, statusCode) {
    const metric = metrics.singleMetric();
    metric.addDimensions({ stepType, failureType, statusCode: statusCode === null ? 'none' : String(statusCode) });
    metric.addMetric('StepErrors', MetricUnit.Count, 1);
  },
};

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

/**
 * Logs and counts token events: `TokenRefreshed`, `TokenRefreshFailures`, and `TokenScopeDrift`
 * when the server granted fewer scopes than requested (a warning naming the missing scopes).
 * Events never carry a secret or a token.
 */
export function reportTokenEvent(event: TokenEvent): void {
  const about = { tokenSource: event.source, tokenEndpoint: event.tokenEndpoint, clientId: event.clientId, scopes: event.scopes, reason: event.reason };
  if (event.type === 'token_acquired') {
    logger.info('access token refreshed', { ...about, expiresAt: new Date(event.expiresAt).toISOString(), onCallerPath: event.onCallerPath });
    metrics.addMetric('TokenRefreshed', MetricUnit.Count, 1);
    if (event.missingScopes.length > 0) {
      logger.warn('scope drift: the token endpoint granted fewer scopes than requested', { ...about, missingScopes: event.missingScopes });
      metrics.addMetric('TokenScopeDrift', MetricUnit.Count, 1);
    }
  } else {
    logger.error('access token refresh failed', { ...about, error: event.message, usingPreviousToken: event.usingPreviousToken });
    metrics.addMetric('TokenRefreshFailures', MetricUnit.Count, 1);
  }
}

/**
 * A store failure the caller of an execution did not see: its record could not be stored (the
 * whole record, credentials already redacted, goes to the log so that nothing is lost), or its
 * re-dial session could not be read or saved.
 */
export type StoreFailureEvent = { type: 'record_write_failed'; record: ExecutionResult; error: unknown } | { type: 'session_unavailable'; flowId: string; error: unknown };

/** Logs and counts a {@link StoreFailureEvent}: one `record_write_failed` line with the record and `RecordWriteFailures`, or a warning. */
export function reportStoreFailure(event: StoreFailureEvent): void {
  const error = event.error instanceof Error ? `${event.error.name}: ${event.error.message}` : String(event.error);
  if (event.type === 'record_write_failed') {
    logger.error('record_write_failed', { event: 'record_write_failed', executionId: event.record.executionId, flowId: event.record.flowId, record: event.record, error });
    metrics.addMetric('RecordWriteFailures', MetricUnit.Count, 1);
  } else {
    logger.warn('session store unavailable: the call runs without its saved session', { flowId: event.flowId, error });
  }
}

/** How an execution ended, for its metrics (the lifecycle's ending kinds). */
export type EndingKind = 'run' | 'continued' | 'abandoned' | 'engine_failure';

/**
 * What an ended execution publishes (from the execution lifecycle's single finish point):
 * - `Executions` (Count) and `ExecutionDuration` (Milliseconds), each with the dimension sets
 *   {flowId, status} and {status} (Powertools adds `service` to each); never the execution id,
 *   which would make one metric per call;
 * - one audit line per failed step, sub-flows included (`audit: "step_failure"`, executionId,
 *   flowId, flowVersion, stepId (a path `<callingStepId>/<stepId>` inside a sub-flow), errorType (the
 *   failure taxonomy's type), statusCode, bodySha256, attempt, timestamp; statusCode and bodySha256
 *   are left out when there was no response): never a body, never a credential.
 */
export function reportExecutionEnded(result: ExecutionResult): void {
  // One EMF document per execution, with both dimension sets, apart from the invocation's other metrics.
  const execution = new Metrics({ namespace: 'ivrflow', serviceName: serviceName(), logger: metricsLogger });
  execution.addDimensions({ flowId: result.flowId, status: result.status }).addDimensions({ status: result.status });
  execution.addMetric('Executions', MetricUnit.Count, 1);
  execution.addMetric('ExecutionDuration', MetricUnit.Milliseconds, result.durationMs);
  execution.publishStoredMetrics();
  const audit = (trace: ExecutionResult['trace'], flowId: string, flowVersion: number, prefix: string) => {
    for (const entry of trace) {
      const stepId = `${prefix}${entry.stepId}`;
      if (entry.status === 'FAILED' && entry.error)
        logger.warn('step failed', {
          audit: 'step_failure',
          executionId: result.executionId,
          flowId,
          flowVersion,
          stepId,
          errorType: entry.error.type,
          statusCode: entry.statusCode ?? entry.error.statusCode ?? null,
          bodySha256: entry.bodySha256 ?? null,
          attempt: entry.attempts ?? 1,
          timestamp: new Date().toISOString(),
        });
      if (entry.subFlow) audit(entry.subFlow.trace, entry.subFlow.flowId, entry.subFlow.version, `${stepId}/`);
    }
  };
  audit(result.trace, result.flowId, result.flowVersion, '');
}
