/**
 * `npm run bench`: the engine's performance figures, one JSON line per figure on stdout
 * (progress on stderr):
 *
 *   { "name", "ivrflow", "baseline", "ratio", "unit", "rounds", "target", "note"? }
 *
 * `ratio` is ivrflow / baseline. `baseline` is a case measured in the same run, or, for a figure
 * with a fixed limit and no baseline case (bundles, warm DynamoDB requests, serve CPU), that
 * limit. Timed pairs run in interleaved rounds (`BENCH_ROUNDS`, default 15): each round times a
 * batch of the ivrflow case and a batch of its baseline, the order alternating, and each side's
 * figure is the median of its per-round per-call times. Not a test: nothing is asserted; a
 * figure that cannot be measured prints `ivrflow: null` with a `note`. Each case's result is
 * checked once before it is timed (a wrong result makes the figure null).
 *
 * - `interpreter` (µs/execution; target ratio <= 0.1 and < 15 µs): a 10-step flow without I/O
 *   (DataAPI assign/evaluate, Condition steps, an End) through `runFlow`, vs the same logic as
 *   an Amazon States Language state machine (Pass states with Parameters and ResultPath, Choice
 *   states) run by aws-local-stepfunctions, a States Language interpreter in TypeScript.
 * - `http-step` (µs/execution; target ratio <= 1.15): one HTTPRequest step with the guide's
 *   response mapping through `runFlow` against a loopback keep-alive `node:http` server, vs the
 *   floor: a bare `node:http` GET with a keep-alive Agent to the same server, the body
 *   `JSON.parse`d and mapped by hand.
 * - `open-circuit` (µs/execution; target < 1000 µs, no network call): an execution whose circuit
 *   (in-memory store) was opened once before, so it takes OnCircuitOpen, vs a one-step DataAPI
 *   flow; the note gives the requests and connections the backend saw while it was timed.
 * - `bundle:<dir>` (bytes; target <= 409600, or <= 153600 for token-refresher, agent-events and
 *   basic-authorizer): the minified `index.js` of every function of functions/manifest.ts, as CDK
 *   builds it: the assets of a `cdk synth`, or esbuild with IvrflowFunction's options when the
 *   synth fails or takes over 60 s. Baseline: the limit.
 * - `cold-start:flow-executor` (ms; target ratio <= 1.3): a fresh `node` (with the function's
 *   NODE_OPTIONS, none: stacks are source-mapped lazily by the logger) loading the flow-executor
 *   bundle and answering one `GET /executions/{id}` for an unknown id (one GetItem to a loopback
 *   stand-in for DynamoDB), from spawn to its answer, vs the same runner with a handler that only
 *   imports the DynamoDB and Secrets Manager clients of the AWS SDK and builds them;
 *   `cold-start:flow-executor:enable-source-maps` is the same with Node's flag (on both sides);
 *   `cold-start:flow-executor:vs-sdk-first-request` (no target) has a baseline that also sends the
 *   one GetItem, so it shows what the engine adds beyond the SDK's own first request.
 * - `serve-throughput` (executions/s; target >= 2000/s per core) and `serve-cpu-per-execution`
 *   (ms of the serve process's CPU per execution; target <= 0.5 ms, i.e. 2000/s per core):
 *   autocannon, 20 connections for 5 s, POSTing executions of a one-HTTP-step flow to
 *   `ivrflow serve` (a child process, with `POWERTOOLS_LOG_LEVEL=ERROR` and
 *   `POWERTOOLS_METRICS_DISABLED=true`: a log line per execution would dominate). No baseline.
 * - `warm-dynamodb-requests` (requests/execution; target <= 1): DynamoDB requests of a warm
 *   execution through the ExecutionService on DynamoDB Local.
 *
 * `npm run bench` runs this file as an esbuild bundle of the repository's code (`.bench/run.mjs`,
 * packages left external), as the functions run it: under tsx every function gets a `__name`
 * helper call (esbuild's keepNames), which slows code that creates closures, such as a step
 * context, by about 2x, and no deployed function pays that.
 *
 *   npm run bench                     # all figures, about a minute
 *   BENCH_ROUNDS=5 npm run bench      # fewer rounds
 */
import { startBackend } from './backend';
import { buildBundles, manifestSpecs, type Bundle } from './bundling';
import { coldStartFigures } from './cold-start';
import { emit, progress, unmeasured } from './harness';
import { httpStepFigure, interpreterFigure, openCircuitFigure } from './in-process';
import { serveFigures } from './serve';
import { warmDynamoDbFigure } from './warm-dynamodb';

/** The size limit of a function's bundle, bytes: the small functions load no engine. */
function bundleLimit(dir: string): number {
  return ['token-refresher', 'agent-events', 'basic-authorizer'].includes(dir) ? 150 * 1024 : 400 * 1024;
}

async function main(): Promise<void> {
  const backend = await startBackend();
  try {
    progress('interpreter');
    await interpreterFigure();
    progress('http-step');
    await httpStepFigure(backend);
    progress('open-circuit');
    await openCircuitFigure(backend);

    const { bundles, note, remove } = await buildBundles().catch((err: unknown) => ({ bundles: new Map<string, Bundle>(), note: `no bundles: ${(err as Error).message}`, remove: () => {} }));
    for (const spec of manifestSpecs()) {
      const limit = bundleLimit(spec.dir);
      const bundle = bundles.get(spec.dir);
      const name = `bundle:${spec.dir}`;
      if (bundle) emit({ name, ivrflow: bundle.bytes, baseline: limit, unit: 'bytes', rounds: 1, target: `<= ${limit}`, note: `${bundle.source} (${note}); baseline is the limit` });
      else unmeasured(name, 'bytes', `<= ${limit}`, new Error(note));
    }

    try {
      await coldStartFigures(bundles.get('flow-executor'));
    } finally {
      remove();
    }
    await serveFigures(backend);
    await warmDynamoDbFigure(backend);
  } finally {
    await backend.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // Only a fault of the harness itself gets here (every figure reports its own failure).
    progress(`harness failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
