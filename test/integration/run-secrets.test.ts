/**
 * `ivrflow run` is an in-process root: a flow's secret bindings resolve from `--secrets <file>`
 * only, and no AWS service is ever called (an `AWS_ENDPOINT_URL` recording server sees nothing).
 * The real CLI in its own process, a real loopback backend.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliProcess } from '../support/cli';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

const API_KEY = 'sk_test_5f2a9c41b7e3d8';
let backend: ScriptedServer;
let aws: ScriptedServer;
let dir: string;
let flowFile: string;

beforeAll(async () => {
  backend = await startScriptedServer(() => ({ status: 200, body: { tier: 'GOLD' } }));
  // Anything an AWS SDK client would send lands here (and gets an error back).
  aws = await startScriptedServer(() => ({ status: 500, body: { message: 'recording only' } }));
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-run-secrets-'));
  flowFile = join(dir, 'lookup.json');
  writeFileSync(
    flowFile,
    JSON.stringify({
      id: 'lookup',
      name: 'Lookup with a bound API key',
      outputs: ['tier', 'http_status_code'],
      secrets: { api_key: { secretId: 'crm-key', key: 'apiKey' } },
      steps: [{ id: 'call', type: 'HTTPRequest', configuration: { url: `${backend.url}/accounts`, headers: { 'X-API-Key': '{{api_key}}' }, responseMapping: { tier: '$.tier' } } }],
    }),
  );
});
afterAll(async () => {
  await backend.close();
  await aws.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]) {
  return cliProcess(args, { AWS_ENDPOINT_URL: aws.url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' });
}

describe('ivrflow run --secrets', () => {
  it('without --secrets a binding fails its step naming the variable and secret id, and no request reaches AWS', async () => {
    const before = backend.requests.length;
    const r = await cli(['run', flowFile, '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as { status: string; trace: Array<{ error?: { message: string } }> };
    expect(result.status).toBe('FAILED');
    expect(result.trace[0]!.error!.message).toMatch(/secret "crm-key" \(bound to variable 'api_key'\) does not exist/);
    expect(backend.requests.length).toBe(before);
    expect(aws.requests).toEqual([]);
  });

  it('with --secrets the backend receives the value, which is never printed; still no request to AWS', async () => {
    const secretsFile = join(dir, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ 'crm-key': { apiKey: API_KEY } }));
    for (const json of [true, false]) {
      const before = backend.requests.length;
      const r = await cli(['run', flowFile, '--secrets', secretsFile, ...(json ? ['--json'] : [])]);
      expect(r.code, r.stderr).toBe(0);
      expect(backend.requests.slice(before).map((q) => q.headers['x-api-key'])).toEqual([API_KEY]);
      expect(r.stdout + r.stderr).not.toContain(API_KEY);
      if (json) expect(JSON.parse(r.stdout)).toMatchObject({ status: 'SUCCEEDED', variables: { tier: 'GOLD', http_status_code: 200 } });
    }
    expect(aws.requests).toEqual([]);
  });

  it('a --secrets file of the wrong shape is exit 2 naming the file and the place', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ 'crm-key': { apiKey: 42 } }));
    const r = await cli(['run', flowFile, '--secrets', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--secrets ${bad}: crm-key.apiKey:`);
    writeFileSync(bad, '{ not json');
    expect((await cli(['run', flowFile, '--secrets', bad])).code).toBe(2);
    expect((await cli(['run', flowFile, '--secrets', join(dir, 'missing.json')])).code).toBe(2);
  });
});
