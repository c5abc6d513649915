/**
 * `npm run load`: the reliability run. 200 concurrent callers (by default) against `ivrflow serve`
 * (its own process: DynamoDB Local, the real handlers over HTTP) run a CRM lookup whose backend
 * (in this process) fails on purpose:
 * 20 % 503, 5 % hangs, 2 % connection resets, the rest 200 after 20 ms. The flow is the common
 * IVR shape: `timeout` 1000 ms, two retries, a circuit breaker, and every failure branch routed to
 * an agent. Each caller gives a 3000 ms deadline (Amazon Connect's default block timeout).
 *
 * Prints one JSON object: answers, answers past their deadline, answers without a route (no
 * `route` output or a TIMED_OUT answer), 5xx answers, lost executions (an answer whose record
 * cannot be read back), the branches taken and latency percentiles. The run fails (exit 1) if any
 * of the four counts that must be zero is not.
 *
 *   npm run load -- [--callers 200] [--calls 2000] [--deadline-ms 3000]
 *   LOAD_CPU_PROF_DIR=/tmp/prof npm run load   # serve runs under node --cpu-prof
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listenOnLoopback } from './backend';

const { values } = parseArgs({ options: { callers: { type: 'string', default: '200' }, calls: { type: 'string', default: '2000' }, 'deadline-ms': { type: 'string', default: '3000' } } });
const callers = Number(values.callers);
const calls = Number(values.calls);
const deadlineMs = Number(values['deadline-ms']);

/** The flaky CRM: 20 % 503, 5 % hang, 2 % reset, else 200 after 20 ms. */
async function startFlakyBackend(): Promise<{ url: string; counts: Record<string, number>; close(): Promise<void> }> {
  const counts: Record<string, number> = { ok: 0, '503': 0, hang: 0, reset: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    const r = Math.random();
    if (r < 0.2) {
      counts['503']!++;
      res.writeHead(503).end();
    } else if (r < 0.25) counts['hang']!++;
    else if (r < 0.27) {
      counts['reset']!++;
      req.socket.destroy();
    } else {
      counts['ok']!++;
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'FOUND', data: [{ id: 'ACC-1' }] })), 20);
    }
  });
  return { ...(await listenOnLoopback(server)), counts };
}

const flow = {
  id: 'load-lookup',
  name: 'CRM lookup under load',
  inputs: ['crm'],
  outputs: ['route'],
  steps: [
    {
      id: 'lookup',
      type: 'HTTPRequest',
      configuration: { url: '{{crm}}/v2/accounts', timeout: 1000, retryPolicy: { maxRetries: 2 }, circuitBreaker: { failureThreshold: 5, cooldownMs: 2000 }, responseMapping: { account: '$.data[0].id' } },
      branches: { OnSuccess: 'self-service', OnServerError: 'agent', OnTimeout: 'agent', OnCircuitOpen: 'agent', OnError: 'agent' },
    },
    { id: 'self-service', type: 'End', configuration: { outcome: 'SelfService', outputs: { route: 'self-service' } } },
    { id: 'agent', type: 'End', configuration: { outcome: 'Agent', outputs: { route: 'agent' } } },
  ],
};

/** Starts `ivrflow serve --port 0 --no-examples` (quiet logs) and resolves with its URL once it listens. */
function startServe(): Promise<{ url: string; process: ChildProcess }> {
  const bin = fileURLToPath(new URL('../cli/bin.mjs', import.meta.url));
  const child = spawn(process.execPath, [...(process.env['LOAD_CPU_PROF_DIR'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['LOAD_CPU_PROF_DIR']}`] : []), bin, 'serve', '--port', '0', '--no-examples'], {
    env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', POWERTOOLS_METRICS_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ url, process: child });
    });
    child.once('exit', (code) => reject(new Error(`ivrflow serve exited (${code}) before listening: ${out}`)));
  });
}

/** One keep-alive connection per caller, opened before the clock starts, as a platform's pool would hold them. */
const agent = new Agent({ keepAlive: true, maxSockets: 1000 });

/** POSTs JSON over the keep-alive agent. @returns the status, the body text and the server's own time (Server-Timing `total`, ms) */
function post(url: string, body: unknown): Promise<{ status: number; text: string; serverMs: number | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const timing = /total;dur=([\d.]+)/.exec(String(res.headers['server-timing'] ?? ''))?.[1];
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), serverMs: timing === undefined ? undefined : Number(timing) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main(): Promise<number> {
  const backend = await startFlakyBackend();
  const serve = await startServe();
  const stack = { api: { url: serve.url } };
  try {
    const deployed = await fetch(`${stack.api.url}/flows/${flow.id}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(flow) });
    if (!deployed.ok) throw new Error(`deploy failed: ${deployed.status} ${await deployed.text()}`);
    const answers: Array<{ status: number; ms: number; serverMs: number | undefined; body: { executionId?: string; status?: string; branch?: string; durationMs?: number; variables?: { route?: unknown } } }> = [];
    let next = 0;
    const caller = async () => {
      while (next < calls) {
        next++;
        const t0 = Date.now();
        const res = await post(`${stack.api.url}/flows/${flow.id}/executions`, { variables: { crm: backend.url }, deadlineMs });
        answers.push({ status: res.status, ms: Date.now() - t0, serverMs: res.serverMs, body: (res.text ? JSON.parse(res.text) : {}) as (typeof answers)[number]['body'] });
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: callers }, caller));
    const elapsedMs = Date.now() - started;
    // Every answered execution must be readable (its record stored).
    let lost = 0;
    for (const a of answers.filter((x) => x.body.executionId)) {
      const back = await fetch(`${stack.api.url}/executions/${a.body.executionId}`);
      if (back.status !== 200) lost++;
    }
    const latencies = answers.map((a) => a.ms).sort((x, y) => x - y);
    const branches: Record<string, number> = {};
    for (const a of answers) branches[`${a.body.status ?? a.status}/${a.body.branch ?? ''}`] = (branches[`${a.body.status ?? a.status}/${a.body.branch ?? ''}`] ?? 0) + 1;
    const report = {
      name: 'load',
      callers,
      answers: answers.length,
      deadlineMs,
      // The deadline is the server's (from the request's arrival, as inside API Gateway); the client's view, queueing included, is `latencyMs`.
      pastDeadline: answers.filter((a) => (a.serverMs ?? a.ms) > deadlineMs).length,
      clientPastDeadline: answers.filter((a) => a.ms > deadlineMs).length,
      withoutRoute: answers.filter((a) => a.status === 200 && (a.body.status === 'TIMED_OUT' || typeof a.body.variables?.route !== 'string')).length,
      serverErrors: answers.filter((a) => a.status >= 500).length,
      lost,
      branches,
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0 },
      serverMs: (() => {
        const d = answers.map((a) => a.serverMs ?? 0).sort((x, y) => x - y);
        return { p50: percentile(d, 50), p99: percentile(d, 99), max: d[d.length - 1] ?? 0 };
      })(),
      engineDurationMs: (() => {
        const d = answers.map((a) => a.body.durationMs ?? 0).sort((x, y) => x - y);
        return { p50: percentile(d, 50), p99: percentile(d, 99), max: d[d.length - 1] ?? 0 };
      })(),
      backend: backend.counts,
      elapsedMs,
    };
    console.log(JSON.stringify(report, null, 2));
    return report.pastDeadline + report.withoutRoute + report.serverErrors + report.lost === 0 ? 0 : 1;
  } finally {
    const exited = new Promise((resolve) => serve.process.once('exit', resolve));
    serve.process.kill('SIGINT');
    await exited;
    await backend.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
