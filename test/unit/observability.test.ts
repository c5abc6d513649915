/** Metrics flushed by every invocation: EMF when something was counted, and no empty-metrics warning when nothing was. */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

// The test run disables metrics and logs only errors (vitest.config.ts); this file loads the module with metrics on and INFO logs.
let observability: typeof import('#shared/observability');
beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  // As Lambda sets it for an on-demand execution environment (Powertools counts cold starts only then).
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand');
  vi.resetModules();
  observability = await import('#shared/observability');
});
// Single metrics are built when published: the environment stays as stubbed until the file ends.
afterAll(() => vi.unstubAllEnvs());

function captured(): { text: () => string } {
  const lines: string[] = [];
  const capture = (chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  return { text: () => lines.join('') };
}

afterEach(() => vi.restoreAllMocks());

describe('metrics', () => {
  it('an invocation that counted nothing publishes nothing and warns nothing', () => {
    const { metrics, EMPTY_METRICS_WARNING } = observability;
    const out = captured();
    metrics.publishStoredMetrics();
    expect(out.text()).not.toContain(EMPTY_METRICS_WARNING);
    expect(out.text()).not.toContain('"_aws"');
  });

  it('one that counted something writes one EMF document in the ivrflow namespace', () => {
    const { metrics } = observability;
    const out = captured();
    metrics.addMetric('CircuitOpened', MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    const emf = JSON.parse(
      out
        .text()
        .trim()
        .split('\n')
        .find((l) => l.includes('"_aws"'))!,
    ) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string }> }> }; CircuitOpened: number };
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'ivrflow', Metrics: [{ Name: 'CircuitOpened' }] });
    expect(emf.CircuitOpened).toBe(1);
  });
});

describe('reportExecutionEnded', () => {
  const failed = {
    executionId: 'e-1',
    flowId: 'customer-lookup-ivr',
    flowVersion: 3,
    status: 'SUCCEEDED' as const,
    branch: 'AgentFallback',
    variables: {},
    startedAt: '2026-12-04T00:00:00.000Z',
    durationMs: 812,
    trace: [
      {
        stepId: 'subflow-integration',
        type: 'SubFlow',
        branch: 'OnError',
        status: 'FAILED' as const,
        durationMs: 800,
        error: { type: 'http_5xx' as const, message: 'the sub-flow ended FAILED', retryable: false },
        subFlow: {
          flowId: 'crm-integration',
          version: 7,
          status: 'FAILED' as const,
          trace: [
            {
              stepId: 'http-customer-lookup',
              type: 'HTTPRequest',
              branch: 'OnServerError',
              status: 'FAILED' as const,
              durationMs: 790,
              statusCode: 503,
              attempts: 3,
              bodySha256: 'ab'.repeat(32),
              error: { type: 'http_5xx' as const, message: 'HTTP 503', retryable: true, statusCode: 503 },
            },
          ],
        },
      },
      { stepId: 'agent-fallback', type: 'End', branch: 'AgentFallback', status: 'SUCCEEDED' as const, durationMs: 0 },
    ],
  };

  type Emf = { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> }; [k: string]: unknown };
  const emfOf = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l) as Emf);
  /** The document that holds `metric`. */
  const withMetric = (blobs: Emf[], metric: string) => blobs.filter((b) => b._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === metric));

  it('publishes Executions by {flowId, status} and {status}, ExecutionDuration by {flowId} and service alone, StepErrors by {flowId, errorType} and {errorType}, StepDuration by {stepType}; service ivrflow; never an execution id', () => {
    const out = captured();
    observability.reportExecutionEnded(failed);
    const blobs = emfOf(out.text());
    for (const blob of blobs) {
      expect(blob._aws.CloudWatchMetrics[0]!.Namespace).toBe('ivrflow');
      expect(blob['service']).toBe('ivrflow');
      expect(JSON.stringify(blob)).not.toContain('e-1');
    }
    const [executions] = withMetric(blobs, 'Executions');
    expect(executions!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'flowId', 'status'],
      ['service', 'status'],
    ]);
    expect(executions).toMatchObject({ flowId: 'customer-lookup-ivr', status: 'SUCCEEDED', Executions: 1 });
    const [duration] = withMetric(blobs, 'ExecutionDuration');
    expect(duration!._aws.CloudWatchMetrics[0]).toMatchObject({ Dimensions: [['service', 'flowId'], ['service']], Metrics: [{ Name: 'ExecutionDuration', Unit: 'Milliseconds' }] });
    expect(duration).toMatchObject({ ExecutionDuration: 812 });
    // The SubFlow step and the sub-flow's HTTP step failed: one document per flow and error type.
    const stepErrors = withMetric(blobs, 'StepErrors');
    expect(stepErrors.map((b) => [b['flowId'], b['errorType'], b['StepErrors']])).toEqual([
      ['customer-lookup-ivr', 'http_5xx', 1],
      ['crm-integration', 'http_5xx', 1],
    ]);
    expect(stepErrors[0]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'flowId', 'errorType'],
      ['service', 'errorType'],
    ]);
    const stepDurations = withMetric(blobs, 'StepDuration');
    expect(Object.fromEntries(stepDurations.map((b) => [b['stepType'], b['StepDuration']]))).toEqual({ SubFlow: 800, HTTPRequest: 790, End: 0 });
    expect(stepDurations[0]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'stepType']]);
  });

  it('writes one audit line per failed step, sub-flows included, with the failure taxonomy type and the body hash only', () => {
    const out = captured();
    observability.reportExecutionEnded(failed);
    const audits = out
      .text()
      .split('\n')
      .filter((l) => l.includes('"audit"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audits).toHaveLength(2);
    expect(audits[1]).toMatchObject({
      audit: 'step_failure',
      executionId: 'e-1',
      flowId: 'crm-integration',
      flowVersion: 7,
      stepId: 'subflow-integration/http-customer-lookup',
      errorType: 'http_5xx',
      statusCode: 503,
      bodySha256: 'ab'.repeat(32),
      attempt: 3,
    });
    expect(audits[0]).toMatchObject({ flowId: 'customer-lookup-ivr', flowVersion: 3, stepId: 'subflow-integration', errorType: 'http_5xx', attempt: 1 });
    // No response, no hash: the logger leaves out null fields.
    expect(audits[0]).not.toHaveProperty('bodySha256');
    for (const a of audits) expect(Date.parse(a['timestamp'] as string)).not.toBeNaN();
    expect(out.text()).not.toContain('HTTP 503');
  });
});

