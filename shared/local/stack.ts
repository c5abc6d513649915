/**
 * The whole service on one machine: DynamoDB Local, the tables, and every function's real
 * handler behind the local API server. Used by `ivrflow serve` and the integration tests.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createFlowApiHandler } from '../../functions/flow-api/handler';
import { createFlowExecutorHandler } from '../../functions/flow-executor/handler';
import { ROUTES } from '../api/routes';
import { createServices, type ServiceConfig, type Services } from '../api/runtime';
import type { HttpClient } from '../http/client';
import { startLocalApiServer, type LocalApiServer } from './api-server';
import { ensureTables, localDynamoDbClient } from './dynamodb-local';

export interface LocalStackOptions {
  /** DynamoDB Local endpoint (already running). */
  dynamodbEndpoint: string;
  /** Table names. @default ivrflow-definitions / ivrflow-state */
  tables?: { definitionsTable: string; stateTable: string };
  port?: number;
  /** Overrides for tests (e.g. a counting DynamoDB client). */
  dynamodb?: DynamoDBClient;
  http?: HttpClient;
  flowCacheTtlMs?: number;
}

export interface LocalStack {
  api: LocalApiServer;
  services: Services;
  config: ServiceConfig;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const tables = options.tables ?? { definitionsTable: 'ivrflow-definitions', stateTable: 'ivrflow-state' };
  const dynamodb = options.dynamodb ?? localDynamoDbClient(options.dynamodbEndpoint);
  await ensureTables(dynamodb, tables);
  const config: ServiceConfig = { ...tables, allowPrivateNetworks: true, flowCacheTtlMs: options.flowCacheTtlMs ?? 5000, circuitCacheTtlMs: 1000, circuitFailOpen: true };
  const services = createServices(config, { dynamodb, ...(options.http ? { http: options.http } : {}) });
  const api = await startLocalApiServer(
    {
      'flow-api': { handler: createFlowApiHandler(() => services), routes: ROUTES.flowApi },
      'flow-executor': { handler: createFlowExecutorHandler(() => services), routes: ROUTES.flowExecutor },
    },
    options.port === undefined ? {} : { port: options.port },
  );
  return { api, services, config, close: () => api.close() };
}
