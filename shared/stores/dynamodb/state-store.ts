/**
 * `StateStore` on DynamoDB (`State` table, DynamoDB TTL on `ttl`, epoch seconds; `expiresAt` in this code base is always ms).
 *
 * Items: `EXEC#<id>` (the execution: `result` once it ended, else its `snapshot`, with `status`,
 * `rev`, `settled` (how each of its waits ended) and, while WAITING, the `waitId` it is suspended
 * on and its `waitUntil`; a claimed one has `claimedWait`, `claimedBy` and `claimedAt` (its lease)
 * until it is saved again), `DUEWAITS` / `<deadline>#<id>#<waitId>` (every wait, listed by
 * deadline for the wait-sweeper, written with the WAITING snapshot and removed by the sweeper once
 * past its deadline and settled; an execution item is never in an index, as conditional writes on
 * indexed items race in DynamoDB Local),
 * `EXEC#<id>` / `WAIT#<waitId>` (a wait registered before its request was sent, with its deadline, its
 * connection and, once an early callback came, its `payload`),
 * `IDEMP#<scope>#<key>` (idempotency key),
 * `SESSION#<flowId>#<sha256(session key)>` (re-dial session; the caller's number is not stored in
 * clear). Reads of expired items treat them as absent, since DynamoDB deletes expired items lazily.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { VersionConflictError } from '../../errors';
import { fitRecord } from '../../executor/record';
import { parseSnapshot, resultOf, type ExecutionSnapshot, type Settled } from '../../executor/snapshot';
import type { ExecutionResult } from '../../steps/types';
import type { DueWait, ExecutionQuery, ExecutionSummary, IdempotencyRecord, Page, SaveOutcome, StateStore, WaitClaim, WaitView } from '../ports';
import { indexWrites, searchExecutions, summaryOf } from './execution-index';
import { documentClient } from './document-client';

/** What a {@link DynamoStateStore} is built from: the `State` table's name, the DynamoDB client and the clock (epoch ms). */
export interface DynamoStateStoreProps {
  tableName: string;
  /** The client (built by the composition root: shared/config/aws-clients.ts). */
  client: DynamoDBClient;
  /** Current time in epoch ms (injected clock). @default Date.now */
  now?: () => number;
}

const execKey = (id: string) => ({ pk: `EXEC#${id}`, sk: 'EXEC' });
/** A wait registered before its request was sent, beside its execution (where an early callback's payload is kept). */
const waitKey = (id: string, waitId: string) => ({ pk: `EXEC#${id}`, sk: `WAIT#${waitId}` });
const idempKey = (scope: string, key: string) => ({ pk: `IDEMP#${scope}#${key}`, sk: 'IDEMP' });
/** The partition listing waits by deadline for the sweeper (its sort key: deadline in epoch ms, 15 digits, then the execution and wait). */
const DUE_WAITS = 'DUEWAITS';
const dueWaitKey = (until: number, executionId: string, waitId: string) => `${String(Math.max(0, Math.floor(until))).padStart(15, '0')}#${executionId}#${waitId}`;
const sessionKeyOf = (flowId: string, key: string) => ({ pk: `SESSION#${flowId}#${createHash('sha256').update(key).digest('hex')}`, sk: 'SESSION' });

