import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliProcess as cli } from '../support/cli';
import { folderResolver } from '#shared/flow/files';
import { DEMO_API_KEY, startCrmServer, type CrmServer } from '../../examples/backends/crm-server';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import { NodeHttpClient } from '#shared/http/client';

const root = fileURLToPath(new URL('../..', import.meta.url));
const flowsDir = `${root}/examples/flows`;
let crm: CrmServer;
const http = new NodeHttpClient({ allowPrivateNetworks: true });

beforeAll(async () => {
  crm = await startCrmServer({ slowMs: 5000 });
});
afterAll(async () => {
  http.close();
  await crm.close();
});

async function callIvr(dtmf: string, extra: Record<string, unknown> = {}) {
  const { resolve } = await folderResolver(flowsDir, true);
  const flow = (await resolve('customer-lookup-ivr'))!;
  return runFlow(flow, { variables: { dtmf_input: dtmf, crm_base_url: crm.url, api_key_variable: DEMO_API_KEY, ...extra } }, { clock: systemClock, randomness: systemRandomness, http, resolveFlow: resolve });
}

describe('example flows against the sample CRM', () => {
  it('a known PLATINUM caller is found, a ticket is opened, and routed to the priority queue', async () => {
    const before = crm.tickets.size;
    const result = await callIvr('(212) 555-1234');
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'PriorityQueue' });
    expect(result.variables).toMatchObject({ integration_status: 'FOUND', formatted_phone: '+12125551234', loyalty_tier: 'PLATINUM', has_open_tickets: true, case_number: expect.stringMatching(/^CS-/) as unknown });
    expect(crm.tickets.size).toBe(before + 1);
    const ticket = [...crm.tickets.values()].at(-1);
    expect(ticket).toEqual({ account_id: 'ACC-1001', phone: '+12125551234', priority: 'HIGH', source: 'IVR_AUTO' });
  });

  it('an unknown caller ({"data": []}) maps to nulls and is asked again', async () => {
    const result = await callIvr('3125550000');
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'AskAgain', variables: { integration_status: 'NO_MATCH', customer_profile: null, has_open_tickets: false } });
  });

  it.each([
    ['2125550503', 'BACKEND_UNAVAILABLE', 3],
    ['2125550401', 'AUTH_FAILED', 1],
    ['2125550404', 'NOT_FOUND', 1],
  ])('the error router sends %s to %s (attempts %i)', async (dtmf, integrationStatus, attempts) => {
    const result = await callIvr(dtmf);
    expect(result.variables['integration_status']).toBe(integrationStatus);
    const lookup = result.trace[0]!.subFlow!.trace.find((t) => t.stepId === 'http-customer-lookup')!;
    expect(lookup.attempts).toBe(attempts);
  });

  it('a wrong API key is a 401 routed to the auth branch, then the agent fallback', async () => {
    const result = await callIvr('2125551234', { api_key_variable: 'wrong' });
    expect(result).toMatchObject({ branch: 'AgentFallback', variables: { integration_status: 'AUTH_FAILED', route: 'general-agent-queue' } });
  });

  it('a slow CRM is cut off before the deadline: the sub-flow routes its timeout and the caller goes to an agent', async () => {
    const result = await callIvr('2125550900');
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'AgentFallback' });
    const lookup = result.trace[0]!.subFlow!.trace.find((t) => t.stepId === 'http-customer-lookup')!;
    expect(lookup).toMatchObject({ status: 'FAILED', error: { type: 'timeout' } });
    // The sub-flow's calls end by its deadline less its finish reserve, so its own error route ran too.
    expect(result.trace[0]!.subFlow!.status).not.toBe('TIMED_OUT');
  });

  it('bad DTMF never reaches the CRM', async () => {
    const hits = crm.hits.get('GET /v2/accounts') ?? 0;
    const result = await callIvr('12#');
    expect(result.variables['integration_status']).toBe('INVALID_PHONE');
    expect(crm.hits.get('GET /v2/accounts') ?? 0).toBe(hits);
  });
});

