/**
 * The audit trail (shared/stores/audit.ts) on the `State` table: one item per change, put by the
 * transaction of the change itself, `AUDIT#<YYYY-MM>` / `<ISO 8601 time>#<uuid>`, kept 400 days
 * (`ttl`).
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AUDIT_RETENTION_DAYS, type AuditChange, type AuditEntry, type AuditKind, type AuditQuery, type AuditTrail } from '../audit';
import type { Auditor, Page } from '../ports';
import { documentClient } from './document-client';
import { monthsOf, readNewestFirst, skRange } from './search-keys';

/** Where audit items go (the `State` table) and the clock that dates them. */
export interface AuditWrites {
  table: string;
  now: () => number;
}

/** The transaction item that records `change` (a Put on the State table). */
export function auditPut(writes: AuditWrites, auditor: Auditor, change: AuditChange): Record<string, unknown> {
  const nowMs = writes.now();
  const at = new Date(nowMs).toISOString();
  // `auditKind`, not `kind`: the table's byKind index lists items by `kind`.
  const item = { pk: `AUDIT#${at.slice(0, 7)}`, sk: `${at}#${randomUUID()}`, at, auditKind: change.kind, subject: change.subject, ...(change.version === undefined ? {} : { version: change.version }), actor: auditor.actor };
  return { Put: { TableName: writes.table, Item: { ...item, ttl: Math.floor(nowMs / 1000) + AUDIT_RETENTION_DAYS * 86_400 } } };
}

/** The audit item of a change, for its transaction: none when the store keeps no trail or no one is named. */
export function auditItems(writes: AuditWrites | undefined, auditor: Auditor | undefined, change: AuditChange): Array<Record<string, unknown>> {
  return writes && auditor ? [auditPut(writes, auditor, change)] : [];
}

/** The trail on the `State` table, read month by month, newest first. */
export class DynamoAuditTrail implements AuditTrail {
  private readonly doc: DynamoDBDocumentClient;

  constructor(private readonly props: { tableName: string; client: DynamoDBClient; now: () => number }) {
    this.doc = documentClient(props.client);
  }

  list(query: AuditQuery): Promise<Page<AuditEntry>> {
    return listAudit(this.doc, this.props.tableName, query, this.props.now());
  }
}

async function listAudit(doc: DynamoDBDocumentClient, table: string, query: AuditQuery, nowMs: number): Promise<Page<AuditEntry>> {
  const partitions = monthsOf(query).map((month) => `AUDIT#${month}`);
  const filter = { expression: `#ttl >= :now${query.kind ? ' AND auditKind = :kind' : ''}`, names: { '#ttl': 'ttl' }, values: { ':now': Math.floor(nowMs / 1000), ...(query.kind ? { ':kind': query.kind } : {}) } };
  const page = await readNewestFirst(doc, table, partitions, skRange(query), query.limit, query.cursor, filter);
  return {
    items: page.items.map((i) => ({ at: i['at'] as string, kind: i['auditKind'] as AuditKind, subject: i['subject'] as string, ...(typeof i['version'] === 'number' ? { version: i['version'] } : {}), actor: i['actor'] as string })),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}
