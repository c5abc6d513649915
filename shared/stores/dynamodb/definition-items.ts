/**
 * Definitions of one kind on the `Definitions` table, one item each (`<KIND>#<id>` / `<KIND>`,
 * the definition in `definition`), listed through the `byKind` index (`kind = <KIND>`, by id).
 * The stores of connections and workflow configurations are this with their kind.
 */
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditKind } from '../audit';
import type { Auditor, Page } from '../ports';
import { auditItems, type AuditWrites } from './audit-trail';
import { decodeCursor, encodeCursor } from './cursor';
import { documentClient } from './document-client';

/** The audit kinds of one kind of definition's changes. */
export interface DefinitionAuditKinds {
  created: AuditKind;
  replaced: AuditKind;
  deleted: AuditKind;
}

/**
 * Definitions of one kind in the `Definitions` table (`<KIND>#<id>`): put, get, list by the
 * `byKind` index, delete. With `audit`, a put or delete given an {@link Auditor} writes its audit
 * item in the same transaction.
 */
export class DefinitionItems<T> {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    private readonly table: string,
    private readonly kind: string,
    client: DynamoDBClient,
    private readonly audit?: { writes: AuditWrites; kinds: DefinitionAuditKinds },
  ) {
    this.doc = documentClient(client);
  }

  private keyOf(id: string) {
    return { pk: `${this.kind}#${id}`, sk: this.kind };
  }

  /** Creates or replaces. @returns true when it was created */
  async put(id: string, definition: T, auditor?: Auditor): Promise<boolean> {
    const item = { ...this.keyOf(id), kind: this.kind, id, definition };
    if (!this.audit || !auditor) {
      const out = await this.doc.send(new PutCommand({ TableName: this.table, Item: item, ReturnValues: 'ALL_OLD' }));
      return out.Attributes === undefined;
    }
    // Whether it creates or replaces decides the audit kind: each is tried on its condition.
    for (let attempt = 0; ; attempt++) {
      for (const created of [true, false]) {
        const put = { Put: { TableName: this.table, Item: item, ConditionExpression: created ? 'attribute_not_exists(pk)' : 'attribute_exists(pk)' } };
        try {
          await this.doc.send(new TransactWriteCommand({ TransactItems: [put, ...auditItems(this.audit.writes, auditor, { kind: created ? this.audit.kinds.created : this.audit.kinds.replaced, subject: id })] }));
          return created;
        } catch (err) {
          if (!(err instanceof TransactionCanceledException) || attempt >= 2) throw err;
        }
      }
    }
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

  /** @returns false when it did not exist (and no audit item is written) */
  async delete(id: string, auditor?: Auditor): Promise<boolean> {
    const del = { TableName: this.table, Key: this.keyOf(id), ConditionExpression: 'attribute_exists(pk)' };
    const audit = this.audit ? auditItems(this.audit.writes, auditor, { kind: this.audit.kinds.deleted, subject: id }) : [];
    try {
      if (audit.length === 0) await this.doc.send(new DeleteCommand(del));
      else await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Delete: del }, ...audit] }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || err instanceof TransactionCanceledException) return false;
      throw err;
    }
  }
}
