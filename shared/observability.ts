/**
 * Structured logs and EMF metrics (Powertools for AWS Lambda; docs/operating.md), one instance of
 * each per Lambda. Handlers add the Lambda context to every line (`injectLambdaContext`) and flush
 * metrics on every invocation (`logMetrics`, with the `ColdStart` metric).
 */
import { LogFormatter, Logger, LogItem } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';
import { serviceName } from './config/env';
import type { TokenEvent } from './connections/token-provider';
import { currentLogKeys } from './log-context';
import { METRICS_NAMESPACE, METRICS_SERVICE } from './metric-names';
import { sourceMappedStack } from './source-maps';
import type { ExecutionResult, TraceEntry } from './steps/types';
import type { CircuitEvent } from './resilience/circuit-breaker';

/**
 * Powertools' JSON line (`level`, `message`, `timestamp`, `service`, the Lambda context's
 * `cold_start`, `function_name`, `function_request_id`, ...) plus, inside a step, the execution's
 * keys (`executionId`, `flowId`, `flowVersion`, `contactId`, `stepId`: shared/log-context.ts).
 * An error's stack and location point at the TypeScript sources: frames in the bundle are mapped
 * through its `.map` file (shared/source-maps.ts), since the functions run without
 * `--enable-source-maps`.
 */
class IvrflowLogFormatter extends LogFormatter {
  override formatError(error: Error): LogAttributes {
    const formatted = super.formatError(error);
    if (typeof error.stack !== 'string') return formatted;
    const stack = sourceMappedStack(error.stack);
    if (stack === error.stack) return formatted;
    return { ...formatted, location: this.getCodeLocation(stack), stack: Array.isArray(formatted['stack']) ? stack.split('\n') : stack };
  }

  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const context = attributes.lambdaContext;
    return new LogItem({
      attributes: {
        level: attributes.logLevel,
        message: attributes.message,
        timestamp: this.formatTimestamp(attributes.timestamp),
        service: attributes.serviceName,
        cold_start: context?.coldStart,
        function_arn: context?.invokedFunctionArn,
        function_memory_size: context?.memoryLimitInMB,
        function_name: context?.functionName,
        function_request_id: context?.awsRequestId,
        sampling_rate: attributes.sampleRateValue,
        xray_trace_id: attributes.xRayTraceId,
        ...currentLogKeys(),
      },
    }).addAttributes(additional);
  }
}

/** The Powertools logger of this function (service name `POWERTOOLS_SERVICE_NAME`, else `ivrflow`; level `POWERTOOLS_LOG_LEVEL`). */
export const logger = new Logger({ serviceName: serviceName(), logFormatter: new IvrflowLogFormatter() });
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

const newMetrics = () => new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE, logger: metricsLogger });

/** The Powertools EMF metrics of this function (namespace `ivrflow`, service `ivrflow`), flushed by the `logMetrics` middleware of every handler. */
export const metrics = newMetrics();

/** Logs and counts circuit-breaker events: transitions (`CircuitOpened`, ...) and an unreachable store (`BreakerStoreUnavailable`). */
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
    metrics.addMetric('BreakerStoreUnavailable', MetricUnit.Count, 1);
  }
}

/**
 * Logs and counts token events: `TokenRefreshes`, `TokenRefreshFailures`, and `TokenScopeDrift`
 * when the server granted fewer scopes than requested (a warning naming the missing scopes).
 * Events never carry a secret or a token.
 */
