/**
 * The in-process figures: `interpreter` (10 steps, no I/O, vs aws-local-stepfunctions),
 * `http-step` (one HTTPRequest step vs a bare keep-alive `node:http` request mapped by hand) and
 * `open-circuit` (an execution that takes OnCircuitOpen vs a one-step flow without I/O).
 */
import { Agent, request as httpRequest } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlow, type ExecutorDeps } from '#shared/executor/executor';
import { parseFlow } from '#shared/flow/validate';
import { NodeHttpClient } from '#shared/http/client';
import { CircuitBreaker } from '#shared/resilience/circuit-breaker';
import { MemoryCircuitStore } from '#shared/resilience/memory-circuit-store';
import type { Backend } from './backend';
import { emit, interleaved, progress, unmeasured } from './harness';
import { INTERPRETER_EXPECTED, INTERPRETER_INPUT, INTERPRETER_STATE_MACHINE, interpreterFlow, polyfillWithResolvers } from './interpreter';

/** The guide's response mapping (README, "Flow format"), which the HTTP figures apply. */
export const RESPONSE_MAPPING = { tier: '$.data[0].attributes.loyalty_tier', open: '$.data[0].attributes.support_tickets > 0' };

const PHONE = '+12125551234';

function executorDeps(http: NodeHttpClient): ExecutorDeps {
  const circuits = new CircuitBreaker({ store: new MemoryCircuitStore(), clock: systemClock, instanceId: 'bench', cacheTtlMs: 60_000 });
  return { clock: systemClock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined), circuits };
}

/** Throws unless `actual` is `expected`, before anything is measured. */
function check(what: string, actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`${what} gave ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

/** `interpreter`: µs per execution of the 10-step flow vs the same state machine in aws-local-stepfunctions. */
export async function interpreterFigure(): Promise<void> {
  const name = 'interpreter';
  const target = 'ratio <= 0.1 and < 15 µs';
  try {
    polyfillWithResolvers();
    const { StateMachine } = await import('aws-local-stepfunctions');
    const http = new NodeHttpClient();
    const deps = executorDeps(http);
    const flow = await interpreterFlow();
    const machine = new StateMachine(INTERPRETER_STATE_MACHINE as unknown as ConstructorParameters<typeof StateMachine>[0]);
    const ours = await runFlow(flow, { variables: INTERPRETER_INPUT }, deps);
    check('the interpreter flow', { status: ours.status, steps: ours.trace.length, variables: ours.variables }, { status: 'SUCCEEDED', steps: 10, variables: INTERPRETER_EXPECTED });
    check('the state machine', await machine.run(INTERPRETER_INPUT).result, INTERPRETER_EXPECTED);
    const m = await interleaved({ iterations: 1000, ivrflow: () => runFlow(flow, { variables: INTERPRETER_INPUT }, deps), baseline: () => machine.run(INTERPRETER_INPUT).result });
    http.close();
    emit({ name, ivrflow: m.ivrflowUs, baseline: m.baselineUs, unit: 'µs/execution', rounds: m.rounds, target });
  } catch (err) {
    unmeasured(name, 'µs/execution', target, err);
  }
}

/** The floor of one mapped HTTP call: a keep-alive `node:http` GET, the body parsed and mapped by hand. */
function bareMappedGet(agent: Agent, base: string, phone: string): Promise<{ tier: unknown; open: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/v2/accounts?phone=${encodeURIComponent(phone)}`, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: Array<{ attributes?: { loyalty_tier?: unknown; support_tickets?: number } }> };
          const attributes = body.data?.[0]?.attributes;
          resolve({ tier: attributes?.loyalty_tier ?? null, open: (attributes?.support_tickets ?? 0) > 0 });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `http-step`: one HTTPRequest step with the guide's mapping vs the bare mapped request, same loopback server. */
