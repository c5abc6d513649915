/**
 * `ivrflow serve [--port N] [--data <dir>] [--no-examples]`: DynamoDB Local, the tables, the local
 * Secrets Manager endpoint, every route through the real handlers on 127.0.0.1, and the
 * token-refresher run at start and every 5 minutes and the wait-sweeper every minute, as their
 * schedules run them in AWS. With the
 * examples: an OAuth2 authorization server and the sample CRM (which checks its tokens), the
 * example connection (`examples/connections/crm.json`, its `${...}` placeholders filled in) and
 * the example flows deployed. Stops cleanly on SIGINT/SIGTERM.
 *
 * When DynamoDB Local exits on its own (Java crashed or was killed), serve says so on stderr,
 * restarts it on the same port (the endpoint is baked into the SDK clients), creates the tables
 * again and, for an in-memory database (which comes back empty), redeploys the example flows;
 * `--data` keeps everything. A failed restart, or a fourth unexpected exit within 60 s, ends serve
 * with exit code 1.
 * Whatever the way out, the API server, the sample CRM and DynamoDB Local are stopped; if this
 * process dies without running its handlers, DynamoDB Local's watchdog stops Java.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_API_KEY, startCrmServer, type CrmServer } from '../examples/backends/crm-server';
import { startOAuthServer, type OAuthServer } from '../examples/backends/oauth-server';
import { localFunctions, type LocalRoots } from '../functions/local';
import { FUNCTIONS } from '../functions/manifest';
import type { FlowApiRoot } from '../functions/flow-api/root';
import type { SweepSummary } from '#shared/api/continuations';
import type { RefreshSummary } from '#shared/connections/refresher';
import { describeRefresh } from '#shared/connections/refresher';
import { IvrflowError } from '#shared/errors';
import { ensureTables, localDynamoDbClient, startDynamoDbLocal, type DynamoDbLocal, type DynamoDbLocalExit } from '#shared/local/dynamodb-local';
import { startLocalStack, type LocalStack } from '#shared/local/stack';
import { connectionFilesIn } from '#shared/definitions/bundle';
import { flowFilesIn, readJsonFile } from '#shared/flow/files';
import { deployInOrder } from './flow-files';

/** The port the sample CRM listens on when it is free (README, "The `ivrflow` command"). */
export const SAMPLE_CRM_PORT = 4010;

/** The example OAuth2 client (the demo authorization server accepts only it). */
export const DEMO_CLIENT = { clientId: 'ivrflow-demo', clientSecret: 'demo-client-secret' };

/** How often serve runs the token-refresher and the wait-sweeper (their EventBridge schedules in AWS). */
const REFRESH_EVERY_MS = 5 * 60_000;
const SWEEP_EVERY_MS = 60_000;

/** The example connections (`examples/connections/<name>.json`), `${NAME}` placeholders replaced by `values`. */
export function exampleConnections(values: Record<string, string>): Array<{ name: string; body: unknown }> {
  return connectionFilesIn(fileURLToPath(new URL('../examples/connections', import.meta.url)), values).map(({ name, body }) => ({ name, body }));
}

/** The Standard Webhooks secret the sample CRM signs its callbacks with (random per serve: `whsec_` + base64 of 32 bytes; printed, so a demo can sign a callback by hand). */
const DEMO_WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