export function reportTokenEvent(event: TokenEvent): void {
  const about = { tokenSource: event.source, tokenEndpoint: event.tokenEndpoint, clientId: event.clientId, scopes: event.scopes, reason: event.reason };
  if (event.type === 'token_acquired') {
    logger.info('access token refreshed', { ...about, expiresAt: new Date(event.expiresAt).toISOString(), onCallerPath: event.onCallerPath });
    metrics.addMetric('TokenRefreshes', MetricUnit.Count, 1);
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
 * The instance {@link publish} writes its documents with: one for the process, not one per
 * document (building a Metrics reads a dozen environment variables; an execution publishes four
 * documents). Safe to share: a document is built and flushed synchronously, and flushing clears
 * its dimensions and values.
 */
const documents = newMetrics();

/** One EMF document: `values` (name → value or values) under every set of `dimensionSets` (plus `service`). */
function publish(dimensionSets: Array<Record<string, string>>, unit: Unit, values: Record<string, number | number[]>): void {
  const doc = documents;
  for (const set of dimensionSets) doc.addDimensions(set);
  for (const [name, value] of Object.entries(values)) for (const v of Array.isArray(value) ? value : [value]) doc.addMetric(name, unit, v);
  doc.publishStoredMetrics();
}

/** Every step of a trace, sub-flows' steps included, with the flow it belongs to and its path. */
function* stepsOf(trace: TraceEntry[], flowId: string, flowVersion: number, prefix = ''): Generator<{ entry: TraceEntry; flowId: string; flowVersion: number; stepId: string }> {
  for (const entry of trace) {
    const stepId = `${prefix}${entry.stepId}`;
    yield { entry, flowId, flowVersion, stepId };
    if (entry.subFlow) yield* stepsOf(entry.subFlow.trace, entry.subFlow.flowId, entry.subFlow.version, `${stepId}/`);
  }
}

/**
 * What an ended execution publishes (from the execution lifecycle's single finish point), in EMF
 * documents of bounded dimensions (never the execution id, never a variable; Powertools adds
 * `service`, always `ivrflow`):
 * - `Executions` (Count) with the sets {flowId, status} and {status};
 * - `ExecutionDuration` (Milliseconds) with {flowId} and {} (service only);
 * - `StepErrors` (Count) per failed step, sub-flows included, with {flowId, errorType} and
 *   {errorType} (`errorType` is the failure taxonomy's type: `http_5xx`, `timeout`, ...);
 * - `StepDuration` (Milliseconds) per step with {stepType};
 * - one audit line per failed step (`audit: "step_failure"`, executionId, flowId, flowVersion,
 *   stepId (a path `<callingStepId>/<stepId>` inside a sub-flow), errorType, statusCode, bodySha256,
 *   attempt, timestamp; statusCode and bodySha256 are left out when there was no response): never
 *   a body, never a credential.
 */
export function reportExecutionEnded(result: ExecutionResult): void {
  const { flowId, status } = result;
  publish([{ flowId, status }, { status }], MetricUnit.Count, { Executions: 1 });
  publish([{ flowId }, {}], MetricUnit.Milliseconds, { ExecutionDuration: result.durationMs });
  const failures = new Map<string, number>();
  const durations = new Map<string, number[]>();
  for (const { entry, flowId: stepFlowId, flowVersion, stepId } of stepsOf(result.trace, flowId, result.flowVersion)) {
    durations.set(entry.type, [...(durations.get(entry.type) ?? []), entry.durationMs]);
    if (entry.status !== 'FAILED' || !entry.error) continue;
    const key = `${stepFlowId}\n${entry.error.type}`;
    failures.set(key, (failures.get(key) ?? 0) + 1);
    logger.warn('step failed', {
      audit: 'step_failure',
      executionId: result.executionId,
      flowId: stepFlowId,
      flowVersion,
      stepId,
      errorType: entry.error.type,
      statusCode: entry.statusCode ?? entry.error.statusCode ?? null,
      bodySha256: entry.bodySha256 ?? null,
      attempt: entry.attempts ?? 1,
      timestamp: new Date().toISOString(),
    });
  }
  for (const [key, count] of failures) {
    const [stepFlowId, errorType] = key.split('\n') as [string, string];
    publish([{ flowId: stepFlowId, errorType }, { errorType }], MetricUnit.Count, { StepErrors: count });
  }
  for (const [stepType, values] of durations) publish([{ stepType }], MetricUnit.Milliseconds, { StepDuration: values });
}
