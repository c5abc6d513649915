/**
 * What execution search and the audit trail share: a time window of day or month partitions read
 * newest first, and the opaque cursor of such a listing (the last returned item's key).
 */
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BadRequestError } from '../../errors';
import type { TimeWindow } from '../ports';
import { cursorObject } from './cursor';

/** The UTC days (`YYYY-MM-DD`) of a window, newest first. */
export function daysOf(window: TimeWindow): string[] {
  const days: string[] = [];
  for (let t = Date.UTC(...utcDay(window.untilMs)); t >= Date.UTC(...utcDay(window.sinceMs)); t -= 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/** The UTC months (`YYYY-MM`) of a window, newest first. */
export function monthsOf(window: TimeWindow): string[] {
  const months: string[] = [];
  const since = new Date(window.sinceMs);
  for (let d = new Date(Date.UTC(new Date(window.untilMs).getUTCFullYear(), new Date(window.untilMs).getUTCMonth(), 1)); d >= new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), 1)); d.setUTCMonth(d.getUTCMonth() - 1)) {
    months.push(d.toISOString().slice(0, 7));
  }
  return months;
}

function utcDay(ms: number): [number, number, number] {
  const d = new Date(ms);
  return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
}

/** The sort-key range of a window over keys `<ISO 8601 time>#<id>`. */
export function skRange(window: TimeWindow): { from: string; to: string } {
  return { from: new Date(window.sinceMs).toISOString(), to: `${new Date(window.untilMs).toISOString()}#~` };
}

/** A page's cursor: the key (`pk`, `sk`) of its last item, base64url JSON. */
export function encodeItemCursor(key: { pk: string; sk: string } | undefined): { nextCursor?: string } {
  return key ? { nextCursor: Buffer.from(JSON.stringify({ pk: key.pk, sk: key.sk })).toString('base64url') } : {};
}

/**
 * The key a listing resumes after.
 * @returns undefined for no cursor (the first page)
 * @throws BadRequestError 400 BAD_CURSOR unless it is base64url JSON of exactly `pk` and `sk`
 *   (strings within DynamoDB's key sizes), `pk` one of this listing's partitions
 */
export function decodeItemCursor(cursor: string | undefined, partitions: readonly string[]): { pk: string; sk: string } | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const bad = (why: string) => new BadRequestError('BAD_CURSOR', `cursor is not one this API returned for this query (${why}); pass back the nextCursor of the previous page unchanged, with the same filters`);
  const { pk, sk, ...rest } = cursorObject(cursor, bad);
  if (Object.keys(rest).length > 0 || typeof pk !== 'string' || typeof sk !== 'string' || sk.length === 0 || Buffer.byteLength(sk) > 1024) throw bad('attributes must be exactly pk and sk, strings');
  if (!partitions.includes(pk)) throw bad('it belongs to another query or window');
  return { pk, sk };
}

/** A filter on the items of a listing (a DynamoDB FilterExpression with its names and values). */
export interface ItemFilter {
  expression: string;
  names: Record<string, string>;
  values: Record<string, unknown>;
}

/**
 * Reads up to `limit` items of `partitions` (in that order, each by sort key descending, i.e.
 * newest first) with a sort key in `range`, after the cursor's item, that pass `filter`. A full
 * page's cursor is its last item's key.
 */
export async function readNewestFirst(
  doc: DynamoDBDocumentClient,
  table: string,
  partitions: readonly string[],
  range: { from: string; to: string },
  limit: number,
  cursor: string | undefined,
  filter?: ItemFilter,
): Promise<{ items: Array<Record<string, unknown>>; nextCursor?: string }> {
  const after = decodeItemCursor(cursor, partitions);
  const { from, to } = range;
  const items: Array<Record<string, unknown>> = [];
  for (let p = after ? partitions.indexOf(after.pk) : 0; p < partitions.length && items.length < limit; p++) {
    let start: Record<string, unknown> | undefined = after && partitions[p] === after.pk ? after : undefined;
    do {
      const out = await doc.send(
        new QueryCommand({
          TableName: table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ...(filter ? { FilterExpression: filter.expression, ExpressionAttributeNames: filter.names } : {}),
          ExpressionAttributeValues: { ':pk': partitions[p], ':from': from, ':to': to, ...filter?.values },
          ScanIndexForward: false,
          Limit: limit - items.length,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
  }
  const last = items.length === limit ? items[items.length - 1] : undefined;
  return { items, ...encodeItemCursor(last ? { pk: last['pk'] as string, sk: last['sk'] as string } : undefined) };
}
