/**
 * The `cold-start:flow-executor` figures: a fresh `node` process that loads the flow-executor
 * bundle and answers its first invocation, a `GET /executions/{executionId}` (API Gateway HTTP
 * API, payload 2.0) for an unknown id, which reads DynamoDB once (a loopback stand-in that answers
 * GetItem with `{}`, so the answer is a 404). The baseline is the same runner with a handler that
 * only imports `@aws-sdk/client-dynamodb` and `@aws-sdk/client-secrets-manager` and builds the two
 * clients (it sends no request). Each is timed from `spawn` to the line the runner prints after the
 * first invocation, ivrflow and baseline interleaved, the order rotating between rounds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENV } from '#shared/config/env';
import { listenOnLoopback } from './backend';
import type { Bundle } from './bundling';
import { ROOT } from './bundling';
import { emit, median, progress, ROUNDS, unmeasured } from './harness';

const READY = 'IVRFLOW_BENCH_READY';

/** Loads the module named by argv[2], invokes its `handler` once, prints READY with the status code. */
const RUNNER = `'use strict';
const { handler } = require(process.argv[2]);
const event = {
  version: '2.0',
  routeKey: 'GET /executions/{executionId}',
  rawPath: '/executions/bench-unknown-execution',
  rawQueryString: '',
  headers: { accept: 'application/json' },
  pathParameters: { executionId: 'bench-unknown-execution' },
  requestContext: { accountId: '123456789012', apiId: 'bench', domainName: 'bench.local', domainPrefix: 'bench', http: { method: 'GET', path: '/executions/bench-unknown-execution', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' }, requestId: 'bench-request', routeKey: 'GET /executions/{executionId}', stage: '$default', time: '01/Jan/2025:00:00:00 +0000', timeEpoch: 1735689600000 },
  isBase64Encoded: false,
};
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'FlowExecutor',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:FlowExecutor',
  memoryLimitInMB: '512',
  awsRequestId: 'bench-invocation',
  logGroupName: '/aws/lambda/FlowExecutor',
  logStreamName: 'bench',
  getRemainingTimeInMillis: () => 30000,
  done() {}, fail() {}, succeed() {},
};
Promise.resolve(handler(event, context)).then(
  (result) => process.stdout.write('\\n${READY} ' + (result && result.statusCode) + '\\n'),
  (err) => process.stdout.write('\\n${READY} error ' + String(err && err.message) + '\\n'),
);
`;

/** The baseline handler: the two SDK clients the flow-executor builds, nothing else. */
const BASELINE_HANDLER = `'use strict';
const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
const dynamodb = new DynamoDBClient({});
const secretsManager = new SecretsManagerClient({});
exports.handler = async () => ({ statusCode: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clients: [typeof dynamodb.send, typeof secretsManager.send] }) });
`;

/**
 * A second baseline, to show the engine's own share: the same two clients, and on its first
 * invocation the one DynamoDB request the flow-executor makes (a GetItem answered `{}`). The SDK's
 * first request has its own cost (its middleware and protocol code run for the first time),
 * which the clients-only baseline never pays.
 */
const FIRST_REQUEST_HANDLER = `'use strict';
const { DynamoDBClient, GetItemCommand } = require('@aws-sdk/client-dynamodb');
const { SecretsManagerClient } = require('@aws-sdk/client-secrets-manager');
const dynamodb = new DynamoDBClient({});
const secretsManager = new SecretsManagerClient({});
exports.handler = async (event) => {
  const found = await dynamodb.send(new GetItemCommand({ TableName: 'bench-state', Key: { pk: { S: 'EXECUTION#' + event.pathParameters.executionId }, sk: { S: 'RECORD' } } }));
  return { statusCode: found.Item ? 200 : 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ clients: [typeof secretsManager.send] }) };
};
`;

/** A loopback stand-in for DynamoDB (JSON 1.0): GetItem answers `{}` (no item), anything else `{}` too; requests counted by operation. */
async function startFakeDynamoDb(): Promise<{ url: string; operations: Record<string, number>; close(): Promise<void> }> {
  const operations: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const target = String(req.headers['x-amz-target'] ?? 'none').replace(/^DynamoDB_\d+\./, '');
    operations[target] = (operations[target] ?? 0) + 1;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': 2 }).end('{}'));
  });
  return { ...(await listenOnLoopback(server)), operations };
}

/** The environment of a deployed flow-executor (table names, secret prefix, public URL, service name), with fake credentials and the local DynamoDB endpoint. */
function lambdaEnv(dynamodbUrl: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    // The bundle keeps the AWS SDK external, as the Lambda runtime provides it; here it comes from the repository's node_modules.
    NODE_PATH: join(ROOT, 'node_modules'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIABENCHBENCHBENCH0',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key',
    AWS_SESSION_TOKEN: 'bench-session-token',
    AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
    [ENV.definitionsTable]: 'bench-definitions',
    [ENV.stateTable]: 'bench-state',
    [ENV.secretPrefix]: 'ivrflow/',
    [ENV.publicUrl]: 'https://bench.execute-api.us-east-1.amazonaws.com',
    POWERTOOLS_SERVICE_NAME: 'ivrflow-flow-executor',
  };
}

