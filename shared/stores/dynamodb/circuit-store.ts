/**
 * {@link CircuitStore} on the `State` table: one item per circuit (`CIRCUIT#<key>` / `CIRCUIT`),
 * listed through the sparse `byKind` index (`kind = CIRCUIT`). Every method is one atomic
 * conditional write (`ADD` for counters, conditions on `state` and `prober`) or one read; there
 * is no read-modify-write. Records expire 30 days after their last change (TTL).
 */
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Auditor } from '../ports';
import type { CircuitRecord, CircuitStore } from '../../resilience/circuit-breaker';
import { auditItems, type AuditWrites } from './audit-trail';
import { decodeCursor, encodeCursor } from './cursor';
import { documentClient } from './document-client';

const RECORD_TTL_SECONDS = 30 * 24 * 3600;
const keyOf = (key: string) => ({ pk: `CIRCUIT#${key}`, sk: 'CIRCUIT' });
const names = { '#state': 'state', '#ttl': 'ttl' };

function toRecord(item: Record<string, unknown>): CircuitRecord {
  const r: CircuitRecord = { key: item['id'] as string, state: item['state'] as CircuitRecord['state'], failures: (item['failures'] as number) ?? 0, version: (item['version'] as number) ?? 0 };
  for (const k of ['retryAt', 'probeLeaseUntil', 'updatedAt'] as const) if (typeof item[k] === 'number') r[k] = item[k];
  if (typeof item['prober'] === 'string') r.prober = item['prober'];
  return r;
}

async function conditional(op: Promise<unknown>): Promise<boolean> {
  try {
    await op;
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

/** Circuit records in the `State` table (`CIRCUIT#<key>`), each change one conditional write. */
export class DynamoCircuitStore implements CircuitStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  private readonly audit: AuditWrites | undefined;

  /** `audit`: where resets given an auditor write their audit item (shared/stores/audit.ts). */
  constructor(props: { tableName: string; client: DynamoDBClient; audit?: AuditWrites }) {
    this.table = props.tableName;
    this.audit = props.audit;
    this.doc = documentClient(props.client);
  }

  private common(now: number) {
    return { ':now': now, ':one': 1, ':expires': Math.floor(now / 1000) + RECORD_TTL_SECONDS };
  }

  async get(key: string): Promise<CircuitRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyOf(key), ConsistentRead: true }));
    return out.Item ? toRecord(out.Item) : undefined;
  }

  async addFailure(key: string, now: number): Promise<CircuitRecord | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(key),
          UpdateExpression: 'SET kind = :kind, id = :id, #state = if_not_exists(#state, :closed), updatedAt = :now, #ttl = :expires ADD failures :one, version :one',
          ConditionExpression: 'attribute_not_exists(pk) OR #state = :closed',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...this.common(now), ':kind': 'CIRCUIT', ':id': key, ':closed': 'CLOSED' },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toRecord(out.Attributes ?? {});
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  /**
   * One conditional state change: `set`/`remove` plus the bookkeeping every change makes
   * (`updatedAt`, `ttl`, `ADD version 1`). @returns false when the condition did not hold.
   */
  private change(key: string, now: number, change: { set: string; remove?: string; condition: string; values: Record<string, unknown> }): Promise<boolean> {
    return conditional(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keyOf(key),
          UpdateExpression: `SET ${change.set}, updatedAt = :now, #ttl = :expires${change.remove ? ` REMOVE ${change.remove}` : ''} ADD version :one`,
          ConditionExpression: change.condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ...this.common(now), ...change.values },
        }),
      ),
    );
  }

  open(key: string, threshold: number, retryAt: number, now: number): Promise<boolean> {
    return this.change(key, now, {
      set: '#state = :open, retryAt = :retryAt',
      condition: '#state = :closed AND failures >= :threshold',
      values: { ':open': 'OPEN', ':closed': 'CLOSED', ':retryAt': retryAt, ':threshold': threshold },
    });
  }

  async resetFailures(key: string, now: number): Promise<void> {
    await this.change(key, now, { set: 'failures = :zero', condition: '#state = :closed AND failures > :zero', values: { ':closed': 'CLOSED', ':zero': 0 } });
  }

  claimProbe(key: string, prober: string, leaseUntil: number, now: number): Promise<boolean> {
    return this.change(key, now, {
      set: '#state = :half, prober = :prober, probeLeaseUntil = :lease',
      condition: '(#state = :open AND retryAt <= :now) OR (#state = :half AND probeLeaseUntil <= :now)',
      values: { ':half': 'HALF_OPEN', ':open': 'OPEN', ':prober': prober, ':lease': leaseUntil },
    });
  }

  settleProbe(key: string, prober: string, outcome: { success: true } | { success: false; retryAt: number }, now: number): Promise<boolean> {
    const condition = '#state = :half AND prober = :prober';
    const held = { ':half': 'HALF_OPEN', ':prober': prober };
    return outcome.success
      ? this.change(key, now, { set: '#state = :closed, failures = :zero', remove: 'prober, probeLeaseUntil, retryAt', condition, values: { ...held, ':closed': 'CLOSED', ':zero': 0 } })
      : this.change(key, now, { set: '#state = :open, retryAt = :retryAt', remove: 'prober, probeLeaseUntil', condition, values: { ...held, ':open': 'OPEN', ':retryAt': outcome.retryAt } });
  }

  async list(limit: number, cursor?: string): Promise<{ items: CircuitRecord[]; nextCursor?: string }> {
    const start = decodeCursor(cursor, { kind: 'CIRCUIT' });
    const out = await this.doc.send(new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': 'CIRCUIT' }, Limit: limit, ExclusiveStartKey: start }));
    return { items: (out.Items ?? []).map(toRecord), ...encodeCursor(out.LastEvaluatedKey) };
  }

  /** @returns false when it had no record. With an `auditor` (and the store's `audit`), the reset writes its `circuit.reset` audit item in the same transaction. */
  async delete(key: string, auditor?: Auditor): Promise<boolean> {
    const audit = auditItems(this.audit, auditor, { kind: 'circuit.reset', subject: key });
    if (audit.length === 0) {
      const out = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keyOf(key), ReturnValues: 'ALL_OLD' }));
      return out.Attributes !== undefined;
    }
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [{ Delete: { TableName: this.table, Key: keyOf(key), ConditionExpression: 'attribute_exists(pk)' } }, ...audit] }));
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException) return false;
      throw err;
    }
  }
}
