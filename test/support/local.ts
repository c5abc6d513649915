/** Test helpers around the local stack: unique tables per test file, a DynamoDB request counter. */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { localDynamoDbClient } from '#shared/local/dynamodb-local';
import { localFunctions, type LocalRoots } from '../../functions/local';
import { FUNCTIONS } from '../../functions/manifest';
import type { SweepSummary } from '#shared/api/continuations';
import type { RefreshSummary } from '#shared/connections/refresher';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '#shared/local/stack';

/** Records the operation name of every request an AWS SDK v3 client sends; returns the (live) list. */
export function recordRequests(client: { middlewareStack: DynamoDBClient['middlewareStack'] }): string[] {
  const calls: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  return calls;
}

/** A DynamoDB client that counts the requests it sends, by operation. */
export function countingClient(): { client: DynamoDBClient; calls: string[]; reset: () => void } {
  const client = localDynamoDbClient(inject('dynamodbEndpoint'));
  const calls = recordRequests(client);
  return { client, calls, reset: () => void calls.splice(0) };
}

/** Unique table names for one test file. */
export function uniqueTables(): { definitionsTable: string; stateTable: string } {
  const suffix = randomUUID().slice(0, 8);
  return { definitionsTable: `defs-${suffix}`, stateTable: `state-${suffix}` };
}

/** The local stack of every manifest function, with the schedules' runs at hand. */
export type TestStack = LocalStack<LocalRoots> & {
  /** Runs the token-refresher once (what its schedule does every 5 minutes). */
  refreshTokens(): Promise<RefreshSummary>;
  /** Runs the wait-sweeper once (what its schedule does every minute). */
  sweepWaits(): Promise<SweepSummary>;
};

/** The local stack with the functions of the manifest (functions/local.ts). */
export async function startFunctions(options: Omit<LocalStackOptions<LocalRoots>, 'functions'>): Promise<TestStack> {
  const stack = await startLocalStack({ ...options, functions: localFunctions });
  return {
    ...stack,
    refreshTokens: async () => (await stack.invoke(FUNCTIONS.tokenRefresher.id)) as RefreshSummary,
    sweepWaits: async () => (await stack.invoke(FUNCTIONS.waitSweeper.id)) as SweepSummary,
  };
}

/** The local stack on the shared DynamoDB Local with unique tables and a DynamoDB client that counts requests. */
export async function startTestStack(options: Partial<Omit<LocalStackOptions<LocalRoots>, 'functions'>> = {}): Promise<TestStack & { calls: string[]; resetCalls(): void; client: DynamoDBClient }> {
  const counting = countingClient();
  const stack = await startFunctions({ dynamodbEndpoint: inject('dynamodbEndpoint'), tables: uniqueTables(), dynamodb: counting.client, ...options });
  return { ...stack, calls: counting.calls, resetCalls: counting.reset, client: counting.client };
}

/**
 * The fields tests read from the local API's answers: the error envelope, an execution, a stored flow, a page.
 * An answer carries only the fields of its kind (none after a 204); a test reading a missing one fails there.
 */
export interface ApiBody {
  error: { code: string; message: string; details?: unknown };
  executionId: string;
  branch: string;
  variables: Record<string, unknown>;
  version: number;
  /** A page of flow summaries (id) or circuits (key). */
  items: { id: string; key: string }[];
  nextCursor?: string;
}

/** fetch + JSON for the local API. */
export async function api(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: ApiBody }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as ApiBody };
}