/** One fresh process: ms from spawn to the READY line, and the status it printed. */
function coldRun(nodeArgs: readonly string[], runner: string, module: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; status: string; output: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeArgs, runner, module], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let done = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      if (!done) reject(new Error(`no answer within 30 s: ${output.slice(-300)}`));
      done = true;
    }, 30_000);
    child.stdout.on('data', (d: Buffer) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      output += d.toString();
      const status = new RegExp(`${READY} (.*)\\n`).exec(output)?.[1];
      if (status === undefined || done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve({ ms, status, output });
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`exited ${code} before answering: ${output.slice(-300)}`));
    });
  });
}

/**
 * `cold-start:flow-executor` with the function's NODE_OPTIONS (as deployed), and the other choice
 * for source maps: `cold-start:flow-executor:enable-source-maps` with Node's flag added (or
 * `:no-source-maps` without it, when the function sets it); each against the baseline run with the
 * same flags. `cold-start:flow-executor:vs-sdk-first-request` sets the deployed function against
 * {@link FIRST_REQUEST_HANDLER} (no target: it shows the engine's own share of the cold start).
 */
export async function coldStartFigures(bundle: Bundle | undefined): Promise<void> {
  const target = 'ratio <= 1.3';
  const unit = 'ms';
  const deployedFlags = (bundle?.nodeOptions ?? '').split(/\s+/).filter(Boolean);
  // The other choice for source maps, to show what it costs: the functions map stacks lazily (shared/source-maps.ts) instead of Node's flag.
  const variants: Array<{ name: string; flags: string[]; baseline: 'clients' | 'first-request'; target: string }> = [{ name: 'cold-start:flow-executor', flags: deployedFlags, baseline: 'clients', target }];
  if (deployedFlags.includes('--enable-source-maps')) variants.push({ name: 'cold-start:flow-executor:no-source-maps', flags: deployedFlags.filter((f) => f !== '--enable-source-maps'), baseline: 'clients', target });
  else variants.push({ name: 'cold-start:flow-executor:enable-source-maps', flags: [...deployedFlags, '--enable-source-maps'], baseline: 'clients', target });
  variants.push({ name: 'cold-start:flow-executor:vs-sdk-first-request', flags: deployedFlags, baseline: 'first-request', target: 'none (the engine beyond the SDK request it makes)' });
  if (!bundle) {
    for (const v of variants) unmeasured(v.name, unit, v.target, new Error('no flow-executor bundle'));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ivrflow-bench-cold-'));
  const runner = join(dir, 'runner.cjs');
  const baselines = { clients: join(dir, 'baseline-handler.cjs'), 'first-request': join(dir, 'first-request-handler.cjs') };
  writeFileSync(runner, RUNNER);
  writeFileSync(baselines.clients, BASELINE_HANDLER);
  writeFileSync(baselines['first-request'], FIRST_REQUEST_HANDLER);
  const ddb = await startFakeDynamoDb();
  const env = lambdaEnv(ddb.url);
  try {
    const cases = variants.flatMap((v) => [
      { figure: v.name, side: 'ivrflow' as const, flags: v.flags, module: bundle.file, readsDynamoDb: true },
      { figure: v.name, side: 'baseline' as const, flags: v.flags, module: baselines[v.baseline], readsDynamoDb: v.baseline === 'first-request' },
    ]);
    const problems = new Map<string, string>();
    // A first run of each warms the file cache and checks the answer: the flow-executor must read DynamoDB and answer 404.
    for (const c of cases) {
      const before = ddb.operations['GetItem'] ?? 0;
      const first = await coldRun(c.flags, runner, c.module, env);
      const expected = first.status === '404' && (!c.readsDynamoDb || (ddb.operations['GetItem'] ?? 0) > before);
      if (!expected) problems.set(c.figure, `${c.side} answered '${first.status}' (GetItem requests: ${(ddb.operations['GetItem'] ?? 0) - before}): ${first.output.slice(-200)}`);
    }
    const samples = new Map(cases.map((c) => [`${c.figure}/${c.side}`, [] as number[]]));
    progress(`cold start: ${ROUNDS} rounds of ${cases.length} processes`);
    for (let r = 0; r < ROUNDS; r++) {
      const order = cases.map((_, i) => cases[(i + r) % cases.length]!);
      for (const c of order) {
        if (problems.has(c.figure)) continue;
        samples.get(`${c.figure}/${c.side}`)!.push((await coldRun(c.flags, runner, c.module, env)).ms);
      }
    }
    for (const v of variants) {
      const problem = problems.get(v.name);
      if (problem) {
        unmeasured(v.name, unit, v.target, new Error(problem));
        continue;
      }
      const flags = v.flags.length ? `node ${v.flags.join(' ')}` : 'node (no flags)';
      emit({
        name: v.name,
        ivrflow: median(samples.get(`${v.name}/ivrflow`)!),
        baseline: median(samples.get(`${v.name}/baseline`)!),
        unit,
        rounds: ROUNDS,
        target: v.target,
        note: `${flags}; bundle ${bundle.bytes} bytes from ${bundle.source}; spawn to first answer; baseline: ${v.baseline === 'clients' ? 'the SDK clients built' : 'the SDK clients built and one GetItem sent'}`,
      });
    }
  } catch (err) {
    for (const v of variants) unmeasured(v.name, unit, v.target, err);
  } finally {
    await ddb.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
