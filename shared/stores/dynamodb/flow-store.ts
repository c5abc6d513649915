/**
 * `FlowStore` on DynamoDB (`Definitions` table, see tables.ts): per flow, one partition
 * `FLOW#<id>` holding `V#<version>` items and the `LATEST` pointer.
 */
import { ConditionalCheckFailedException, DynamoDBClient, TransactionCanceledException, TransactionConflictException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { VersionConflictError } from '../../errors';
import type { Flow } from '../../flow/schema';
import type { Auditor } from '../ports';
import type { FlowStore, FlowSummary, FlowVersionSummary, Page } from '../ports';
import { decodeCursor, encodeCursor } from './cursor';
import { auditItems, type AuditWrites } from './audit-trail';
import { documentClient } from './document-client';
import { readNewestFirst } from './search-keys';

const pk = (flowId: string) => `FLOW#${flowId}`;
const versionSk = (version: number) => `V#${String(version).padStart(10, '0')}`;
const LATEST = 'LATEST';
const latestKey = (flowId: string) => ({ pk: pk(flowId), sk: LATEST });
/** The `byKind` partition listing flows; a tombstone has no `kind`, so it drops out of the listing. */
const FLOW_KIND = 'FLOW';
/** Version deletes per transaction, beside the tombstone check (DynamoDB: at most 100 items). */
const DELETES_PER_TRANSACTION = 99;
/** Tries of a write that lost only a transient clash with another transaction (no condition failed). */
const CONFLICT_ATTEMPTS = 8;

/** What a {@link DynamoFlowStore} is built from: the `Definitions` table's name and the DynamoDB client. */
export interface DynamoFlowStoreProps {
  tableName: string;
  /** The client (built by the composition root: shared/config/aws-clients.ts). */
  client: DynamoDBClient;
  /** Where deploys and deletes given an auditor write their audit item (shared/stores/audit.ts). @default no trail */
  audit?: AuditWrites;
}

/** The cancellation codes of a transaction, one per item (`None`, `ConditionalCheckFailed`, `TransactionConflict`...). */
function cancellationCodes(err: unknown): string[] | undefined {
  return err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []).map((r) => r.Code ?? 'None') : undefined;
}

/** Another transaction held an item, and no condition failed: the same write may simply be sent again. */
function isTransientConflict(err: unknown): boolean {
  if (err instanceof TransactionConflictException) return true;
  const codes = cancellationCodes(err);
  return codes !== undefined && codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
}

/** Sends `write`, again after a short pause while it only clashes with other transactions (the SDK does not retry those). */
async function retryingConflicts<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= CONFLICT_ATTEMPTS || !isTransientConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** attempt)));
    }
  }
}

/**
 * Flow versions with one consistent deploy/delete protocol, so that no interleaving of deploys and
 * deletes (nor a delete that dies half-way) leaves a flow wedged, i.e. refusing every deploy.
 *
 * Invariant, between operations: a flow's partition is empty, or holds a live `LATEST` at L with
 * exactly `V#1`..`V#L`, or holds a tombstone (`LATEST` with `deleting = true`) and leftovers that
 * are all garbage. No version item ever exists without a `LATEST` (live or tombstone) above it.
 *
 * **Deploy** of version N is one transaction of two conditional writes:
 * - `V#N`: `attribute_not_exists(pk)` — a version is written once, never overwritten.
 * - `LATEST`: `attribute_not_exists(pk)` for N = 1 (no live flow, and no tombstone either);
 *   `version = N−1 AND attribute_not_exists(deleting)` for N > 1 — the pointer advances by one,
 *   and never on a flow being deleted (which would let a version slip past the delete's sweep).
 *   Two concurrent deploys of one version → exactly one wins; the other gets {@link VersionConflictError}.
 * On a failed condition the pointer is read once (consistently): when it is a tombstone, the deploy
 * finishes that deletion (steps 2–3 below, idempotent) and tries once more, so a delete that
 * crashed never blocks the flow; when the pointer is exactly where this deploy expects it, the
 * version item in the way is a stray left by the earlier protocol (whose delete could race a
 * deploy): it is removed under the same pointer condition and the deploy tries once more.
 *
 * **Delete** in three steps:
 * 1. One conditional UpdateItem of `LATEST`: `SET deleting = true REMOVE kind`, condition
 *    `attribute_exists(pk)` (no pointer → the flow does not exist → false). From here on, reads
 *    and the listing (sparse `byKind` index, keyed on `kind`) see no flow, and no deploy can add an
 *    item to the partition, so every other item in it is garbage.
 * 2. A consistent Query of the partition, then the deletion of every other item, in transactions
 *    that each also check `LATEST` is still that tombstone (`deleting = true`): once another caller
 *    finished the deletion and a new flow was deployed under the same id, a late sweeper's check
 *    fails and it stops, instead of deleting the new flow's versions.
 * 3. DeleteItem of `LATEST`, condition `deleting = true` (the tombstone, never a live pointer).
 * When step 1 finds a tombstone already there (a crashed or concurrent delete), it finishes it and
 * answers false: the flow was already invisible.
 *
 * Reads: the latest read (`getFlow(id)`) is one GetItem of `LATEST`, which carries the definition;
 * a tombstone reads as absent (`getLatestVersion` → 0). A version read (`getFlow(id, N)`) reads `V#N`.
 */
