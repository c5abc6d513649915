/**
 * The `serve-throughput` and `serve-cpu-per-execution` figures: `ivrflow serve --port 0
 * --no-examples` in a child process (DynamoDB Local, the real handlers over HTTP; logs at ERROR
 * and metrics off, as a log line per execution would be most of the work), a one-HTTP-step flow
 * deployed against the bench's loopback backend, and autocannon in this process POSTing
 * `/flows/<id>/executions` over 20 connections for 5 s after a 1 s warm-up. The serve process's
 * CPU (utime + stime of /proc/<pid>/stat, in clock ticks) is read around the measured run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Backend } from './backend';
import { ROOT } from './bundling';
import { emit, progress, unmeasured } from './harness';
import { RESPONSE_MAPPING } from './in-process';

/** `getconf CLK_TCK` on Linux (the kernel's USER_HZ, 100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100;
const DURATION_S = 5;
const CONNECTIONS = 20;

/** CPU time of a process so far (user + system), ms; undefined where /proc is not there. */
function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Every descendant of a process (DynamoDB Local's Java runs under serve's watchdog shell). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone, or no /proc
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/** Starts serve, quiet, and resolves with its URL and process once it listens. */
function startServe(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(ROOT, 'cli/bin.mjs'), 'serve', '--port', '0', '--no-examples'], {
    cwd: ROOT,
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 90 s: ${output.slice(-300)}`)), 90_000);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve({ url, child });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening: ${output.slice(-300)}`));
    });
  });
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** `serve-throughput` (executions/s) and `serve-cpu-per-execution` (ms of serve CPU per execution). */
export async function serveFigures(backend: Backend): Promise<void> {
  const throughput = { name: 'serve-throughput', unit: 'executions/s', target: '>= 2000/s per core' };
  const cpu = { name: 'serve-cpu-per-execution', unit: 'ms/execution', target: '<= 0.5 ms' };
  let serve: { url: string; child: ChildProcess } | undefined;
  try {
    progress('serve: starting ivrflow serve');
    serve = await startServe();
    const pid = serve.child.pid!;
    const flow = {
      id: 'bench-serve',
      name: 'One HTTP step',
      outputs: ['tier', 'open'],
      steps: [{ id: 'lookup', type: 'HTTPRequest', configuration: { url: `${backend.url}/v2/accounts?phone={{phone}}`, responseMapping: RESPONSE_MAPPING } }],
    };
    const deployed = await fetch(`${serve.url}/flows/${flow.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(flow) });
    if (!deployed.ok) throw new Error(`deploy failed: ${deployed.status} ${await deployed.text()}`);
    const url = `${serve.url}/flows/${flow.id}/executions`;
    const body = JSON.stringify({ variables: { phone: '+12125551234' } });
    const probe = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const answer = (await probe.json()) as { status?: string; variables?: Record<string, unknown> };
    if (probe.status !== 200 || answer.status !== 'SUCCEEDED' || answer.variables?.['tier'] !== 'GOLD') throw new Error(`the execution answered ${probe.status} ${JSON.stringify(answer)}`);
    const load = (duration: number) => autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, duration });
    progress('serve: 1 s warm-up');
    await load(1);
    const others = descendants(pid);
    const backendBefore = backend.requests['/v2/accounts'] ?? 0;
    const cpuBefore = cpuMs(pid);
    const othersBefore = others.map(cpuMs);
    progress(`serve: ${DURATION_S} s, ${CONNECTIONS} connections`);
    const result = await load(DURATION_S);
    const cpuAfter = cpuMs(pid);
    const othersAfter = others.map(cpuMs);
    const calls = (backend.requests['/v2/accounts'] ?? 0) - backendBefore;
    const executions = result['2xx'];
    const perSecond = executions / result.duration;
    const serveCpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
    const othersCpuMs = othersAfter.reduce<number>((sum, after, i) => {
      const before = othersBefore[i];
      return after === undefined || before === undefined ? sum : sum + after - before;
    }, 0);
    const cores = serveCpuMs === undefined ? undefined : serveCpuMs / (result.duration * 1000);
    const failures = `${result.non2xx} non-2xx, ${result.errors} errors`;
    emit({
      ...throughput,
      ivrflow: perSecond,
      baseline: null,
      ratio: null,
      rounds: 1,
      note: `${executions} executions in ${result.duration.toFixed(1)} s (${failures}; ${calls} backend calls); serve used ${cores === undefined ? '?' : cores.toFixed(2)} cores and DynamoDB Local ${(othersCpuMs / (result.duration * 1000)).toFixed(2)}: ${cores ? Math.round(perSecond / cores) : '?'}/s per core of serve CPU; p50 latency ${result.latency.p50} ms; autocannon shares the machine`,
    });
    if (serveCpuMs === undefined || executions === 0) unmeasured(cpu.name, cpu.unit, cpu.target, new Error(executions === 0 ? 'no execution succeeded' : '/proc/<pid>/stat is not readable'));
    else
      emit({
        ...cpu,
        ivrflow: serveCpuMs / executions,
        baseline: 0.5,
        rounds: 1,
        note: `the serve process only; its children (DynamoDB Local's Java) used ${(othersCpuMs / executions).toFixed(2)} ms/execution besides; baseline is the limit`,
      });
  } catch (err) {
    unmeasured(throughput.name, throughput.unit, throughput.target, err);
    unmeasured(cpu.name, cpu.unit, cpu.target, err);
  } finally {
    if (serve) await stopServe(serve.child);
  }
}