async function deployExamples(services: FlowApiRoot, endpoints: { crm: string; oauth: string }, log: (s: string) => void): Promise<void> {
  for (const { name, body } of exampleConnections({ CRM_URL: endpoints.crm, OAUTH_URL: endpoints.oauth, CLIENT_SECRET: DEMO_CLIENT.clientSecret, WEBHOOK_SECRET: DEMO_WEBHOOK_SECRET })) {
    try {
      await services.connectionService.put(name, body);
      log(`  connection ${name}`);
    } catch (err) {
      log(`  could not create connection ${name}: ${(err as Error).message}`);
    }
  }
  const dir = fileURLToPath(new URL('../examples/flows', import.meta.url));
  const bodies = flowFilesIn(dir).map((f) => readJsonFile(f).value as { id: string });
  await deployInOrder(bodies, async (body) => {
    try {
      const r = await services.flowService.deploy(body.id, body);
      log(`  deployed ${body.id} v${r.version}`);
      return { ok: true, missingFlow: false };
    } catch (err) {
      if (err instanceof IvrflowError && err.code === 'VERSION_CONFLICT') return { ok: true, missingFlow: false };
      const missing = err instanceof IvrflowError && JSON.stringify(err.details ?? '').includes('MISSING_FLOW');
      if (!missing) log(`  could not deploy ${body.id}: ${(err as Error).message}`);
      return { ok: false, missingFlow: missing };
    }
  });
  // After the flows: a configuration's workflows must exist.
  const configurations = fileURLToPath(new URL('../examples/workflow-configurations', import.meta.url));
  for (const file of readdirSync(configurations)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const id = basename(file, '.json');
    try {
      await services.workflowConfigurationService.put(id, readJsonFile(join(configurations, file)).value);
      log(`  workflow configuration ${id}`);
    } catch (err) {
      log(`  could not create workflow configuration ${id}: ${(err as Error).message}`);
    }
  }
}

/** More unexpected exits of DynamoDB Local than this within {@link CRASH_WINDOW_MS} end serve. */
const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 60_000;

/**
 * Runs until SIGINT/SIGTERM (resolves 0) or until DynamoDB Local cannot be brought back
 * (resolves 1); stops everything it started before resolving or throwing.
 * @returns the exit code; 2 for a bad `--port`.
 */