export class DynamoFlowStore implements FlowStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly audit: AuditWrites | undefined;

  constructor(props: DynamoFlowStoreProps) {
    this.table = props.tableName;
    this.audit = props.audit;
    this.doc = documentClient(props.client);
  }

  async putFlowVersion(flow: Flow & { version: number }, nowIso: string, auditor?: Auditor): Promise<void> {
    const { version } = flow;
    const definition = JSON.stringify(flow);
    const write = () =>
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: this.table, Item: { pk: pk(flow.id), sk: versionSk(version), version, definition, createdAt: nowIso }, ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Put: {
              TableName: this.table,
              Item: { pk: pk(flow.id), sk: LATEST, kind: FLOW_KIND, id: flow.id, name: flow.name, flowType: flow.flowType, version, definition, updatedAt: nowIso },
              ConditionExpression: version === 1 ? 'attribute_not_exists(pk)' : 'version = :previous AND attribute_not_exists(deleting)',
              ...(version === 1 ? {} : { ExpressionAttributeValues: { ':previous': version - 1 } }),
            },
          },
          ...auditItems(this.audit, auditor, { kind: 'flow.deployed', subject: flow.id, version }),
        ],
      });
    for (let attempt = 1; ; attempt++) {
      try {
        await retryingConflicts(() => this.doc.send(write()));
        return;
      } catch (err) {
        if (!(err instanceof TransactionCanceledException || err instanceof ConditionalCheckFailedException)) throw err;
        const pointer = await this.readPointer(flow.id);
        if (attempt === 1 && (await this.clearWayFor(flow.id, version, pointer))) continue;
        const currentVersion = pointer && !pointer.deleting ? pointer.version : 0;
        throw new VersionConflictError(`flow '${flow.id}' is at version ${currentVersion}; version ${version} cannot be deployed (expected ${currentVersion + 1})`, { flowId: flow.id, currentVersion }, { cause: err });
      }
    }
  }

  /**
   * After a failed deploy of `version`: removes what blocks it without being a real conflict.
   * @returns true when the deploy is worth trying again
   */
  private async clearWayFor(flowId: string, version: number, pointer: { version: number; deleting: boolean } | undefined): Promise<boolean> {
    if (pointer?.deleting) {
      await this.finishDeletion(flowId);
      return version === 1;
    }
    const pointerAsExpected = pointer === undefined ? version === 1 : pointer.version === version - 1;
    return pointerAsExpected && this.removeStrayVersion(flowId, version);
  }

  /**
   * Deletes `V#version` while `LATEST` is still just below it (or absent for version 1): under this
   * protocol that item cannot belong to the flow, so it is a leftover of the earlier delete.
   * @returns true when there was one
   */
  private async removeStrayVersion(flowId: string, version: number): Promise<boolean> {
    try {
      await retryingConflicts(() =>
        this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: this.table,
                  Key: latestKey(flowId),
                  ConditionExpression: version === 1 ? 'attribute_not_exists(pk)' : 'version = :previous AND attribute_not_exists(deleting)',
                  ...(version === 1 ? {} : { ExpressionAttributeValues: { ':previous': version - 1 } }),
                },
              },
              { Delete: { TableName: this.table, Key: { pk: pk(flowId), sk: versionSk(version) }, ConditionExpression: 'attribute_exists(pk)' } },
            ],
          }),
        ),
      );
      return true;
    } catch (err) {
      if (err instanceof TransactionCanceledException) return false;
      throw err;
    }
  }

  /** The pointer, read consistently: its version and whether it is a tombstone. */
  private async readPointer(flowId: string): Promise<{ version: number; deleting: boolean } | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: latestKey(flowId), ProjectionExpression: 'version, deleting', ConsistentRead: true }));
    if (!out.Item) return undefined;
    return { version: typeof out.Item['version'] === 'number' ? out.Item['version'] : 0, deleting: out.Item['deleting'] === true };
  }

  async getFlow(flowId: string, version?: number): Promise<Flow | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: pk(flowId), sk: version === undefined ? LATEST : versionSk(version) } }));
    if (!out.Item || out.Item['deleting'] === true) return undefined;
    const definition: unknown = out.Item['definition'];
    return typeof definition === 'string' ? (JSON.parse(definition) as Flow) : undefined;
  }

  async getLatestVersion(flowId: string): Promise<number> {
    const pointer = await this.readPointer(flowId);
    return pointer && !pointer.deleting ? pointer.version : 0;
  }

  async listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>> {
    const start = decodeCursor(cursor, { kind: FLOW_KIND });
    const out = await this.doc.send(new QueryCommand({ TableName: this.table, IndexName: 'byKind', KeyConditionExpression: 'kind = :k', ExpressionAttributeValues: { ':k': FLOW_KIND }, Limit: limit, ExclusiveStartKey: start }));
    const items = (out.Items ?? []).map((i) => ({ id: i['id'] as string, name: i['name'] as string, flowType: i['flowType'] as string, latestVersion: i['version'] as number, updatedAt: i['updatedAt'] as string }));
    return { items, ...encodeCursor(out.LastEvaluatedKey) };
  }

  async listVersions(flowId: string, limit: number, cursor?: string): Promise<Page<FlowVersionSummary>> {
    const page = await readNewestFirst(this.doc, this.table, [pk(flowId)], { from: 'V#', to: 'V#~' }, limit, cursor);
    return {
      items: page.items.map((i) => ({ flowId, version: i['version'] as number, name: (JSON.parse(i['definition'] as string) as Flow).name, deployedAt: i['createdAt'] as string })),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }

  async deleteFlow(flowId: string, auditor?: Auditor): Promise<boolean> {
    // Step 1, the tombstone, and the audit item in one request: only the delete that places it is recorded.
    const tombstone = {
      TableName: this.table,
      Key: latestKey(flowId),
      UpdateExpression: 'SET deleting = :true REMOVE kind',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deleting)',
      ExpressionAttributeValues: { ':true': true },
    };
    try {
      await retryingConflicts(() => this.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: tombstone }, ...auditItems(this.audit, auditor, { kind: 'flow.deleted', subject: flowId })] })));
    } catch (err) {
      // The tombstone's condition failed: the flow did not exist, or another delete had begun.
      if (cancellationCodes(err)?.[0] !== 'ConditionalCheckFailed') throw err;
      // That other delete may have died: finish its work (idempotent); it was not this delete's.
      if ((await this.readPointer(flowId))?.deleting) await this.finishDeletion(flowId);
      return false;
    }
    await this.finishDeletion(flowId);
    return true;
  }

  /** Steps 2 and 3 of a delete, once the tombstone is in place; idempotent, safe to run concurrently. */
  private async finishDeletion(flowId: string): Promise<void> {
    const keys: Array<{ pk: string; sk: string }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk(flowId) }, ProjectionExpression: 'pk, sk', ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const item of (out.Items ?? []) as Array<{ pk: string; sk: string }>) if (item.sk !== LATEST) keys.push({ pk: item.pk, sk: item.sk });
      start = out.LastEvaluatedKey;
    } while (start);
    const tombstone = { ConditionCheck: { TableName: this.table, Key: latestKey(flowId), ConditionExpression: 'deleting = :true', ExpressionAttributeValues: { ':true': true } } };
    for (let i = 0; i < keys.length; i += DELETES_PER_TRANSACTION) {
      const deletes = keys.slice(i, i + DELETES_PER_TRANSACTION).map((Key) => ({ Delete: { TableName: this.table, Key } }));
      try {
        await retryingConflicts(() => this.doc.send(new TransactWriteCommand({ TransactItems: [tombstone, ...deletes] })));
      } catch (err) {
        // The tombstone is gone: another caller finished this deletion (and the id may be in use again).
        if (cancellationCodes(err)?.[0] === 'ConditionalCheckFailed') return;
        throw err;
      }
    }
    try {
      await retryingConflicts(() => this.doc.send(new DeleteCommand({ TableName: this.table, Key: latestKey(flowId), ConditionExpression: 'deleting = :true', ExpressionAttributeValues: { ':true': true } })));
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}
