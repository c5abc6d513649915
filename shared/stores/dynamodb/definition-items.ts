/**
 * Definitions of one kind on the `Definitions` table, one item each (`<KIND>#<id>` / `<KIND>`,
 * the definition in `definition`), listed through the `byKind` index (`kind = <KIND>`, by id).
 * The stores of connections and workflow configurations are this with their kind.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Page } from '../ports';
import { decodeCursor, encodeCursor } from './cursor';
import { documentClient } from './flow-store';

/** Definitions of one kind in the `Definitions` table (`<KIND>#<id>`): put, get, list by the `byKind` index, delete. */
export class DefinitionItems<T> {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly table: string,
    private readonly kind: string,
    client: DynamoDBClient,
  ) {
    this.doc = documentClient(client);
  }

  private keyOf(id: string) {
    return { pk: `${this.kind}#${id}`, sk: this.kind };
  }

  /** Creates or replaces. @returns true when it was created */
  async put(id: string, definition: T): Promise<boolean> {
    const out = await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...this.keyOf(id), kind: this.kind, id, definition }, ReturnValues: 'ALL_OLD' }));
    return out.Attributes === undefined;
  }

  async get(id: string): Promise<T | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: this.keyOf(id), ConsistentRead: true }));
    return out.Item?.['definition'] as T | undefined;
  }

  async list(limit: number, cursor?: string): Promise<Page<T>> {
    const start = decodeCursor(cursor, { kind: this.kind });
    const out = await this.doc.send(new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': this.kind }, Limit: limit, ExclusiveStartKey: start }));
    return { items: (out.Items ?? []).map((i) => i['definition'] as T), ...encodeCursor(out.LastEvaluatedKey) };
  }

  /** @returns false when it did not exist */
  async delete(id: string): Promise<boolean> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: this.keyOf(id), ConditionExpression: 'attribute_exists(pk)' }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
