/**
 * {@link TokenRegistry} on the `State` table: one item per token (`TOKEN#<hash>` / `TOKEN`), listed
 * through the sparse `byKind` index (`kind = TOKEN`). The lease is two attributes (`leaseOwner`,
 * `leaseUntil`) taken with one conditional update, so only one instance refreshes a token at a
 * time; an expired lease (its holder died) can be taken over. No item holds a secret value.
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TokenRecord, TokenRegistry, TokenSpec } from '../../connections/token-registry';
import { documentClient } from './document-client';

const KIND = 'TOKEN';
const keyOf = (hash: string) => ({ pk: `TOKEN#${hash}`, sk: KIND });

function toRecord(item: Record<string, unknown>): TokenRecord {
  const record: TokenRecord = {
    hash: item['id'] as string,
    tokenEndpoint: item['tokenEndpoint'] as string,
    clientId: item['clientId'] as string,
    scopes: (item['scopes'] as string[] | undefined) ?? [],
    clientAuthentication: item['clientAuthentication'] as TokenSpec['clientAuthentication'],
    clientSecret: item['clientSecret'] as TokenSpec['clientSecret'],
    source: item['source'] as string,
  };
  for (const k of ['issuedAt', 'expiresAt', 'lastErrorAt'] as const) if (typeof item[k] === 'number') record[k] = item[k];
  for (const k of ['scope', 'lastError'] as const) if (typeof item[k] === 'string') record[k] = item[k];
  return record;
}

function specValues(hash: string, spec: TokenSpec): Record<string, unknown> {
  return { ':kind': KIND, ':id': hash, ':te': spec.tokenEndpoint, ':ci': spec.clientId, ':sc': spec.scopes, ':ca': spec.clientAuthentication, ':cs': spec.clientSecret, ':src': spec.source };
}

/** Token records and their refresh leases in the `State` table (`TOKEN#<hash>`). */
export class DynamoTokenRegistry implements TokenRegistry {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(props: { tableName: string; client: DynamoDBClient }) {
    this.table = props.tableName;
    this.doc = documentClient(props.client);
  }

  async register(hash: string, spec: TokenSpec): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keyOf(hash),
        UpdateExpression: 'SET kind = :kind, id = :id, tokenEndpoint = :te, clientId = :ci, scopes = :sc, clientAuthentication = :ca, clientSecret = :cs, #source = :src',
        ExpressionAttributeNames: { '#source': 'source' },
        ExpressionAttributeValues: specValues(hash, spec),
      }),
    );
  }

  async get(hash: string): Promise<TokenRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyOf(hash), ConsistentRead: true }));
    return out.Item ? toRecord(out.Item) : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    const records: TokenRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': KIND }, ExclusiveStartKey: start }));
      records.push(...(out.Items ?? []).map(toRecord));
      start = out.LastEvaluatedKey;
    } while (start);
    return records;
  }

  async acquireLease(hash: string, spec: TokenSpec, owner: string, nowMs: number, untilMs: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(hash),
          // The spec is written too: it recreates a record another connection's removal deleted.
          UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until, kind = :kind, id = :id, tokenEndpoint = :te, clientId = :ci, scopes = :sc, clientAuthentication = :ca, clientSecret = :cs, #source = :src',
          ConditionExpression: 'attribute_not_exists(leaseOwner) OR leaseOwner = :owner OR leaseUntil <= :now',
          ExpressionAttributeNames: { '#source': 'source' },
          ExpressionAttributeValues: { ':owner': owner, ':until': untilMs, ':now': nowMs, ...specValues(hash, spec) },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async release(hash: string, owner: string, outcome: { token: { issuedAt: number; expiresAt: number; scope: string } } | { error: string; atMs: number }): Promise<void> {
    const set =
      'token' in outcome
        ? { expression: 'SET issuedAt = :ia, expiresAt = :ea, #scope = :sc REMOVE lastError, lastErrorAt', values: { ':ia': outcome.token.issuedAt, ':ea': outcome.token.expiresAt, ':sc': outcome.token.scope } }
        : { expression: 'SET lastError = :le, lastErrorAt = :la', values: { ':le': outcome.error, ':la': outcome.atMs } };
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(hash),
          UpdateExpression: set.expression,
          ConditionExpression: 'attribute_exists(pk)',
          ...('token' in outcome ? { ExpressionAttributeNames: { '#scope': 'scope' } } : {}),
          ExpressionAttributeValues: set.values,
        }),
      );
      // The lease goes only if this owner still holds it (it may have expired and been taken).
      await this.doc.send(new UpdateCommand({ TableName: this.table, Key: keyOf(hash), UpdateExpression: 'REMOVE leaseOwner, leaseUntil', ConditionExpression: 'leaseOwner = :owner', ExpressionAttributeValues: { ':owner': owner } }));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return;
      throw err;
    }
  }

  async remove(hash: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keyOf(hash) }));
  }
}
