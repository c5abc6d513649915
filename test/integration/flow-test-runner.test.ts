/**
 * The flow test runner and `ivrflow test`: each answer form, retries, sub-flow step ids, the
 * matching rules, the virtual clock, determinism, no socket, NO_MOCK, signed callbacks, coverage
 * counted by hand, exit codes and JUnit. Flows and test files are written to a temporary folder
 * and go through the same loading as the CLI.
 */
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cli } from '../support/cli';
import { coverageOf } from '#shared/testing/coverage';
import { jsonReport } from '#shared/testing/report';
import { loadTestFile, runTestFile, type CaseResult, type LoadedTestFile } from '#shared/testing/runner';

let dir: string;
const SIGNING_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A lookup with a retried HTTP step, a Condition and two ends: 4 declared branches, counted in the coverage test. */
const LOOKUP = {
  id: 'lookup',
  name: 'Lookup',
  flowType: 'IVR',
  deadlineMs: 8000,
  outputs: ['tier', 'route'],
  steps: [
    {
      id: 'call',
      type: 'HTTPRequest',
      configuration: {
        url: 'https://crm.example.com/accounts?phone={{phone}}',
        timeout: 2000,
        retryPolicy: { maxRetries: 2, retryOnStatusCodes: [503], retryOnTimeout: true },
        headers: { 'X-Api-Key': '{{key}}' },
        responseMapping: { tier: '$.tier' },
      },
      branches: { OnSuccess: 'route', OnError: 'agent' },
    },
    { id: 'route', type: 'Condition', configuration: { conditions: [{ expression: "tier == 'GOLD'", nextStepId: 'gold' }], defaultStepId: 'agent' } },
    { id: 'gold', type: 'End', configuration: { outcome: 'Gold', outputs: { route: 'gold-queue' } } },
    { id: 'agent', type: 'End', configuration: { outcome: 'Agent', outputs: { route: 'agent-queue' } } },
  ],
};
const PARENT = {
  id: 'parent',
  name: 'Parent',
  flowType: 'IVR',
  steps: [
    { id: 'sub', type: 'SubFlow', configuration: { flowId: 'lookup', passThroughVariables: ['phone', 'key'], returnVariables: ['tier'] }, branches: { OnSuccess: 'done', OnError: 'failed' } },
    { id: 'done', type: 'End', configuration: { outcome: 'Done' } },
    { id: 'failed', type: 'End', configuration: { outcome: 'Failed' } },
  ],
};
const HOLD = {
  id: 'hold',
  name: 'Hold for a callback',
  flowType: 'IVR',
  outputs: ['balance'],
  steps: [
    {
      id: 'ask',
      type: 'HTTPRequest',
      configuration: { url: '/balance', method: 'POST', authentication: { connection: 'crm' }, body: { callback_url: '{{callback_url}}' }, async: { maxWaitMs: 60000, callbackMapping: { balance: '$.amount' } } },
      branches: { OnSuccess: 'done', OnTimeout: 'late' },
    },
    { id: 'done', type: 'End', configuration: { outcome: 'Announced' } },
    { id: 'late', type: 'End', configuration: { outcome: 'Late' } },
  ],
};
const CONNECTION = { baseUrl: 'https://crm.example.com', authentication: { type: 'apiKey', headerName: 'X-API-Key', apiKey: 'test-key' }, webhookSigningSecret: SIGNING_SECRET };

