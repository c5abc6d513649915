/**
 * `ivrflow serve` as a real child process: it restarts DynamoDB Local on the same port when the
 * Java process dies, and the Java process never outlives a serve killed with SIGKILL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Serve {
  child: ChildProcess;
  api: string;
  ddbPort: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];
const javaPids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process that its parent has not reaped yet still answers kill -0.
  return !/^Z/.test(psField(pid, 'stat'));
}

function psField(pid: number, field: string): string {
  try {
    return execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** Pids of the Java processes running DynamoDB Local on the given port. */
function javaOnPort(port: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
  return rows
    .map((row) => /^\s*(\d+)\s+(\S+)\s(.*)$/.exec(row))
    .filter((m): m is RegExpExecArray => m !== null && /(^|\/)java$/.test(m[2]!) && new RegExp(`-port ${port}( |$)`).test(m[3]!))
    .map((m) => Number(m[1]));
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startServe(): Promise<Serve> {
  const child = spawn(process.execPath, ['cli/bin.mjs', 'serve', '--port', '0', '--no-examples'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const api = await until('serve to listen', 45000, () => {
    if (gone) throw new Error(`serve exited before listening:\n${output}`);
    return /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
  });
  const ddbPort = Number(/DynamoDB Local at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]);
  for (const pid of javaOnPort(ddbPort)) javaPids.add(pid);
  return { child, api, ddbPort, output: () => output, exited };
}

async function put(api: string, id: string): Promise<number> {
  const res = await fetch(`${api}/flows/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, name: id, version: 1, steps: [{ id: 'e', type: 'End', configuration: {} }] }),
    signal: AbortSignal.timeout(5000),
  });
  await res.text();
  return res.status;
}

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  }
  for (const pid of javaPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  javaPids.clear();
});

describe('ivrflow serve and DynamoDB Local', () => {
  it('restarts DynamoDB Local on the same port after its Java process is killed', async () => {
    const serve = await startServe();
    expect(await put(serve.api, 'x')).toBe(201);
    const [java] = javaOnPort(serve.ddbPort);
    expect(java).toBeDefined();
    const killedAt = Date.now();
    process.kill(java!, 'SIGKILL');

    await until('PUT /flows/y to answer 201 again', 30000, async () => ((await put(serve.api, 'y').catch(() => 0)) === 201 ? true : undefined));
    const restartMs = Date.now() - killedAt;
    console.log(`serve answered again ${restartMs} ms after DynamoDB Local was killed`);
    for (const pid of javaOnPort(serve.ddbPort)) javaPids.add(pid);

    const output = serve.output();
    expect(output).toMatch(/DynamoDB Local exited \(code null \/ signal SIGKILL\); restarting on the same port/);
    // --no-examples: nothing to redeploy, so the line says only what happened.
    expect(output).toContain('in-memory data is gone: tables recreated\n');
    expect(output).toContain(`DynamoDB Local is back at http://127.0.0.1:${serve.ddbPort}`);
    // In memory: the flow deployed before the crash is gone, the tables work again.
    const res = await fetch(`${serve.api}/flows/x`);
    expect(res.status).toBe(404);

    const [newJava] = javaOnPort(serve.ddbPort);
    expect(newJava).toBeDefined();
    expect(newJava).not.toBe(java);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toEqual({ code: 0, signal: null });
    await until('the new Java process to stop with serve', 5000, () => (alive(newJava!) ? undefined : true));
  }, 60000);

  it('does not leave DynamoDB Local running when serve itself is killed with SIGKILL', async () => {
    const serve = await startServe();
    const [java] = javaOnPort(serve.ddbPort);
    expect(java).toBeDefined();
    serve.child.kill('SIGKILL');
    await serve.exited;
    const t0 = Date.now();
    await until('the orphaned Java process to exit', 5000, () => (alive(java!) ? undefined : true));
    console.log(`DynamoDB Local exited ${Date.now() - t0} ms after serve was killed`);
  }, 60000);
});
