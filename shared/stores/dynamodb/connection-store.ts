/**
 * {@link ConnectionStore} on the `Definitions` table: one item per connection
 * (`CONNECTION#<name>` / `CONNECTION`, the definition in `definition`), listed through the
 * `byKind` index (`kind = CONNECTION`). No item holds a credential.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Connection } from '../../connections/connection';
import type { ConnectionStore, Page } from '../ports';
import { decodeCursor, encodeCursor } from './cursor';
import { documentClient } from './flow-store';

const KIND = 'CONNECTION';
const keyOf = (name: string) => ({ pk: `CONNECTION#${name}`, sk: KIND });

export class DynamoConnectionStore implements ConnectionStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(props: { tableName: string; client?: DynamoDBClient }) {
    this.table = props.tableName;
    this.doc = documentClient(props.client ?? new DynamoDBClient({}));
  }

  async putConnection(connection: Connection): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keyOf(connection.name), kind: KIND, id: connection.name, definition: connection } }));
  }

  async getConnection(name: string): Promise<Connection | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyOf(name), ConsistentRead: true }));
    return out.Item?.['definition'] as Connection | undefined;
  }

  async listConnections(limit: number, cursor?: string): Promise<Page<Connection>> {
    const start = decodeCursor(cursor, { kind: KIND });
    const out = await this.doc.send(new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': KIND }, Limit: limit, ExclusiveStartKey: start }));
    return { items: (out.Items ?? []).map((i) => i['definition'] as Connection), ...encodeCursor(out.LastEvaluatedKey) };
  }

  async deleteConnection(name: string): Promise<boolean> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keyOf(name), ConditionExpression: 'attribute_exists(pk)' }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