function write(name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

async function load(name: string, test: Record<string, unknown>): Promise<LoadedTestFile> {
  const { loaded, errors } = await loadTestFile(write(name, test));
  expect(errors).toEqual([]);
  return loaded!;
}

async function runOne(name: string, test: Record<string, unknown>): Promise<CaseResult> {
  const result = await runTestFile(await load(name, test));
  return result.cases[0]!;
}

const VARS = { phone: '+14155550100', key: 'k-1' };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-flow-tests-'));
  write('lookup.json', LOOKUP);
  write('parent.json', PARENT);
  write('hold.json', HOLD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('answer forms', () => {
  it('status, headers and body; delayMs moves the virtual clock', async () => {
    const c = await runOne('status.test.json', {
      flow: 'lookup.json',
      cases: [{ name: 'gold', variables: VARS, mocks: { call: { status: 200, delayMs: 700, headers: { 'X-Trace': 't' }, body: { tier: 'GOLD' } } }, expect: { branch: 'Gold', variables: { tier: 'GOLD' } } }],
    });
    expect(c).toMatchObject({ passed: true, status: 'SUCCEEDED', branch: 'Gold', elapsedMs: 700, path: ['call', 'route', 'gold'] });
  });

  it('{ timeout: true } ends each attempt at its timeout; retries consume successive answers, the last repeating', async () => {
    const c = await runOne('timeout.test.json', {
      flow: 'lookup.json',
      cases: [{ name: 't', variables: VARS, mocks: { call: [{ timeout: true }, { status: 503 }] }, expect: { branch: 'Agent', trace: { call: { attempts: 3, statusCode: 503 } } } }],
    });
    expect(c.passed).toBe(true);
    // One timeout (2000 ms) and the backoffs between the three attempts: all virtual.
    expect(c.elapsedMs).toBeGreaterThanOrEqual(2000);
  });

  it('a delay at or over the timeout is a timeout; connection and DNS errors fail the step', async () => {
    const loaded = await load('errors.test.json', {
      flow: 'lookup.json',
      cases: [
        { name: 'slow', variables: VARS, mocks: { call: { status: 200, delayMs: 2000, body: { tier: 'GOLD' } } }, expect: { branch: 'Agent', trace: { call: { error: { type: 'timeout' } } } } },
        { name: 'refused', variables: VARS, mocks: { call: { error: 'ECONNREFUSED' } }, expect: { branch: 'Agent', trace: { call: { error: { type: 'connection' }, attempts: 1 } } } },
        { name: 'dns', variables: VARS, mocks: { call: { error: 'ENOTFOUND' } }, expect: { branch: 'Agent', trace: { call: { error: { type: 'dns' } } } } },
      ],
    });
    const result = await runTestFile(loaded);
    expect(result.cases.map((c) => [c.name, c.passed, c.mismatches])).toEqual([
      ['slow', true, []],
      ['refused', true, []],
      ['dns', true, []],
    ]);
  });

  it('a 202 and a callback: delivered signed at afterMs, verified, mapped; a forged signature is refused and the wait times out', async () => {
    const loaded = await load('hold.test.json', {
      flow: 'hold.json',
      connections: { crm: CONNECTION },
      cases: [
        { name: 'signed', mocks: { ask: { status: 202, callback: { afterMs: 1500, body: { amount: 12 } } } }, expect: { branch: 'Announced', variables: { balance: 12 } } },
        { name: 'forged', mocks: { ask: { status: 202, callback: { afterMs: 1500, body: { amount: 12 }, headers: { 'webhook-signature': 'v1,Zm9yZ2Vk' } } } }, expect: { branch: 'Late' } },
        { name: 'never', mocks: { ask: { status: 202, callback: null } }, expect: { branch: 'Late', trace: { ask: { branch: 'OnTimeout' } } } },
      ],
    });
    const [signed, forged, never] = (await runTestFile(loaded)).cases;
    expect(signed).toMatchObject({ passed: true, elapsedMs: 1500 });
    expect(forged).toMatchObject({ passed: true, branch: 'Late' });
    expect(forged!.notes.join()).toContain('INVALID_SIGNATURE');
    // 60 s of waiting, on the virtual clock.
    expect(never).toMatchObject({ passed: true, elapsedMs: 60000 });
  });

  it('a callback promised to a request that carried no {{callback_url}} fails the case', async () => {
    write('hold-no-url.json', { ...HOLD, id: 'hold-no-url', steps: [{ ...HOLD.steps[0], configuration: { ...HOLD.steps[0]!.configuration, body: { x: 1 } } }, ...HOLD.steps.slice(1)] });
    const c = await runOne('hold-no-url.test.json', { flow: 'hold-no-url.json', connections: { crm: CONNECTION }, cases: [{ name: 'x', mocks: { ask: { status: 202, callback: { afterMs: 10, body: {} } } } }] });
    expect(c.passed).toBe(false);
    expect(c.problems[0]).toMatch(/^NO_CALLBACK_URL: step ask:/);
  });
});

describe('step ids, matching and the virtual clock', () => {
  it('sub-flow steps are <callingStepId>/<stepId> in mocks, path and requests; header names case-insensitive, bodies deep subsets', async () => {
    const c = await runOne('parent.test.json', {
      flow: 'parent.json',
      cases: [
        {
          name: 'sub',
          variables: VARS,
          mocks: { 'sub/call': { status: 200, body: { tier: 'GOLD' } } },
          expect: {
            branch: 'Done',
            path: ['sub', 'sub/call', 'sub/route', 'sub/gold', 'done'],
            requests: { 'sub/call': [{ method: 'get', url: 'https://crm.example.com/accounts?phone=%2B14155550100', headers: { 'x-api-key': 'k-1' } }] },
          },
        },
      ],
    });
    expect(c).toMatchObject({ passed: true, mismatches: [] });
  });

  it('mismatches name their place: a nested variable, the attempt count, a header, the exact path', async () => {
    const c = await runOne('mismatch.test.json', {
      flow: 'lookup.json',
      cases: [
        {
          name: 'wrong',
          variables: VARS,
          mocks: { call: { status: 200, body: { tier: 'SILVER' } } },
          expect: { branch: 'Gold', path: ['call', 'gold'], variables: { tier: 'GOLD' }, error: { code: 'X' }, requests: { call: [{ headers: { 'X-API-KEY': 'other' } }, {}] } },
        },
      ],
    });
    expect(c.passed).toBe(false);
    expect(c.mismatches.map((m) => m.path)).toEqual(['branch', 'path', 'variables.tier', 'error', 'requests["call"].length', 'requests["call"][0].headers.X-API-KEY']);
    expect(c.mismatches[2]).toEqual({ path: 'variables.tier', expected: 'GOLD', actual: 'SILVER' });
  });

  it("the deadline on the virtual clock: a minute of delays ends by the flow's deadline, at once", async () => {
    // Each of three attempts would answer after 20 s of virtual time (a 30 s step timeout): 60 s of delays against an 8 s deadline.
    write('slow-lookup.json', { ...LOOKUP, id: 'slow-lookup', steps: [{ ...LOOKUP.steps[0], configuration: { ...LOOKUP.steps[0]!.configuration, timeout: 30000 } }, ...LOOKUP.steps.slice(1)] });
    const started = Date.now();
    const c = await runOne('deadline.test.json', { flow: 'slow-lookup.json', cases: [{ name: 'slow', variables: VARS, mocks: { call: { status: 200, body: { tier: 'GOLD' }, delayMs: 20000 } } }] });
    expect(c.branch).toBe('Agent');
    expect(c.elapsedMs).toBeGreaterThan(6000);
    expect(c.elapsedMs).toBeLessThanOrEqual(8000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('NO_MOCK names the step and the request, and fails the case', async () => {
    const c = await runOne('nomock.test.json', { flow: 'lookup.json', cases: [{ name: 'none', variables: VARS, expect: { branch: 'Agent' } }] });
    expect(c.passed).toBe(false);
    expect(c.problems).toEqual(['NO_MOCK: step call: GET https://crm.example.com/accounts?phone=%2B14155550100']);
  });

  it('an open circuit refuses the call without a request; half-open lets one probe through', async () => {
    const loaded = await load('circuit.test.json', {
      flow: 'lookup.json',
      cases: [
        { name: 'open', variables: VARS, circuits: { call: 'open' }, mocks: { call: { status: 200 } }, expect: { requests: { call: [] } } },
        { name: 'half-open', variables: VARS, circuits: { call: 'half-open' }, mocks: { call: { status: 200, body: { tier: 'GOLD' } } }, expect: { branch: 'Gold', trace: { call: { circuit: { state: 'CLOSED' } } } } },
      ],
    });
    write('lookup-breaker.json', {
      ...LOOKUP,
      id: 'lookup-breaker',
      steps: [{ ...LOOKUP.steps[0], configuration: { ...LOOKUP.steps[0]!.configuration, circuitBreaker: { failureThreshold: 2, cooldownMs: 1000 } } }, ...LOOKUP.steps.slice(1)],
    });
    const again = await load('circuit-breaker.test.json', { ...loaded.test, flow: 'lookup-breaker.json' });
    const [open, half] = (await runTestFile(again)).cases;
    expect(open).toMatchObject({ passed: true, branch: 'Agent' });
    expect(half).toMatchObject({ passed: true });
  });
});

describe('determinism and isolation', () => {
  it('two runs of a file print byte-identical JSON, and no socket is opened', async () => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    try {
      const test = { flow: 'hold.json', connections: { crm: CONNECTION }, seed: 7, cases: [{ name: 'signed', mocks: { ask: [{ status: 503 }, { status: 202, callback: { afterMs: 900, body: { amount: 3 } } }] } }] };
      const first = await runTestFile(await load('same.test.json', test));
      const second = await runTestFile(await load('same.test.json', test));
      expect(JSON.stringify(jsonReport([first]))).toBe(JSON.stringify(jsonReport([second])));
      const lookup = await runTestFile(await load('same-lookup.test.json', { flow: 'lookup.json', cases: [{ name: 'r', variables: VARS, mocks: { call: [{ status: 503 }, { status: 503 }, { status: 200 }] } }] }));
      const again = await runTestFile(await load('same-lookup.test.json', { flow: 'lookup.json', cases: [{ name: 'r', variables: VARS, mocks: { call: [{ status: 503 }, { status: 503 }, { status: 200 }] } }] }));
      expect(lookup.cases[0]!.elapsedMs).toBe(again.cases[0]!.elapsedMs);
      expect(connect).not.toHaveBeenCalled();
    } finally {
      connect.mockRestore();
    }
  });
});

describe('coverage', () => {
  it('lookup declares 4 branches (call: OnSuccess, OnError; route: conditions[0], defaultStepId): the gold and silver cases cover 3, OnError is missed', async () => {
    const loaded = await load('coverage.test.json', {
      flow: 'lookup.json',
      cases: [
        { name: 'gold', variables: VARS, mocks: { call: { status: 200, body: { tier: 'GOLD' } } } },
        { name: 'silver', variables: VARS, mocks: { call: { status: 200, body: { tier: 'SILVER' } } } },
      ],
    });
    const report = coverageOf([await runTestFile(loaded)], new Map([['lookup', loaded.flow]]));
    expect(report.flows['lookup']).toEqual({
      steps: { total: 4, covered: 4, missed: [] },
      branches: { total: 4, covered: 3, missed: [{ step: 'call', branch: 'OnError', target: 'agent' }] },
    });
  });
});

describe('ivrflow test', () => {
  it('exit 0 when all pass; 1 with a readable diff when one fails; --case runs one; JUnit is written', async () => {
    const file = write('cli.test.json', {
      flow: 'lookup.json',
      cases: [
        { name: 'passes', variables: VARS, mocks: { call: { status: 200, body: { tier: 'GOLD' } } }, expect: { branch: 'Gold' } },
        { name: 'fails', variables: VARS, mocks: { call: { status: 200, body: { tier: 'GOLD' } } }, expect: { branch: 'Agent' } },
      ],
    });
    const only = await cli(['test', file, '--case', 'passes']);
    expect(only.code).toBe(0);
    expect(only.out).toContain('✓ passes (3 steps, 0 ms virtual)');
    expect(only.out).toContain('1 passed, 0 failed (1 file)');
    const xml = join(dir, 'junit.xml');
    const all = await cli(['test', file, '--reporter', 'junit', '--output', xml]);
    expect(all.code).toBe(1);
    expect(all.out).toContain('✗ fails');
    expect(all.out).toContain('branch: expected "Agent", got "Gold"');
    expect(all.out).toContain('path taken: call → route → gold');
    const junit = readFileSync(xml, 'utf8');
    expect(junit.match(/<testsuite /g)).toHaveLength(1);
    expect(junit.match(/<testcase /g)).toHaveLength(2);
    expect(junit.match(/<failure /g)).toHaveLength(1);
    expect(junit).toContain('branch: expected &quot;Agent&quot;, got &quot;Gold&quot;');
    const json = await cli(['test', file, '--json']);
    expect((JSON.parse(json.out) as { passed: number; failed: number }).failed).toBe(1);
  });

  it('exit 2 for an invalid test file (file and JSON path named), an unknown case, or bad usage; exit 1 below --min-branch-coverage', async () => {
    const bad = write('bad.test.json', { flow: 'lookup.json', cases: [{ name: 'x', mockz: {} }] });
    const invalid = await cli(['test', bad]);
    expect(invalid.code).toBe(2);
    expect(invalid.err).toContain(`${bad}: error`);
    expect(invalid.err).toContain('cases[0]');
    expect((await cli(['test', join(dir, 'cli.test.json'), '--case', 'nobody'])).code).toBe(2);
    expect((await cli(['test', dir, '--reporter', 'xml', '--output', 'x'])).code).toBe(2);
    const good = write('cov.test.json', { flow: 'lookup.json', cases: [{ name: 'gold', variables: VARS, mocks: { call: { status: 200, body: { tier: 'GOLD' } } } }] });
    const low = await cli(['test', good, '--min-branch-coverage', '100']);
    expect(low.code).toBe(1);
    expect(low.err).toContain('branch coverage of lookup is 50%, below --min-branch-coverage 100%');
  });
});