export async function httpStepFigure(backend: Backend): Promise<void> {
  const name = 'http-step';
  const target = 'ratio <= 1.15';
  try {
    const http = new NodeHttpClient({ allowPrivateNetworks: true });
    const deps = executorDeps(http);
    const flow = await parseFlow(
      { id: 'bench-http', name: 'One HTTP step', outputs: ['tier', 'open'], steps: [{ id: 'lookup', type: 'HTTPRequest', configuration: { url: `${backend.url}/v2/accounts?phone={{phone}}`, responseMapping: RESPONSE_MAPPING } }] },
      { allowPrivateHosts: true },
    );
    const agent = new Agent({ keepAlive: true });
    const variables = { phone: PHONE };
    const expected = { tier: 'GOLD', open: true };
    const ours = await runFlow(flow, { variables }, deps);
    check('the HTTP flow', { status: ours.status, variables: ours.variables }, { status: 'SUCCEEDED', variables: expected });
    check('the bare request', await bareMappedGet(agent, backend.url, PHONE), expected);
    const m = await interleaved({ iterations: 200, ivrflow: () => runFlow(flow, { variables }, deps), baseline: () => bareMappedGet(agent, backend.url, PHONE) });
    agent.destroy();
    http.close();
    emit({ name, ivrflow: m.ivrflowUs, baseline: m.baselineUs, unit: 'µs/execution', rounds: m.rounds, target });
  } catch (err) {
    unmeasured(name, 'µs/execution', target, err);
  }
}

/** `open-circuit`: an execution that takes OnCircuitOpen (in-memory circuit store) vs a one-step flow without I/O; no request may reach the backend. */
export async function openCircuitFigure(backend: Backend): Promise<void> {
  const name = 'open-circuit';
  const target = '< 1000 µs, no network call';
  try {
    const http = new NodeHttpClient({ allowPrivateNetworks: true });
    const deps = executorDeps(http);
    const opts = { allowPrivateHosts: true };
    const open = await parseFlow(
      {
        id: 'bench-open',
        name: 'Open circuit',
        steps: [
          {
            id: 'call',
            type: 'HTTPRequest',
            configuration: { url: `${backend.url}/down`, retryPolicy: { maxRetries: 0 }, circuitBreaker: { key: 'bench-down', failureThreshold: 1, cooldownMs: 3_600_000 } },
            branches: { OnCircuitOpen: 'fallback', OnServerError: 'fallback' },
          },
          { id: 'fallback', type: 'End', configuration: { outcome: 'AgentFallback' } },
        ],
      },
      opts,
    );
    const step = await parseFlow({ id: 'bench-step', name: 'One step', steps: [{ id: 'route', type: 'DataAPI', configuration: { operation: 'evaluate', expression: "dtmf == '1' ? 'sales' : 'support'", outputVariable: 'queue' } }] }, opts);
    const first = await runFlow(open, {}, deps); // a 503: the circuit opens
    check('the opening call', { status: first.trace[0]?.statusCode, circuit: first.trace[0]?.circuit?.state }, { status: 503, circuit: 'OPEN' });
    const again = await runFlow(open, {}, deps);
    check('the open-circuit flow', { branch: again.branch, call: again.trace[0]?.branch, statusCode: again.trace[0]?.statusCode ?? null }, { branch: 'AgentFallback', call: 'OnCircuitOpen', statusCode: null });
    const stepResult = await runFlow(step, { variables: { dtmf: '2' } }, deps);
    check('the one-step flow', stepResult.variables, { queue: 'support' });
    const calls = () => ({ connections: backend.connections, requests: backend.requests['/down'] ?? 0 });
    const before = calls();
    const m = await interleaved({ iterations: 300, ivrflow: () => runFlow(open, {}, deps), baseline: () => runFlow(step, { variables: { dtmf: '2' } }, deps) });
    const after = calls();
    http.close();
    const madeCalls = after.requests - before.requests;
    if (madeCalls !== 0) progress(`${name}: ${madeCalls} requests reached the backend while the circuit was open`);
    emit({
      name,
      ivrflow: m.ivrflowUs,
      baseline: m.baselineUs,
      unit: 'µs/execution',
      rounds: m.rounds,
      target,
      note: `requests to the backend while open: ${madeCalls}, new connections: ${after.connections - before.connections}`,
    });
  } catch (err) {
    unmeasured(name, 'µs/execution', target, err);
  }
}
