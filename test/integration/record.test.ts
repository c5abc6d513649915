/**
 * Record mode: `ivrflow run … --record` against a real loopback backend appends a case that
 * `ivrflow test` then passes offline, and the file holds no credential (neither the flow-bound
 * secret, nor the API key given as an input variable, nor a backend's echo of either).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

const BOUND_KEY = 'sk_live_bound_8f3a61c2d9e4';
const INPUT_KEY = 'sk_live_input_4b7e0a93f15c';
let backend: ScriptedServer;
let dir: string;
let flowFile: string;
let secretsFile: string;

beforeAll(async () => {
  backend = await startScriptedServer((req) =>
    req.url.startsWith('/accounts') ? { status: 200, body: { tier: 'GOLD', echoed: req.headers['x-api-key'] } } : { status: 201, headers: { 'set-cookie': `session=${INPUT_KEY}` }, body: { id: 'T-1' } },
  );
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-record-'));
  flowFile = join(dir, 'lookup.json');
  secretsFile = join(dir, 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify({ 'crm-key': { apiKey: BOUND_KEY } }));
  writeFileSync(
    flowFile,
    JSON.stringify({
      id: 'lookup',
      name: 'Lookup, then a ticket',
      inputs: ['ticket_key'],
      outputs: ['tier', 'echoed', 'ticket_id'],
      secrets: { api_key: { secretId: 'crm-key', key: 'apiKey' } },
      steps: [
        { id: 'lookup', type: 'HTTPRequest', configuration: { url: `${backend.url}/accounts`, headers: { 'X-API-Key': '{{api_key}}' }, responseMapping: { tier: '$.tier', echoed: '$.echoed' } }, next: 'ticket' },
        {
          id: 'ticket',
          type: 'HTTPRequest',
          configuration: { url: `${backend.url}/tickets`, method: 'POST', authentication: { type: 'apiKey', headerName: 'X-API-Key', headerValue: '{{ticket_key}}' }, body: { tier: '{{tier}}' }, responseMapping: { ticket_id: '$.id' } },
        },
      ],
    }),
  );
});
afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ivrflow run --record', () => {
  it('records a case from a real run; ivrflow test passes it offline; no credential is written', async () => {
    const file = join(dir, 'lookup.test.json');
    const run = await cli(['run', flowFile, '--secrets', secretsFile, '--var', `ticket_key=${INPUT_KEY}`, '--record', file, '--case-name', 'gold caller gets a ticket']);
    expect(run.code).toBe(0);
    expect(run.err).toContain("recorded case 'gold caller gets a ticket'");
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(BOUND_KEY);
    expect(text).not.toContain(INPUT_KEY);
    const recorded = JSON.parse(text) as { flow: string; secrets: unknown; cases: Array<{ variables: unknown; mocks: Record<string, { status: number; headers?: unknown; body: unknown }>; expect: unknown }> };
    expect(recorded.flow).toBe('lookup.json');
    expect(recorded.secrets).toEqual({ 'crm-key': { apiKey: 'test-apiKey' } });
    expect(recorded.cases[0]!.variables).toEqual({ ticket_key: 'test-ticket_key' });
    expect(recorded.cases[0]!.mocks['lookup']).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: { tier: 'GOLD', echoed: '***' } });
    // Cookies and other headers are never kept.
    expect(recorded.cases[0]!.mocks['ticket']!.headers).toEqual({ 'content-type': 'application/json' });
    expect(recorded.cases[0]!.expect).toEqual({ status: 'SUCCEEDED', branch: 'OnSuccess', path: ['lookup', 'ticket'], variables: { tier: 'GOLD', ticket_id: 'T-1' } });

    const requestsBefore = backend.requests.length;
    const test = await cli(['test', file]);
    expect(test.out).toContain('✓ gold caller gets a ticket');
    expect(test.code).toBe(0);
    expect(backend.requests.length).toBe(requestsBefore);
  });

  it('a second recording appends; a name already used is refused and the file is left as it was', async () => {
    const file = join(dir, 'twice.test.json');
    expect((await cli(['run', flowFile, '--secrets', secretsFile, '--var', 'ticket_key=k2', '--record', file, '--case-name', 'first'])).code).toBe(0);
    expect((await cli(['run', flowFile, '--secrets', secretsFile, '--var', 'ticket_key=k2', '--record', file, '--case-name', 'second'])).code).toBe(0);
    const before = readFileSync(file, 'utf8');
    expect((JSON.parse(before) as { cases: Array<{ name: string }> }).cases.map((c) => c.name)).toEqual(['first', 'second']);
    const again = await cli(['run', flowFile, '--secrets', secretsFile, '--var', 'ticket_key=k2', '--record', file, '--case-name', 'first']);
    expect(again.code).toBe(2);
    expect(again.err).toContain("a case named 'first' exists");
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect((await cli(['test', file])).code).toBe(0);
  });

  it('--case-name without --record is a usage error', async () => {
    const r = await cli(['run', flowFile, '--case-name', 'x']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--case-name goes with --record');
  });
});
