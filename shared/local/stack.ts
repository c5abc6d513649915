/**
 * The whole service on one machine: DynamoDB Local, the tables, the local Secrets Manager
 * endpoint, and every function's real handler behind the local API server (the scheduled ones,
 * which have no route, through {@link LocalStack.refreshTokens} and {@link LocalStack.sweepWaits}).
 * Callback URLs are built on the server's URL. Used by `ivrflow serve` and the
 * integration tests.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { secretsManagerClient } from '../stores/aws-clients';
import type { Clock } from '../clock';
import { createTokenRefresherHandler } from '../../functions/token-refresher/handler';
import type { RefreshSummary } from '../connections/refresher';
import type { TokenEvent } from '../connections/token-provider';
import { createAgentEventsHandler } from '../../functions/agent-events/handler';
import { createConnectInvokeHandler } from '../../functions/connect-invoke/handler';
import { createFlowApiHandler } from '../../functions/flow-api/handler';
import { createFlowExecutorHandler } from '../../functions/flow-executor/handler';
import { createWaitSweeperHandler } from '../../functions/wait-sweeper/handler';
import { createWebhookCallbackHandler } from '../../functions/webhook-callback/handler';
import { ROUTES } from '../api/routes';
import type { SweepSummary } from '../api/execution-service';
import { createServices, type ServiceConfig, type Services } from '../api/runtime';
import type { HttpClient } from '../http/client';
import { randomUUID } from 'node:crypto';
import type { ApiEvent } from '../api/http';
import { CONNECT_INVOKE_TIMEOUT_MS } from '../platforms/connect';
import { lambdaContext, startLocalApiServer, type InvocableFunction, type LocalApiServer } from './api-server';
import { ensureTables, LOCAL_AWS, localDynamoDbClient } from './dynamodb-local';
import { startSecretsManagerLocal, type SecretsManagerLocal } from './secrets-manager-local';

export interface LocalStackOptions {
  /** DynamoDB Local endpoint (already running). */
  dynamodbEndpoint: string;
  /** Table names. @default ivrflow-definitions / ivrflow-state */
  tables?: { definitionsTable: string; stateTable: string };
  port?: number;
  /** Overrides for tests (e.g. a counting DynamoDB client). */
  dynamodb?: DynamoDBClient;
  http?: HttpClient;
  clock?: Clock;
  flowCacheTtlMs?: number;
  /** A Secrets Manager endpoint already running; by default the stack starts a local one. */
  secretsEndpoint?: string;
  /** Where the local Secrets Manager the stack starts keeps its secrets. @default in memory */
  secretsDataFile?: string;
  onTokenEvent?: (event: TokenEvent) => void;
}

export interface LocalStack {
  api: LocalApiServer;
  services: Services;
  config: ServiceConfig;
  /** The Secrets Manager endpoint the stack uses. */
  secretsEndpoint: string;
  /** The functions the Lambda Invoke API serves (`POST /2015-03-31/functions/{name}/invocations`), by the stack's logical ids. */
  functionNames: string[];
  /** Runs the token-refresher function once (what its schedule does every 5 minutes). */
  refreshTokens(): Promise<RefreshSummary>;
  /** Runs the wait-sweeper function once (what its schedule does every minute). */
  sweepWaits(): Promise<SweepSummary>;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const tables = options.tables ?? { definitionsTable: 'ivrflow-definitions', stateTable: 'ivrflow-state' };
  const dynamodb = options.dynamodb ?? localDynamoDbClient(options.dynamodbEndpoint);
  await ensureTables(dynamodb, tables);
  const config: ServiceConfig = { ...tables, allowPrivateNetworks: true, flowCacheTtlMs: options.flowCacheTtlMs ?? 5000, circuitCacheTtlMs: 1000, circuitFailOpen: true };
  let ownSecrets: SecretsManagerLocal | undefined;
  if (options.secretsEndpoint === undefined) ownSecrets = await startSecretsManagerLocal(options.secretsDataFile ? { dataFile: options.secretsDataFile } : {});
  const secretsEndpoint = options.secretsEndpoint ?? ownSecrets!.endpoint;
  const secretsManager = secretsManagerClient({ ...LOCAL_AWS, endpoint: secretsEndpoint });
  // The server is up before the services exist (handlers reach them lazily): callback URLs are built on its URL.
  let services: Services | undefined;
  const current = () => services!;
  const http = { flowApi: createFlowApiHandler(current), flowExecutor: createFlowExecutorHandler(current), webhookCallback: createWebhookCallbackHandler(current), agentEvents: createAgentEventsHandler(current) };
  const refresher = createTokenRefresherHandler(current);
  const sweeper = createWaitSweeperHandler(current);
  const connect = createConnectInvokeHandler(current);
  /** Every function by the stack's logical id, with its timeout there (infra/ivrflow-stack.ts). */
  const invocable: Record<string, InvocableFunction> = {
    FlowApi: { handler: (e, c) => http.flowApi(e as ApiEvent, c), timeoutMs: 30_000 },
    FlowExecutor: { handler: (e, c) => http.flowExecutor(e as ApiEvent, c), timeoutMs: 30_000 },
    WebhookCallback: { handler: (e, c) => http.webhookCallback(e as ApiEvent, c), timeoutMs: 30_000 },
    AgentEvents: { handler: (e, c) => http.agentEvents(e as ApiEvent, c), timeoutMs: 30_000 },
    TokenRefresher: { handler: (e, c) => refresher(e, c), timeoutMs: 60_000 },
    WaitSweeper: { handler: (e, c) => sweeper(e, c), timeoutMs: 60_000 },
    ConnectInvoke: { handler: (e, c) => connect(e, c), timeoutMs: CONNECT_INVOKE_TIMEOUT_MS },
  };
  const api = await startLocalApiServer(
    {
      'flow-api': { handler: http.flowApi, routes: ROUTES.flowApi },
      'flow-executor': { handler: http.flowExecutor, routes: ROUTES.flowExecutor },
      'webhook-callback': { handler: http.webhookCallback, routes: ROUTES.webhookCallback },
      'agent-events': { handler: http.agentEvents, routes: ROUTES.agentEvents },
    },
    { invocable, ...(options.port === undefined ? {} : { port: options.port }) },
  );
  config.publicUrl = api.url;
  services = createServices(config, {
    dynamodb,
    secretsManager,
    ...(options.http ? { http: options.http } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onTokenEvent ? { onTokenEvent: options.onTokenEvent } : {}),
  });
  return {
    functionNames: Object.keys(invocable),
    api,
    services,
    config,
    secretsEndpoint,
    // An empty event is a schedule's: the answer is the run's summary.
    refreshTokens: async () => (await refresher({}, lambdaContext('token-refresher', randomUUID()))) as RefreshSummary,
    sweepWaits: async () => (await sweeper({}, lambdaContext('wait-sweeper', randomUUID(), 60_000))) as SweepSummary,
    close: async () => {
      await api.close();
      secretsManager.destroy();
      await ownSecrets?.close();
    },
  };
}
