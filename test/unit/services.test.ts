import { describe, expect, it } from 'vitest';
import { FakeClock, type Randomness } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import type { HttpClient } from '#shared/http/client';
import { clockService, defineService, ServiceContainer, stepMetricsService, type StepMetrics } from '#shared/services';
import { parsed } from '../support/flows';

describe('step services', () => {
  it('a service is built once, on first use, from its default factory; provide overrides it; a child falls back to its parent', () => {
    let built = 0;
    const counter = defineService('counter', () => ({ id: ++built }));
    const root = new ServiceContainer();
    expect(built).toBe(0);
    expect(root.get(counter)).toBe(root.get(counter));
    expect(built).toBe(1);
    const child = new ServiceContainer(root).provide(clockService, new FakeClock(5));
    expect(child.get(counter)).toBe(root.get(counter));
    expect(child.get(clockService).now()).toBe(5);
    expect(new ServiceContainer().provide(counter, { id: 99 }).get(counter)).toEqual({ id: 99 });
  });

  it('step metrics (a service added without touching the executor or the wiring) count HTTP failures by class and status code', async () => {
    const recorded: Array<[string, string, number | null]> = [];
    const recording: StepMetrics = { failure: (...args) => void recorded.push(args) };
    const http: HttpClient = { send: () => Promise.resolve({ kind: 'response', status: 503, headers: {}, body: Buffer.from('') }) };
    const randomness: Randomness = { id: () => 'e', random: () => 0.5 };
    const flow = await parsed([{ id: 'call', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x' } }]);
    const services = new ServiceContainer().provide(stepMetricsService, recording);
    await runFlow(flow, {}, { clock: new FakeClock(0), randomness, http, resolveFlow: () => Promise.resolve(undefined), services });
    expect(recorded).toEqual([['HTTPRequest', 'http_5xx', 503]]);
  });
});