describe('the ivrflow CLI', () => {
  it('run --json prints exactly one JSON object: the result of a real HTTP exchange', async () => {
    const r = await cli(['run', 'examples/flows/customer-lookup-ivr.json', '--var', 'dtmf_input=2125551234', '--var', `crm_base_url=${crm.url}`, '--var', `api_key_variable=${DEMO_API_KEY}`, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as { status: string; branch: string; trace: Array<{ subFlow?: { trace: Array<{ stepId: string; statusCode?: number }> } }> };
    expect(result).toMatchObject({ status: 'SUCCEEDED', branch: 'PriorityQueue' });
    expect(result.trace[0]!.subFlow!.trace.find((t) => t.stepId === 'http-customer-lookup')!.statusCode).toBe(200);
  });

  it('run prints a trace table and exits 1 when the flow fails', async () => {
    const r = await cli(['run', 'examples/flows/crm-integration.json', '--var', 'dtmf_input=2125550503', '--var', `crm_base_url=${crm.url}`, '--var', `api_key_variable=${DEMO_API_KEY}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/http-customer-lookup\s+HTTPRequest\s+OnError\s+FAILED\s+\d+\s+503\s+3/);
    expect(r.stdout).toMatch(/status: FAILED\s+branch: BackendUnavailable/);
  });

  it('run exits 2 on an invalid flow and on bad arguments', async () => {
    expect((await cli(['run', 'test/fixtures/broken-flow.json'])).code).toBe(2);
    expect((await cli(['run', 'examples/flows/crm-integration.json', '--var', 'novalue'])).code).toBe(2);
    expect((await cli(['run'])).code).toBe(2);
  });

  it('validate accepts the examples and rejects a broken flow with every problem coded', async () => {
    expect((await cli(['validate', 'examples/flows/customer-lookup-ivr.json', 'examples/flows/crm-integration.json'])).code).toBe(0);
    const r = await cli(['validate', '--json', 'test/fixtures/broken-flow.json', 'test/fixtures/missing.json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { valid: boolean; files: Array<{ file: string; errors: Array<{ code: string; path: string }> }> };
    expect(report.valid).toBe(false);
    expect(report.files[0]!.errors.map((e) => `${e.code} ${e.path}`).sort()).toEqual(
      [
        'PRIVATE_HOST steps[0].configuration.url',
        'OUT_OF_BOUNDS steps[0].configuration.timeout',
        'LITERAL_SECRET steps[0].configuration.authentication.headerValue',
        'BAD_JSONPATH steps[0].configuration.responseMapping.profile',
        'MISSING_STEP steps[0].branches.OnError',
        'BAD_EXPRESSION steps[1].configuration.conditions[0].expression',
        'UNKNOWN_STEP_TYPE steps[2].type',
        'DUPLICATE_STEP_ID steps[2].id',
      ].sort(),
    );
    expect(report.files[1]!.errors[0]!.code).toBe('UNREADABLE_FILE');
  });

  describe('with flow files under the temporary directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ivrflow-cli-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, value: unknown) => {
      const file = join(dir, name);
      writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
      return file;
    };
    const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at /m);

    it('run names a sub-flow whose file is invalid (INVALID_SUBFLOW with its file and first problem), not a missing flow', async () => {
      mkdirSync(join(dir, 'flows'));
      const child = write('flows/child.json', { id: 'child', name: 'Child', steps: [{ id: 'call', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', timeout: 999999 } }] });
      const parent = write('flows/parent.json', {
        id: 'parent',
        name: 'Parent',
        steps: [
          { id: 'sub', type: 'SubFlow', configuration: { flowId: 'child' }, next: 'done' },
          { id: 'done', type: 'End', configuration: {} },
        ],
      });
      const r = await cli(['run', parent]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('INVALID_SUBFLOW steps[0].configuration.flowId');
      expect(r.stderr).toContain(`flow 'child' (file ${child}) is invalid: OUT_OF_BOUNDS steps[0].configuration.timeout: timeout 999999 is too big`);
      expect(r.stderr).not.toContain('MISSING_FLOW');
      const json = await cli(['run', parent, '--json']);
      expect(json.code).toBe(2);
      expect((JSON.parse(json.stdout) as { errors: Array<{ code: string }> }).errors.map((e) => e.code)).toEqual(['INVALID_SUBFLOW']);
    });

    it('run refuses a --vars-file nested 1000 levels deep: exit 2, one line, no stack trace', async () => {
      const flow = write('end.json', { id: 'end-only', name: 'End only', steps: [{ id: 'done', type: 'End', configuration: {} }] });
      const vars = write('deep.vars.json', `{"v": ${'['.repeat(1000)}${']'.repeat(1000)}}`);
      const r = await cli(['run', flow, '--vars-file', vars]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toEqual([`--vars-file ${vars}: JSON nests deeper than 64 levels`]);
      noStackTrace(r.stderr);
    });

    it('run reports an unexpected error in one line with exit code 1, never a stack trace', async () => {
      const flow = write('end2.json', { id: 'end-two', name: 'End', steps: [{ id: 'done', type: 'End', configuration: {} }] });
      const r = await cli(['run', flow, '--flows', join(dir, 'no-such-folder')]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^ivrflow: .*no-such-folder/);
      noStackTrace(r.stderr);
    });
  });
});