export async function serveCommand(values: { port?: string; data?: string; examples: boolean }, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    err('--port must be an integer in [0, 65535]');
    return 2;
  }
  let dataDir: string | undefined;
  if (values.data) {
    dataDir = resolve(values.data);
    mkdirSync(dataDir, { recursive: true });
  }
  const examples = values.examples;

  let ddb: DynamoDbLocal | undefined;
  let stack: LocalStack<LocalRoots> | undefined;
  let crm: CrmServer | undefined;
  let oauth: OAuthServer | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  // Set once serve is on its way out: by a signal, a failed recovery, or a startup error.
  let closing = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((done) => (finish = done));
  const onSignal = () => {
    closing = true;
    finish(0);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let markStarted!: () => void;
  const started = new Promise<void>((done) => (markStarted = done));

  const crashes: number[] = [];
  const recover = async ({ code, signal }: DynamoDbLocalExit): Promise<void> => {
    await started;
    if (closing || !ddb || !stack) return;
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && now - crashes[0]! >= CRASH_WINDOW_MS) crashes.shift();
    const exited = `DynamoDB Local exited (code ${code} / signal ${signal})`;
    const giveUp = (why: string) => {
      err(`${why}; stopping serve`);
      closing = true;
      finish(1);
    };
    if (crashes.length > MAX_CRASHES) return giveUp(`${exited}: ${crashes.length} unexpected exits within ${CRASH_WINDOW_MS / 1000} s`);
    err(`${exited}; restarting on the same port`);
    // A kept database still holds the flows: redeploying would only add versions.
    const redeploy = examples && !dataDir;
    err(dataDir ? `the data is kept in ${dataDir}` : `in-memory data is gone: tables recreated${redeploy ? ', example flows redeployed' : ''}`);
    const client = localDynamoDbClient(ddb.endpoint);
    try {
      await ddb.restart();
      await ensureTables(client, { definitionsTable: stack.config.definitionsTable, stateTable: stack.config.stateTable });
      if (redeploy && crm && oauth) await deployExamples(stack.roots.flowApi, { crm: crm.url, oauth: oauth.url }, out);
      if (!closing) err(`DynamoDB Local is back at ${ddb.endpoint}`);
    } catch (e) {
      if (!closing) giveUp(`could not restart DynamoDB Local: ${(e as Error).message}`);
    } finally {
      client.destroy();
    }
  };
  // Recoveries run one after the other: a restarted process may die again while the tables are made.
  let recovering = Promise.resolve();
  const onExit = (info: DynamoDbLocalExit) => {
    recovering = recovering.then(() => recover(info));
  };

  try {
    ddb = await startDynamoDbLocal({ ...(dataDir ? { dataDir } : {}), onExit });
    // --data keeps the secrets too (connections' credentials, cached tokens): a restart loses none.
    const secretsDataFile = dataDir ? join(dataDir, 'secrets-manager.json') : undefined;
    if (!closing) stack = await startLocalStack({ dynamodbEndpoint: ddb.endpoint, port, functions: localFunctions, ...(secretsDataFile ? { secretsDataFile } : {}) });
    if (!closing && examples) {
      oauth = await startOAuthServer(DEMO_CLIENT);
      const crmOptions = { oauth: { jwksUrl: oauth.jwksUrl, requiredScope: 'crm.read' }, webhookSecret: DEMO_WEBHOOK_SECRET };
      // The sample CRM listens on 127.0.0.1:4010 (the README's `ivrflow run` example calls it there), or on a free port when 4010 is taken.
      crm = await startCrmServer({ ...crmOptions, port: SAMPLE_CRM_PORT }).catch(() => startCrmServer(crmOptions));
      out('examples:');
      await deployExamples(stack!.roots.flowApi, { crm: crm.url, oauth: oauth.url }, out);
    }
    if (!closing) {
      const refresh = async () => {
        try {
          const summary = (await stack!.invoke(FUNCTIONS.tokenRefresher.id)) as RefreshSummary;
          if (summary.checked > 0) (summary.failed.length > 0 ? err : out)(`token-refresher: ${describeRefresh(summary)}`);
        } catch (e) {
          err(`token-refresher failed: ${(e as Error).message}`);
        }
      };
      await refresh();
      refreshTimer = setInterval(() => void refresh(), REFRESH_EVERY_MS);
      refreshTimer.unref();
      const sweep = async () => {
        try {
          const summary = (await stack!.invoke(FUNCTIONS.waitSweeper.id)) as SweepSummary;
          if (summary.due > 0) (summary.failed.length > 0 ? err : out)(`wait-sweeper: ${summary.due} due, ${summary.timedOut} timed out, ${summary.failed.length} failed`);
        } catch (e) {
          err(`wait-sweeper failed: ${(e as Error).message}`);
        }
      };
      sweepTimer = setInterval(() => void sweep(), SWEEP_EVERY_MS);
      sweepTimer.unref();
      out(`DynamoDB Local at ${ddb.endpoint}${dataDir ? ` (data in ${dataDir})` : ' (in memory)'}`);
      out(`Secrets Manager at ${stack!.secretsEndpoint}${secretsDataFile ? ` (secrets in ${secretsDataFile})` : ' (in memory)'}`);
      if (oauth) out(`OAuth2 server at ${oauth.url} (token endpoint ${oauth.tokenEndpoint}, client ${DEMO_CLIENT.clientId})`);
      if (crm) out(`sample CRM at ${crm.url} (X-API-Key: ${DEMO_API_KEY}, or a bearer token from the OAuth2 server; callbacks signed with ${DEMO_WEBHOOK_SECRET})`);
      out(`Lambda Invoke API at ${stack!.api.url} (POST /2015-03-31/functions/{name}/invocations; functions ${stack!.functionNames.join(', ')})`);
      out(`listening on ${stack!.api.url}`);
    }
    markStarted();
    const code = await finished;
    out('stopping');
    return code;
  } finally {
    closing = true;
    markStarted();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    // Each one is stopped even when another fails to.
    const quietly = async (stop: (() => Promise<void>) | undefined) => {
      try {
        await stop?.();
      } catch (e) {
        err(`while stopping: ${(e as Error).message}`);
      }
    };
    clearInterval(refreshTimer);
    clearInterval(sweepTimer);
    await quietly(stack && (() => stack!.close()));
    await quietly(crm && (() => crm!.close()));
    await quietly(oauth && (() => oauth!.close()));
    await quietly(ddb && (() => ddb!.stop()));
    await recovering;
  }
}
