/**
 * `FlowStore` on DynamoDB (`Definitions` table, see tables.ts).
 *
 * Deploying version N is one transaction of two conditional writes: the version item must not
 * exist, and the `LATEST` pointer must be at N−1 (or absent for N = 1). Two concurrent deploys of
 * the same version → exactly one wins; the other gets {@link VersionConflictError}.
 */
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { VersionConflictError } from '../../errors';
import type { Flow } from '../../flow/schema';
import type { FlowStore, FlowSummary, Page } from '../ports';
import { decodeCursor, encodeCursor } from './cursor';

const pk = (flowId: string) => `FLOW#${flowId}`;
const versionSk = (version: number) => `V#${String(version).padStart(10, '0')}`;
const LATEST = 'LATEST';

export interface DynamoFlowStoreProps {
  tableName: string;
  /** @default a new DynamoDBClient from the environment */
  client?: DynamoDBClient;
}

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
}

export class DynamoFlowStore implements FlowStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(props: DynamoFlowStoreProps) {
    this.table = props.tableName;
    this.doc = documentClient(props.client ?? new DynamoDBClient({}));
  }

  async putFlowVersion(flow: Flow & { version: number }, nowIso: string): Promise<void> {
    const { version } = flow;
    const definition = JSON.stringify(flow);
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: this.table, Item: { pk: pk(flow.id), sk: versionSk(version), version, definition, createdAt: nowIso }, ConditionExpression: 'attribute_not_exists(pk)' } },
            {
              Put: {
                TableName: this.table,
                Item: { pk: pk(flow.id), sk: LATEST, kind: 'FLOW', id: flow.id, name: flow.name, flowType: flow.flowType, version, definition, updatedAt: nowIso },
                ConditionExpression: version === 1 ? 'attribute_not_exists(pk)' : 'version = :previous',
                ...(version === 1 ? {} : { ExpressionAttributeValues: { ':previous': version - 1 } }),
              },
            },
          ],
        }),
      );
    } catch (err) {
      if (err instanceof TransactionCanceledException || err instanceof ConditionalCheckFailedException) {
        const currentVersion = await this.getLatestVersion(flow.id);
        throw new VersionConflictError(`flow '${flow.id}' is at version ${currentVersion}; version ${version} cannot be deployed (expected ${currentVersion + 1})`, { flowId: flow.id, currentVersion }, { cause: err });
      }
      throw err;
    }
  }

  async getFlow(flowId: string, version?: number): Promise<Flow | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: pk(flowId), sk: version === undefined ? LATEST : versionSk(version) } }));
    const definition = out.Item?.['definition'];
    return typeof definition === 'string' ? (JSON.parse(definition) as Flow) : undefined;
  }

  async getLatestVersion(flowId: string): Promise<number> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: pk(flowId), sk: LATEST }, ProjectionExpression: 'version', ConsistentRead: true }));
    return typeof out.Item?.['version'] === 'number' ? out.Item['version'] : 0;
  }

  async listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>> {
    const start = decodeCursor(cursor);
    const out = await this.doc.send(
      new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': 'FLOW' }, Limit: limit, ExclusiveStartKey: start }),
    );
    const items = (out.Items ?? []).map((i) => ({ id: i['id'] as string, name: i['name'] as string, flowType: i['flowType'] as string, latestVersion: i['version'] as number, updatedAt: i['updatedAt'] as string }));
    return { items, ...encodeCursor(out.LastEvaluatedKey) };
  }

  async deleteFlow(flowId: string): Promise<boolean> {
    const keys: Array<{ pk: string; sk: string }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk(flowId) }, ProjectionExpression: 'pk, sk', ExclusiveStartKey: start }));
      keys.push(...((out.Items ?? []) as Array<{ pk: string; sk: string }>));
      start = out.LastEvaluatedKey;
    } while (start);
    // The pointer goes first, so a half-finished delete leaves no resolvable flow.
    keys.sort((a, b) => (a.sk === LATEST ? -1 : b.sk === LATEST ? 1 : 0));
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; requests.length > 0 && attempt < 5; attempt++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: requests } }));
        requests = (out.UnprocessedItems?.[this.table] ?? []) as typeof requests;
      }
    }
    return keys.length > 0;
  }
}
