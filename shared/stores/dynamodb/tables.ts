/**
 * The DynamoDB table layouts — the one source of truth for key schema, GSIs and the TTL
 * attribute, read by the CDK stack (infra/constructs/tables.ts) and by local table creation.
 * All keys are strings.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/** The layout of one table: its key attributes, TTL attribute and global secondary indexes (all keys strings). */
export interface TableDefinition {
  partitionKey: string;
  sortKey: string;
  /** Attribute holding the expiry time in epoch seconds (DynamoDB TTL). */
  timeToLiveAttribute?: string;
  globalSecondaryIndexes: Array<{ indexName: string; partitionKey: string; sortKey: string }>;
}

/**
 * `Definitions`: flows (`FLOW#<id>` / `V#<version, 10 digits>` per version and `LATEST`, which
 * also carries the latest definition), later connections and workflow configurations. The
 * `byKind` index lists the latest pointers by `kind` (e.g. `FLOW`) and id.
 */
export const DEFINITIONS_TABLE: TableDefinition = {
  partitionKey: 'pk',
  sortKey: 'sk',
  globalSecondaryIndexes: [{ indexName: 'byKind', partitionKey: 'kind', sortKey: 'id' }],
};

/**
 * `State`: executions, idempotency keys, re-dial sessions, circuit-breaker records (later leases,
 * agent events). DynamoDB TTL on `ttl` (epoch seconds). The sparse `byKind` index lists circuits (`kind = CIRCUIT`).
 */
export const STATE_TABLE: TableDefinition = {
  partitionKey: 'pk',
  sortKey: 'sk',
  timeToLiveAttribute: 'ttl',
  globalSecondaryIndexes: [{ indexName: 'byKind', partitionKey: 'kind', sortKey: 'id' }],
};

/** The CreateTable request for a layout (on-demand billing), used locally and in tests. */
export function createTableInput(tableName: string, def: TableDefinition): CreateTableCommandInput {
  const attributes = new Set([def.partitionKey, def.sortKey, ...def.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey])]);
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: def.partitionKey, KeyType: 'HASH' },
      { AttributeName: def.sortKey, KeyType: 'RANGE' },
    ],
    ...(def.globalSecondaryIndexes.length
      ? {
          GlobalSecondaryIndexes: def.globalSecondaryIndexes.map((g) => ({
            IndexName: g.indexName,
            KeySchema: [
              { AttributeName: g.partitionKey, KeyType: 'HASH' },
              { AttributeName: g.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          })),
        }
      : {}),
  };
}
