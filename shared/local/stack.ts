/**
 * The whole service on one machine: DynamoDB Local, the tables, the local Secrets Manager
 * endpoint, and the functions it is given (the CLI and the tests pass functions/local.ts: every
 * function of the manifest with its real handler and root) behind the local API server — HTTP
 * functions on their routes, every function on the Lambda Invoke API by its id, scheduled ones
 * also through {@link LocalStack.invoke}. Callback URLs are built on the server's URL. Used by
 * `ivrflow serve` and the integration tests; it imports no function itself.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import type { Clock } from '../clock';
import { secretsManagerClient } from '../config/secrets-manager-client';
import { DEFAULT_SECRET_PREFIX } from '../connections/secret-names';
import type { ServiceConfig } from '../config/runtime';
import type { TokenEvent } from '../connections/token-provider';
import type { HttpClient } from '../http/client';
import { lambdaContext, startLocalApiServer, type InvocableFunction, type LambdaHttpHandler, type LocalApiServer } from './api-server';
import { ensureTables, LOCAL_AWS, localDynamoDbClient } from './dynamodb-local';
import { startSecretsManagerLocal, type SecretsManagerLocal } from './secrets-manager-local';

/** A function the local stack serves: a manifest entry (functions/manifest.ts). */
export interface LocalFunctionSpec {
  /** The name the Lambda Invoke API serves it by (the stack's logical id). */
  id: string;
  trigger: { type: 'http'; routes: readonly string[] } | { type: string };
  timeoutMs: number;
}

/** A function's handler, as Lambda invokes it. */
export type LocalHandler = (event: unknown, context: Context) => Promise<unknown>;

/** What the local functions are built from (the local endpoints' clients, and the tests' overrides). */
export interface LocalAdapters {
  dynamodb: DynamoDBClient;
  /** The local Secrets Manager's client (the stack builds it at once; the deployed functions on first use). */
  secretsManager: () => Promise<SecretsManagerClient>;
  http?: HttpClient;
  clock?: Clock;
  onTokenEvent?: (event: TokenEvent) => void;
}

/**
 * The functions to serve: their specs, and how to build their handlers once the stack knows its
 * configuration (its URL included); `roots` is what the stack's caller uses directly.
 */
export interface LocalFunctionSet<R> {
  specs: readonly LocalFunctionSpec[];
  build(config: ServiceConfig, adapters: LocalAdapters): { handlers: Record<string, LocalHandler>; roots: R };
}

/** Options of {@link startLocalStack}: the DynamoDB Local endpoint, the functions to serve, and overrides for tests. */
export interface LocalStackOptions<R> {
  /** DynamoDB Local endpoint (already running). */
  dynamodbEndpoint: string;
  /** The functions to serve (functions/local.ts). */
  functions: LocalFunctionSet<R>;
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

/** A running local stack: its API server, the functions' roots and configuration, the Secrets Manager endpoint, and how to invoke a function or close it all. */
export interface LocalStack<R> {
  api: LocalApiServer;
  roots: R;
  config: ServiceConfig;
  /** The Secrets Manager endpoint the stack uses. */
  secretsEndpoint: string;
  /** The functions the Lambda Invoke API serves (`POST /2015-03-31/functions/{name}/invocations`), by id. */
  functionNames: string[];
  /** Invokes a function once with `event` (a schedule's is `{}`), as Lambda would. @throws Error for an unknown id */
  invoke(id: string, event?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Starts the local stack: creates the tables if missing, starts a local Secrets Manager unless one
 * is given, serves the functions on the local API server and builds their handlers with a
 * configuration for one machine (private networks allowed, the circuit breaker failing open,
 * callback URLs on the server's URL).
 */
export async function startLocalStack<R>(options: LocalStackOptions<R>): Promise<LocalStack<R>> {
  const tables = options.tables ?? { definitionsTable: 'ivrflow-definitions', stateTable: 'ivrflow-state' };
  const dynamodb = options.dynamodb ?? localDynamoDbClient(options.dynamodbEndpoint);
  await ensureTables(dynamodb, tables);
  const config: ServiceConfig = { ...tables, allowPrivateNetworks: true, flowCacheTtlMs: options.flowCacheTtlMs ?? 5000, circuitCacheTtlMs: 1000, circuitFailOpen: true, secretPrefix: DEFAULT_SECRET_PREFIX };
  let ownSecrets: SecretsManagerLocal | undefined;
  if (options.secretsEndpoint === undefined) ownSecrets = await startSecretsManagerLocal(options.secretsDataFile ? { dataFile: options.secretsDataFile } : {});
  const secretsEndpoint = options.secretsEndpoint ?? ownSecrets!.endpoint;
  const secretsManager = secretsManagerClient({ ...LOCAL_AWS, endpoint: secretsEndpoint });
  // The server is up before the handlers exist (they are reached through `handlers`): callback URLs are built on its URL.
  let handlers: Record<string, LocalHandler> = {};
  const call = (id: string) => (event: unknown, context: Context) => handlers[id]!(event, context);
  const http: Record<string, { handler: LambdaHttpHandler; routes: readonly string[] }> = {};
  const invocable: Record<string, InvocableFunction> = {};
  for (const spec of options.functions.specs) {
    invocable[spec.id] = { handler: call(spec.id), timeoutMs: spec.timeoutMs };
    if ('routes' in spec.trigger) http[spec.id] = { handler: call(spec.id) as LambdaHttpHandler, routes: spec.trigger.routes };
  }
  const api = await startLocalApiServer(http, { invocable, ...(options.port === undefined ? {} : { port: options.port }) });
  config.publicUrl = api.url;
  const adapters: LocalAdapters = {
    dynamodb,
    secretsManager: () => Promise.resolve(secretsManager),
    ...(options.http ? { http: options.http } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onTokenEvent ? { onTokenEvent: options.onTokenEvent } : {}),
  };
  const built = options.functions.build(config, adapters);
  handlers = built.handlers;
  const invoke = async (id: string, event: unknown = {}) => {
    const spec = options.functions.specs.find((f) => f.id === id);
    if (!spec || !handlers[id]) throw new Error(`no local function '${id}'; functions: ${Object.keys(invocable).join(', ')}`);
    return handlers[id](event, lambdaContext(id, randomUUID(), spec.timeoutMs));
  };
  return {
    functionNames: Object.keys(invocable),
    api,
    roots: built.roots,
    config,
    secretsEndpoint,
    invoke,
    close: async () => {
      await api.close();
      secretsManager.destroy();
      await ownSecrets?.close();
    },
  };
}
