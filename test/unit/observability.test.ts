/** Metrics flushed by every invocation: EMF when something was counted, and no empty-metrics warning when nothing was. */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

// The test run disables metrics (vitest.config.ts); this file loads the module with them on.
let observability: typeof import('#shared/observability');
beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
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

  it('publishes Executions and ExecutionDuration by {flowId, status} and {status}, never by execution id', () => {
    const out = captured();
    observability.reportExecutionEnded(failed);
    const blobs = out
      .text()
      .split('\n')
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l) as { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> }; [k: string]: unknown });
    expect(blobs).toHaveLength(1);
    expect(blobs[0]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'flowId', 'status'],
      ['service', 'status'],
    ]);
    for (const blob of blobs) {
      expect(blob._aws.CloudWatchMetrics[0]!.Metrics).toEqual([
        { Name: 'Executions', Unit: 'Count' },
        { Name: 'ExecutionDuration', Unit: 'Milliseconds' },
      ]);
      expect(blob).toMatchObject({ status: 'SUCCEEDED', Executions: 1, ExecutionDuration: 812 });
      expect(JSON.stringify(blob._aws)).not.toContain('executionId');
    }
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
