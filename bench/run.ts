/**
 * `npm run bench`: measures the engine's performance figures (listed below) in one process and
 * prints them as JSON. Every ratio is against a baseline measured in the same run. Not a test: it
 * asserts nothing.
 *
 * - engine overhead: a one-step HTTP flow vs a bare `fetch` to the same loopback server (median);
 * - a non-I/O step: median of a one-step DataAPI flow;
 * - open circuit: median of an execution that takes OnCircuitOpen (in-memory state, and DynamoDB
 *   state behind the 1 s cache), next to the bare in-process step;
 * - warm happy path: DynamoDB requests of a warm execution (DynamoDB Local);
 * - bundles: each function's minified size.
 */
import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ExecutionService } from '#shared/api/execution-service';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlow, type ExecutorDeps } from '#shared/executor/executor';
import { parseFlow } from '#shared/flow/validate';
import { NodeHttpClient } from '#shared/http/client';
import { ensureTables, localDynamoDbClient, startDynamoDbLocal } from '#shared/local/dynamodb-local';
import { CircuitBreaker } from '#shared/resilience/circuit-breaker';
import { MemoryCircuitStore } from '#shared/resilience/memory-circuit-store';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { DynamoCircuitStore } from '#shared/stores/dynamodb/circuit-store';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 2000);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time of `fn` in microseconds, after a warm-up. */
async function timeUs(fn: () => Promise<unknown>, runs = RUNS): Promise<number> {
  for (let i = 0; i < Math.min(200, runs); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return median(samples);
}

const round = (n: number, digits = 1) => Number(n.toFixed(digits));

const server = createServer((_req, res) => {
  const body = '{"status":"ok","data":[{"id":"ACC-1","attributes":{"loyalty_tier":"GOLD","support_tickets":1}}]}';
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/accounts`;
const http = new NodeHttpClient({ allowPrivateNetworks: true });
const circuits = new CircuitBreaker({ store: new MemoryCircuitStore(), clock: systemClock, instanceId: 'bench', cacheTtlMs: 60_000 });
const deps: ExecutorDeps = { clock: systemClock, randomness: systemRandomness, http, resolveFlow: () => Promise.resolve(undefined), circuits };
const opts = { allowPrivateHosts: true };

const httpFlow = await parseFlow(
  {
    id: 'bench-http',
    name: 'b',
    steps: [{ id: 'lookup', type: 'HTTPRequest', configuration: { url: `${url}?phone={{phone}}`, responseMapping: { tier: '$.data[0].attributes.loyalty_tier', open: '$.data[0].attributes.support_tickets > 0' } } }],
  },
  opts,
);
const stepFlow = await parseFlow({ id: 'bench-step', name: 'b', steps: [{ id: 'calc', type: 'DataAPI', configuration: { operation: 'evaluate', expression: "formatPhoneNumber('{{dtmf}}') ?? 'INVALID'", outputVariable: 'phone' } }] }, opts);
const openFlow = await parseFlow(
  {
    id: 'bench-open',
    name: 'b',
    steps: [
      { id: 'call', type: 'HTTPRequest', configuration: { url: 'http://127.0.0.1:9/down', circuitBreaker: { key: 'bench-down', failureThreshold: 1, cooldownMs: 3_600_000 } }, branches: { OnCircuitOpen: 'fallback' } },
      { id: 'fallback', type: 'End', configuration: { outcome: 'AgentFallback' } },
    ],
  },
  opts,
);

const fetchUs = await timeUs(async () => (await fetch(`${url}?phone=%2B12125551234`)).json());
const httpFlowUs = await timeUs(() => runFlow(httpFlow, { variables: { phone: '+12125551234' } }, deps));
const stepUs = await timeUs(() => runFlow(stepFlow, { variables: { dtmf: '2125551234' } }, deps));
await runFlow(openFlow, {}, deps); // opens the circuit (connection refused)
const openResult = await runFlow(openFlow, {}, deps);
if (openResult.branch !== 'AgentFallback') throw new Error(`the open-circuit flow took ${openResult.branch}`);
const openUs = await timeUs(() => runFlow(openFlow, {}, deps));

// Warm happy path on DynamoDB Local: count requests of one warm execution.
const ddb = await startDynamoDbLocal();
let dynamoRequests = 0;
let warmRequests = -1;
let openDynamoUs = -1;
try {
  const client = localDynamoDbClient(ddb.endpoint);
  client.middlewareStack.add((next) => async (args) => (dynamoRequests++, next(args)), { step: 'initialize', name: 'count' });
  const tables = { definitionsTable: 'bench-defs', stateTable: 'bench-state' };
  await ensureTables(client, tables);
  const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: tables.definitionsTable, client }), { clock: systemClock });
  await flows.putFlowVersion({ ...httpFlow, version: 1 }, new Date().toISOString());
  const service = new ExecutionService({ flows, state: new DynamoStateStore({ tableName: tables.stateTable, client }), http, clock: systemClock, randomness: systemRandomness, circuits });
  await service.start('bench-http', { variables: { phone: '+12125551234' } });
  dynamoRequests = 0;
  await service.start('bench-http', { variables: { phone: '+12125551234' } });
  warmRequests = dynamoRequests;
  // The same open circuit with its state in DynamoDB (default 1 s cache), as in Lambda.
  const shared = new CircuitBreaker({ store: new DynamoCircuitStore({ tableName: tables.stateTable, client }), clock: systemClock, instanceId: 'bench-ddb' });
  const ddbDeps = { ...deps, circuits: shared };
  await runFlow(openFlow, {}, ddbDeps);
  openDynamoUs = await timeUs(() => runFlow(openFlow, {}, ddbDeps), 1000);
} finally {
  await ddb.stop();
}

const bundles: Record<string, number> = {};
for (const name of readdirSync(fileURLToPath(new URL('../functions', import.meta.url))).sort()) {
  // As NodejsFunction bundles for Node.js 18+: the AWS SDK v3 comes with the Lambda runtime.
  const out = await build({
    entryPoints: [fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url))],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    external: ['@aws-sdk/*'],
    write: false,
    logLevel: 'silent',
  });
  bundles[name] = out.outputFiles[0]!.contents.length;
}

http.close();
server.close();
console.log(
  JSON.stringify(
    {
      runs: RUNS,
      engineOverhead: { bareFetchMedianUs: round(fetchUs), oneStepHttpFlowMedianUs: round(httpFlowUs), ratio: round(httpFlowUs / fetchUs, 3), target: '<= 1.15' },
      nonIoStep: { oneStepDataApiFlowMedianUs: round(stepUs), target: '< 50' },
      openCircuit: {
        onCircuitOpenExecutionMedianUs: round(openUs),
        onCircuitOpenWithDynamoDbStateMedianUs: round(openDynamoUs),
        bareInProcessStepMedianUs: round(stepUs),
        ratio: round(openUs / stepUs, 2),
        target: '< 5000 us',
      },
      warmHappyPath: { dynamoDbRequestsPerExecution: warmRequests, target: '<= 1' },
      bundlesMinifiedBytes: { ...bundles, target: '< 1048576 each' },
    },
    null,
    2,
  ),
);