/** Executions, waits, idempotency keys and re-dial sessions in the `State` table (items in the module's header). */
export class DynamoStateStore implements StateStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly now: () => number;

  constructor(props: DynamoStateStoreProps) {
    this.table = props.tableName;
    this.doc = documentClient(props.client);
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
    const item = { ...execKey(result.executionId), status: result.status, result: JSON.stringify(result), ttl: this.epochSeconds(ttlSeconds) };
    // Its search items, and the key's completion, in the same request.
    await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: { TableName: this.table, Item: item } }, ...indexWrites(this.table, summaryOf(result), item.ttl), ...(idempotency ? [this.completeKey(idempotency)] : [])] }));
  }

  listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>> {
    return searchExecutions(this.doc, this.table, query, this.now());
  }

  async getExecution(executionId: string): Promise<ExecutionResult | undefined> {
    // Consistent: a poll right after the start must see the execution.
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: execKey(executionId), ConsistentRead: true }));
    if (!out.Item || (out.Item['ttl'] as number) < this.epochSeconds()) return undefined;
    if (typeof out.Item['snapshot'] === 'string') {
      // A claimed execution's snapshot still says WAITING: the item's status (RUNNING) is the truth.
      const snapshot = parseSnapshot(JSON.parse(out.Item['snapshot']));
      return resultOf({ ...snapshot, status: out.Item['status'] as ExecutionSnapshot['status'] }, this.now());
    }
    return JSON.parse(out.Item['result'] as string) as ExecutionResult;
  }

  async getSnapshot(executionId: string): Promise<ExecutionSnapshot | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: execKey(executionId), ConsistentRead: true }));
    const text: unknown = out.Item?.['snapshot'];
    return typeof text === 'string' ? parseSnapshot(JSON.parse(text)) : undefined;
  }

  async saveSnapshot(snapshot: ExecutionSnapshot, ttlSeconds: number, idempotency?: { scope: string; key: string }): Promise<SaveOutcome> {
    const rev = snapshot.rev + 1;
    const item = {
      ...execKey(snapshot.executionId),
      status: snapshot.status,
      rev,
      ...(snapshot.result ? { result: JSON.stringify(fitRecord(snapshot.result)) } : { snapshot: JSON.stringify({ ...snapshot, rev }) }),
      ...(snapshot.settled ? { settled: snapshot.settled } : {}),
      ...(snapshot.status === 'WAITING' && snapshot.wait
        ? {
            waitId: snapshot.wait.waitId,
            waitUntil: snapshot.wait.until,
            ...(snapshot.wait.callback?.connection ? { waitConnection: snapshot.wait.callback.connection } : {}),
          }
        : {}),
      ttl: this.epochSeconds(ttlSeconds),
    };
    const put = {
      TableName: this.table,
      Item: item,
      ConditionExpression: snapshot.rev === 0 ? 'attribute_not_exists(pk)' : 'rev = :rev',
      ...(snapshot.rev === 0 ? {} : { ExpressionAttributeValues: { ':rev': snapshot.rev } }),
    };
    // A wait is also listed for the sweeper, by deadline, in the same request; and it is stored
    // only if no callback came for it early (else the caller continues with that payload at once).
    // Its search items follow (the condition's position, 2, is read below).
    const wait = snapshot.status === 'WAITING' ? snapshot.wait : undefined;
    const waiting = wait
      ? [
          { Put: { TableName: this.table, Item: { pk: DUE_WAITS, sk: dueWaitKey(wait.until, snapshot.executionId, wait.waitId), executionId: snapshot.executionId, waitId: wait.waitId, ttl: item.ttl } } },
          { ConditionCheck: { TableName: this.table, Key: waitKey(snapshot.executionId, wait.waitId), ConditionExpression: 'attribute_not_exists(payload)' } },
        ]
      : [];
    try {
      const summary = summaryOf(snapshot.result ?? resultOf(snapshot, this.now()));
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Put: put }, ...waiting, ...indexWrites(this.table, summary, item.ttl), ...(idempotency ? [this.completeKey(idempotency)] : [])] }));
    } catch (err) {
      // The wait's condition (third item) failed: its callback came before the execution suspended.
      if (wait && err instanceof TransactionCanceledException && err.CancellationReasons?.[2]?.Code === 'ConditionalCheckFailed') {
        const early = await this.doc.send(new GetCommand({ TableName: this.table, Key: waitKey(snapshot.executionId, wait.waitId), ConsistentRead: true }));
        return { earlyCallback: { payload: JSON.parse(early.Item?.['payload'] as string) as unknown } };
      }
      if (err instanceof ConditionalCheckFailedException || err instanceof TransactionCanceledException) {
        throw new VersionConflictError(`execution ${snapshot.executionId} was changed by another worker (expected revision ${snapshot.rev})`, { executionId: snapshot.executionId }, { cause: err });
      }
      throw err;
    }
    snapshot.rev = rev;
    return {};
  }

  async registerWait(executionId: string, waitId: string, wait: { until: number; connection?: string }): Promise<void> {
    const ttl = Math.ceil(wait.until / 1000) + 24 * 3600;
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...waitKey(executionId, waitId), until: wait.until, ...(wait.connection ? { waitConnection: wait.connection } : {}), ttl } }));
  }

  async storeEarlyCallback(executionId: string, waitId: string, payload: unknown): Promise<'stored' | 'duplicate' | 'waiting'> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            // Not (yet) waiting on this wait: once it is, the callback resumes it the usual way.
            {
              ConditionCheck: {
                TableName: this.table,
                Key: execKey(executionId),
                ConditionExpression: 'attribute_not_exists(pk) OR #s <> :waiting OR waitId <> :wait',
                ExpressionAttributeNames: { '#s': 'status' },
                ExpressionAttributeValues: { ':waiting': 'WAITING', ':wait': waitId },
              },
            },
            {
              Update: {
                TableName: this.table,
                Key: waitKey(executionId, waitId),
                UpdateExpression: 'SET payload = :payload, receivedAt = :now',
                ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(payload)',
                ExpressionAttributeValues: { ':payload': JSON.stringify(payload), ':now': this.now() },
              },
            },
          ],
        }),
      );
      return 'stored';
    } catch (err) {
      if (!(err instanceof TransactionCanceledException)) throw err;
      const [exec, waitItem] = (err.CancellationReasons ?? []).map((r) => r.Code);
      if (exec === 'ConditionalCheckFailed') return 'waiting';
      if (waitItem === 'ConditionalCheckFailed') return 'duplicate';
      throw err;
    }
  }

  async claimWait(executionId: string, waitId: string, by: Settled['by']): Promise<WaitClaim> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: execKey(executionId),
          // `claimedAt` starts the claim's lease: the sweeper fails the execution if its resumer dies before saving.
          UpdateExpression: 'SET #s = :running, rev = rev + :one, claimedWait = :wait, claimedBy = :by, claimedAt = :now REMOVE waitId',
          // A payload only before the wait's deadline, a timeout only from it on: of a callback and a timeout racing, exactly one wins.
          ConditionExpression: `#s = :waiting AND waitId = :wait AND waitUntil ${by === 'payload' ? '>' : '<='} :now`,
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':running': 'RUNNING', ':waiting': 'WAITING', ':wait': waitId, ':by': by, ':one': 1, ':now': this.now() },
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
      if (!old) return { claimed: false };
      const view = waitViewOf(old, waitId);
      return {
        claimed: false,
        status: old['status'] as string,
        rev: old['rev'] as number,
        ...(view?.state === 'settled' ? { settledBy: view.by } : {}),
        ...(view?.state === 'waiting' ? { waitUntil: view.until } : {}),
        ...(old['status'] === 'RUNNING' && old['claimedWait'] === waitId && typeof old['claimedAt'] === 'number' ? { claimedAt: old['claimedAt'] } : {}),
      };
    }
  }

  async getWait(executionId: string, waitId: string): Promise<WaitView | undefined> {
    // The execution and its registered waits share a partition: one consistent query reads both.
    const out = await this.doc.send(new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': execKey(executionId).pk }, ConsistentRead: true }));
    const items = (out.Items ?? []).filter((item) => (item['ttl'] as number) >= this.epochSeconds());
    const exec = items.find((item) => item['sk'] === 'EXEC');
    const registered = items.find((item) => item['sk'] === `WAIT#${waitId}`);
    const view = exec ? waitViewOf(exec, waitId) : undefined;
    // Not yet waiting on it (running, or not stored yet), but registered before its request was sent: an early callback.
    if (registered && (view === undefined || view.state === 'pending')) {
      const connection: unknown = registered['waitConnection'];
      return { state: 'registered', until: registered['until'] as number, received: typeof registered['payload'] === 'string', ...(typeof connection === 'string' && connection !== '' ? { connection } : {}) };
    }
    return view;
  }

  async listDueWaits(nowMs: number, limit: number): Promise<DueWait[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :due AND sk <= :now',
        ExpressionAttributeValues: { ':due': DUE_WAITS, ':now': `${dueWaitKey(nowMs, '', '')}~` },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((item) => ({ executionId: item['executionId'] as string, waitId: item['waitId'] as string, key: item['sk'] as string }));
  }

  async forgetDueWait(key: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: DUE_WAITS, sk: key } }));
  }

  async claimIdempotencyKey(scope: string, key: string, record: IdempotencyRecord, ttlSeconds: number): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...idempKey(scope, key), ...record, ttl: this.epochSeconds(ttlSeconds) },
          // Free or expired only: an IN_PROGRESS claim whose lock expired is in doubt, never taken over.
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
          // `ttl` is a DynamoDB reserved word.
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':now': this.epochSeconds() },
          // The current record comes back with the failed write itself (Powertools' DynamoDBPersistenceLayer does the same): no extra read.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException) || !err.Item) throw err;
      const { status, requestHash, executionId, lockExpiresAt } = unmarshall(err.Item) as IdempotencyRecord;
      return { claimed: false, record: { status, requestHash, executionId, lockExpiresAt } };
    }
  }

  async getIdempotencyRecord(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: idempKey(scope, key), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { status, requestHash, executionId, lockExpiresAt } = out.Item as IdempotencyRecord;
    return { status, requestHash, executionId, lockExpiresAt };
  }

  async releaseIdempotencyKey(scope: string, key: string, executionId: string): Promise<void> {
    await this.doc
      .send(
        new DeleteCommand({
          TableName: this.table,
          Key: idempKey(scope, key),
          ConditionExpression: '#s = :inProgress AND executionId = :id',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':inProgress': 'IN_PROGRESS', ':id': executionId },
        }),
      )
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

/** What an execution item says about one of its waits (undefined: the item never had it). */
function waitViewOf(item: Record<string, unknown>, waitId: string): WaitView | undefined {
  const connection = (c: unknown) => (typeof c === 'string' && c !== '' ? { connection: c } : {});
  if (item['status'] === 'WAITING' && item['waitId'] === waitId) return { state: 'waiting', until: item['waitUntil'] as number, ...connection(item['waitConnection']) };
  if (item['claimedWait'] === waitId) return { state: 'settled', by: item['claimedBy'] as Settled['by'], ...connection(item['waitConnection']) };
  const settled = (item['settled'] as Record<string, Settled> | undefined)?.[waitId];
  if (settled) return { state: 'settled', by: settled.by, ...connection(settled.connection) };
  // Running: this wait may be the one it is about to store (a backend that calls back before its 202 is handled).
  return item['status'] === 'RUNNING' ? { state: 'pending' } : undefined;
}
