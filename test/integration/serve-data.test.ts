/**
 * `ivrflow serve --data <dir>` as a real child process keeps everything across a restart: the
 * tables (DynamoDB Local's files) and the local Secrets Manager's secrets (a 0600 file written
 * atomically), so a connection still authenticates after serve is stopped and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/local';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API_KEY = 'sk-serve-data-test-0123456789';

let dir: string;
let backend: ScriptedServer;

/** Starts `ivrflow serve --data <dir>` and resolves with its URL once it listens. */
function serve(): Promise<{ url: string; output: () => string; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['cli/bin.mjs', 'serve', '--port', '0', '--no-examples', '--data', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 60_000);
    child.stdout!.on('data', () => {
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({
        url,
        output: () => output,
        stop: async () => {
          child.kill('SIGINT');
          await exited;
        },
      });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-serve-data-'));
  backend = await startScriptedServer((req) => (req.headers['x-api-key'] === API_KEY ? { status: 200, body: { tier: 'GOLD' } } : { status: 401, body: {} }));
});
afterAll(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ivrflow serve --data', () => {
  it('a connection keeps its credential across a restart: the flow still authenticates', async () => {
    const first = await serve();
    try {
      expect(first.output()).toContain(`secrets in ${join(dir, 'secrets-manager.json')}`);
      expect((await api(first.url, 'PUT', '/connections/crm', { baseUrl: backend.url, authentication: { type: 'apiKey', apiKey: API_KEY } })).status).toBe(201);
      const flow = {
        id: 'tier',
        name: 'Tier lookup',
        outputs: ['tier', 'http_status_code'],
        steps: [{ id: 'call', type: 'HTTPRequest', configuration: { url: '/accounts', authentication: { connection: 'crm' }, responseMapping: { tier: '$.tier' } } }],
      };
      expect((await api(first.url, 'PUT', '/flows/tier', flow)).status).toBe(201);
      expect(await api(first.url, 'POST', '/flows/tier/executions', { variables: {} })).toMatchObject({ status: 200, body: { variables: { tier: 'GOLD', http_status_code: 200 } } });
    } finally {
      await first.stop();
    }
    const file = join(dir, 'secrets-manager.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('connections/crm');

    const second = await serve();
    try {
      expect((await api(second.url, 'GET', '/connections/crm')).status).toBe(200);
      const again = await api(second.url, 'POST', '/flows/tier/executions', { variables: {} });
      expect(again).toMatchObject({ status: 200, body: { variables: { tier: 'GOLD', http_status_code: 200 } } });
      expect(backend.requests.at(-1)?.headers['x-api-key']).toBe(API_KEY);
    } finally {
      await second.stop();
    }
  }, 120_000);
});