describe('log lines inside a step', () => {
  it('carry the execution and step keys of their own async context, never of a concurrent one', async () => {
    const { withLogKeys } = await import('#shared/log-context');
    const out = captured();
    const step = (executionId: string, delayMs: number) =>
      withLogKeys(
        () => ({ executionId, flowId: 'f', flowVersion: 2, contactId: `c-${executionId}`, stepId: 'lookup' }),
        async () => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          observability.logger.warn('inside', { n: executionId });
        },
      );
    await Promise.all([step('e-a', 20), step('e-b', 5)]);
    observability.logger.warn('outside');
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const inside = lines.filter((l) => l['message'] === 'inside');
    expect(inside).toHaveLength(2);
    for (const line of inside) expect(line).toMatchObject({ executionId: line['n'], flowId: 'f', flowVersion: 2, contactId: `c-${String(line['n'])}`, stepId: 'lookup', service: expect.any(String) as unknown });
    expect(lines.find((l) => l['message'] === 'outside')).not.toHaveProperty('executionId');
  });
});

describe('a handler (middy with injectLambdaContext and logMetrics)', () => {
  it('counts its cold start once (the first invocation), by function name, without an empty-metrics warning', async () => {
    const { createFlowApiHandler } = await import('../../functions/flow-api/handler');
    const { lambdaContext } = await import('#shared/local/api-server');
    const handler = createFlowApiHandler(() => {
      throw new Error('no route reaches the services here');
    });
    const event = { version: '2.0', routeKey: '$default', rawPath: '/nowhere', requestContext: { http: { method: 'GET', path: '/nowhere' }, requestId: 'r-1' }, headers: {}, isBase64Encoded: false };
    const out = captured();
    for (const requestId of ['req-1', 'req-2']) expect(await handler(event as never, lambdaContext('FlowApi', requestId))).toMatchObject({ statusCode: 404 });
    const docs = out
      .text()
      .trim()
      .split('\n')
      .filter((l) => l.includes('"ColdStart"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(docs).toEqual([expect.objectContaining({ ColdStart: 1, function_name: 'FlowApi', service: 'ivrflow' })]);
    expect(out.text()).not.toContain(observability.EMPTY_METRICS_WARNING);
  });
});
