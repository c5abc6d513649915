/**
 * Execution search on the `State` table (docs/operating.md, "Finding an execution"): small index
 * items, written in the same transaction as the execution's record or snapshot and kept as long
 * (the same `ttl`), one per query pattern, each keyed `<ISO 8601 start>#<executionId>` so that a
 * Query reads newest first:
 * - every execution by time: `EXECS#A#<day>`;
 * - by flow: `EXECS#F#<flowId>#<day>`; by status: `EXECS#S#<status>#<day>`; by flow and status:
 *   `EXECS#FS#<flowId>#<status>#<day>` (days in UTC, so no partition takes every write forever);
 * - by contact: `EXECS#C#<contactId>` (a contact has few executions).
 * An item holds only the summary a listing shows, never variables or a trace. A WAITING
 * execution's status items move when it ends (deleted in the transaction that writes its end).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ExecutionResult, ExecutionStatus } from '../../steps/types';
import type { ExecutionQuery, ExecutionSummary, Page } from '../ports';
import { daysOf, readNewestFirst, skRange } from './search-keys';

const sortKey = (s: { startedAt: string; executionId: string }) => `${s.startedAt}#${s.executionId}`;
const statusPartitions = (s: { flowId: string; startedAt: string }, status: string) => {
  const day = s.startedAt.slice(0, 10);
  return [`EXECS#S#${status}#${day}`, `EXECS#FS#${s.flowId}#${status}#${day}`];
};

/** The summary of a record or of a suspended execution's current view. */
export function summaryOf(result: ExecutionResult): ExecutionSummary {
  return {
    executionId: result.executionId,
    flowId: result.flowId,
    flowVersion: result.flowVersion,
    status: result.status,
    branch: result.branch,
    ...(result.contactId ? { contactId: result.contactId } : {}),
    startedAt: result.startedAt,
    durationMs: result.durationMs,
  };
}

/**
 * The writes that index `summary` (puts of every pattern's item), for the transaction that stores
 * the execution; once it has ended, also the deletes of the items it had while WAITING.
 */
export function indexWrites(table: string, summary: ExecutionSummary, ttl: number): Array<Record<string, unknown>> {
  const day = summary.startedAt.slice(0, 10);
  const sk = sortKey(summary);
  const partitions = [`EXECS#A#${day}`, `EXECS#F#${summary.flowId}#${day}`, ...statusPartitions(summary, summary.status), ...(summary.contactId ? [`EXECS#C#${summary.contactId}`] : [])];
  const puts = partitions.map((pk) => ({ Put: { TableName: table, Item: { pk, sk, ...summary, ttl } } }));
  const waitingItems = summary.status === 'WAITING' ? [] : statusPartitions(summary, 'WAITING').map((pk) => ({ Delete: { TableName: table, Key: { pk, sk } } }));
  return [...puts, ...waitingItems];
}

/**
 * The executions matching `query`, newest first: through the contact's items when `contactId` is
 * given (the other filters applied to them), else through the pattern of the filters given, day
 * by day from `untilMs` back to `sinceMs`. Items past their TTL are left out.
 * @throws BadRequestError 400 BAD_CURSOR for a cursor of another query
 */
export async function searchExecutions(doc: DynamoDBDocumentClient, table: string, query: ExecutionQuery, nowMs: number): Promise<Page<ExecutionSummary>> {
  const { flowId, status, contactId } = query;
  const conditions = ['#ttl >= :now'];
  const names: Record<string, string> = { '#ttl': 'ttl' };
  const values: Record<string, unknown> = { ':now': Math.floor(nowMs / 1000) };
  let partitions: string[];
  if (contactId !== undefined) {
    partitions = [`EXECS#C#${contactId}`];
    if (flowId !== undefined) {
      conditions.push('flowId = :flowId');
      values[':flowId'] = flowId;
    }
    if (status !== undefined) {
      conditions.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = status;
    }
  } else {
    const prefix = flowId !== undefined && status !== undefined ? `EXECS#FS#${flowId}#${status}` : flowId !== undefined ? `EXECS#F#${flowId}` : status !== undefined ? `EXECS#S#${status}` : 'EXECS#A';
    partitions = daysOf(query).map((day) => `${prefix}#${day}`);
  }
  const page = await readNewestFirst(doc, table, partitions, skRange(query), query.limit, query.cursor, { expression: conditions.join(' AND '), names, values });
  return {
    items: page.items.map((i) => ({
      executionId: i['executionId'] as string,
      flowId: i['flowId'] as string,
      flowVersion: i['flowVersion'] as number,
      status: i['status'] as ExecutionStatus,
      branch: i['branch'] as string,
      ...(typeof i['contactId'] === 'string' ? { contactId: i['contactId'] } : {}),
      startedAt: i['startedAt'] as string,
      durationMs: i['durationMs'] as number,
    })),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}
