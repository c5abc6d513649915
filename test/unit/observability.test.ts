/** Metrics flushed by every invocation: EMF when something was counted, and no empty-metrics warning when nothing was. */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricUnit } from '@aws-lambda-powertools/metrics';

// The test run disables metrics (vitest.config.ts); this file loads the module with them on.
let observability: typeof import('#shared/observability');
beforeAll(async () => {
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.resetModules();
  observability = await import('#shared/observability');
  vi.unstubAllEnvs();
});

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
