/**
 * `StateStore` on DynamoDB (`State` table, TTL on `expiresAt`, epoch seconds).
 *
 * Items: `EXEC#<id>` (the execution: `result` once it ended, else its `snapshot`, with `status`,
 * `rev` and the `waitId` it is suspended on), `IDEMP#<scope>#<key>` (idempotency key),
 * `SESSION#<flowId>#<sha256(session key)>` (re-dial session; the caller's number is not stored in
 * clear). Reads of expired items treat them as absent, since DynamoDB deletes expired items lazily.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { VersionConflictError } from '../../errors';
import { fitRecord } from '../../executor/record';
import { parseSnapshot, resultOf, type ExecutionSnapshot } from '../../executor/snapshot';
import type { ExecutionResult } from '../../steps/types';
import type { IdempotencyRecord, StateStore } from '../ports';
import { documentClient } from './flow-store';

export interface DynamoStateStoreProps {
  tableName: string;
  /** @default a new DynamoDBClient from the environment */
  client?: DynamoDBClient;
  /** Current time in epoch ms (injected clock). @default Date.now */
  now?: () => number;
}

const execKey = (id: string) => ({ pk: `EXEC#${id}`, sk: 'EXEC' });
const idempKey = (scope: string, key: string) => ({ pk: `IDEMP#${scope}#${key}`, sk: 'IDEMP' });
const sessionKeyOf = (flowId: string, key: string) => ({ pk: `SESSION#${flowId}#${createHash('sha256').update(key).digest('hex')}`, sk: 'SESSION' });

export class DynamoStateStore implements StateStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly now: () => number;

  constructor(props: DynamoStateStoreProps) {
    this.table = props.tableName;
    this.doc = documentClient(props.client ?? new DynamoDBClient({}));
    this.now = props.now ?? Date.now;
  }

  private epochSeconds(offsetSeconds = 0): number {
    return Math.floor(this.now() / 1000) + offsetSeconds;
  }

  /** The update that completes an idempotency key, inside a transaction with the record write. */
  private completeKey(idempotency: { scope: string; key: string }) {
    return {
      Update: {
        TableName: this.table,
        Key: idempKey(idempotency.scope, idempotency.key),
        UpdateExpression: 'SET #s = :completed',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':completed': 'COMPLETED' },
      },
    };
  }

  async putExecution(result: ExecutionResult, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<void> {
    const item = { ...execKey(result.executionId), status: result.status, result: JSON.stringify(result), expiresAt: this.epochSeconds(ttlSeconds) };
    if (!idempotency) {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: item }));
      return;
    }
    await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: this.table, Item: item } }, this.completeKey(idempotency)] }));
  }

  async getExecution(executionId: string): Promise<ExecutionResult | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: execKey(executionId) }));
    if (!out.Item || (out.Item['expiresAt'] as number) < this.epochSeconds()) return undefined;
    if (typeof out.Item['snapshot'] === 'string') return resultOf(parseSnapshot(JSON.parse(out.Item['snapshot'])), this.now());
    return JSON.parse(out.Item['result'] as string) as ExecutionResult;
  }

  async getSnapshot(executionId: string): Promise<ExecutionSnapshot | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: execKey(executionId), ConsistentRead: true }));
    const text: unknown = out.Item?.['snapshot'];
    return typeof text === 'string' ? parseSnapshot(JSON.parse(text)) : undefined;
  }

  async saveSnapshot(snapshot: ExecutionSnapshot, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<void> {
    const rev = snapshot.rev + 1;
    const item = {
      ...execKey(snapshot.executionId),
      status: snapshot.status,
      rev,
      ...(snapshot.result ? { result: JSON.stringify(fitRecord(snapshot.result)) } : { snapshot: JSON.stringify({ ...snapshot, rev }) }),
      ...(snapshot.wait ? { waitId: snapshot.wait.waitId, waitUntil: snapshot.wait.until } : {}),
      expiresAt: this.epochSeconds(ttlSeconds),
    };
    const put = {
      TableName: this.table,
      Item: item,
      ConditionExpression: snapshot.rev === 0 ? 'attribute_not_exists(pk)' : 'rev = :rev',
      ...(snapshot.rev === 0 ? {} : { ExpressionAttributeValues: { ':rev': snapshot.rev } }),
    };
    try {
      if (idempotency) await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: put }, this.completeKey(idempotency)] }));
      else await this.doc.send(new PutCommand(put));
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || err instanceof TransactionCanceledException) {
        throw new VersionConflictError(`execution ${snapshot.executionId} was changed by another worker (expected revision ${snapshot.rev})`, { executionId: snapshot.executionId }, { cause: err });
      }
      throw err;
    }
    snapshot.rev = rev;
  }

  async claimWait(executionId: string, waitId: string): Promise<{ claimed: true; snapshot: ExecutionSnapshot } | { claimed: false; status?: string }> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: execKey(executionId),
          UpdateExpression: 'SET #s = :running, rev = rev + :one REMOVE waitId',
          ConditionExpression: '#s = :waiting AND waitId = :wait',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':running': 'RUNNING', ':waiting': 'WAITING', ':wait': waitId, ':one': 1 },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      const attributes = out.Attributes ?? {};
      // The stored snapshot still says WAITING on this wait: `resume` continues it from there.
      const snapshot = parseSnapshot(JSON.parse(attributes['snapshot'] as string));
      return { claimed: true, snapshot: { ...snapshot, rev: attributes['rev'] as number } };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const old = err.Item ? unmarshall(err.Item) : undefined;
      return { claimed: false, ...(typeof old?.['status'] === 'string' ? { status: old['status'] } : {}) };
    }
  }

  async claimIdempotencyKey(scope: string, key: string, record: IdempotencyRecord, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...idempKey(scope, key), ...record, expiresAt: this.epochSeconds(ttlSeconds) },
          // Free, expired, or an IN_PROGRESS claim whose runner died (lock expired).
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR (#s = :inProgress AND lockExpiresAt < :now)',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':now': this.epochSeconds(), ':inProgress': 'IN_PROGRESS' },
        }),
      );
      return { claimed: true };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const existing = await this.getIdempotencyRecord(scope, key);
      if (!existing) return this.claimIdempotencyKey(scope, key, record, ttlSeconds);
      return { claimed: false, record: existing };
    }
  }

  async getIdempotencyRecord(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: idempKey(scope, key), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { status, requestHash, executionId, lockExpiresAt } = out.Item as IdempotencyRecord;
    return { status, requestHash, executionId, lockExpiresAt };
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    await this.doc
      .send(new DeleteCommand({ TableName: this.table, Key: idempKey(scope, key), ConditionExpression: '#s = :inProgress', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':inProgress': 'IN_PROGRESS' } }))
      .catch((err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      });
  }

  async getSession(flowId: string, sessionKey: string, nowMs: number): Promise<Record<string, unknown> | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: sessionKeyOf(flowId, sessionKey) }));
    if (!out.Item || (out.Item['expiresAtMs'] as number) <= nowMs) return undefined;
    return JSON.parse(out.Item['variables'] as string) as Record<string, unknown>;
  }

  async putSession(flowId: string, sessionKey: string, variables: Record<string, unknown>, expiresAtMs: number): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...sessionKeyOf(flowId, sessionKey), variables: JSON.stringify(variables), expiresAtMs, expiresAt: Math.ceil(expiresAtMs / 1000) } }));
  }
}
