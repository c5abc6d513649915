/**
 * What operators look back on (docs/operating.md): execution search, `GET /executions?flowId=
 * &status=&since=&until=&contactId=&limit=&cursor=`, and the audit trail of definition changes,
 * `GET /audit?since=&until=&kind=&limit=&cursor=`. Both newest first, pages of 1–100 (default 25;
 * outside that a 400, never clamped), an opaque cursor (a malformed or foreign one is a 400
 * BAD_CURSOR), `since`/`until` as ISO 8601 times or relative to now (`30s`, `15m`, `1h`, `2d`).
 */
import type { Clock } from '../clock';
import { BadRequestError } from '../errors';
import { FlowId } from '../ids';
import { AUDIT_KINDS, AUDIT_RETENTION_DAYS, type AuditEntry, type AuditKind, type AuditTrail } from '../stores/audit';
import type { ExecutionQuery, ExecutionSummary, Page, TimeWindow } from '../stores/ports';
import type { ExecutionStatus } from '../steps/types';

/** The query parameters of a listing, as the request gave them. */
export type QueryParameters = Readonly<Record<string, string | undefined>>;

/** The page size when `limit` is absent. */
export const DEFAULT_PAGE_SIZE = 25;
/** The largest page. */
export const MAX_PAGE_SIZE = 100;
/** The widest execution search, days (execution records are kept 7 days by default). */
export const MAX_EXECUTION_WINDOW_DAYS = 31;
/** The statuses an execution can be searched by. */
export const SEARCH_STATUSES: readonly ExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'WAITING'];

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS };
/** An ISO 8601 date, or date and time with a zone (`Z` or `±hh:mm`). */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function invalid(name: string, rule: string, value: string): BadRequestError {
  return new BadRequestError('INVALID_PARAMETER', `query parameter ${name} must be ${rule}; got '${value.slice(0, 40)}'`);
}

/** Whether the `YYYY-MM-DD` a text starts with is a day of the calendar (Date.parse rolls 02-30 over to March). */
function realDate(value: string): boolean {
  const [y, m, d] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  return m >= 1 && m <= 12 && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** `since` / `until`: an ISO 8601 time, or `<n><s|m|h|d>` ago. @returns epoch ms */
export function timeParameter(name: string, value: string, nowMs: number): number {
  const relative = /^(\d{1,6})([smhd])$/.exec(value);
  if (relative) return nowMs - Number(relative[1]) * UNIT_MS[relative[2]!]!;
  const ms = ISO_8601.test(value) && realDate(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalid(name, 'an ISO 8601 time (2026-12-06T09:14:00Z) or a duration ago (15m, 1h, 2d)', value);
  return ms;
}

/** `limit`: 1–100, {@link DEFAULT_PAGE_SIZE} when absent. */
export function limitParameter(value: string | undefined): number {
  if (value === undefined) return DEFAULT_PAGE_SIZE;
  const n = Number(value);
  if (!/^\d{1,3}$/.test(value) || n < 1 || n > MAX_PAGE_SIZE) throw invalid('limit', `an integer from 1 to ${MAX_PAGE_SIZE}`, value);
  return n;
}

/** The window of `since`/`until` (defaults: `defaultDays` back, and now). @throws BadRequestError when since is after until or the window is wider than `maxDays` */
function windowOf(q: QueryParameters, nowMs: number, defaultDays: number, maxDays: number): TimeWindow {
  const untilMs = q['until'] === undefined ? nowMs : timeParameter('until', q['until'], nowMs);
  const sinceMs = q['since'] === undefined ? untilMs - defaultDays * DAY_MS : timeParameter('since', q['since'], nowMs);
  if (sinceMs > untilMs) throw new BadRequestError('INVALID_PARAMETER', `since (${new Date(sinceMs).toISOString()}) is after until (${new Date(untilMs).toISOString()})`);
  if (untilMs - sinceMs > maxDays * DAY_MS) throw new BadRequestError('INVALID_PARAMETER', `since and until may be at most ${maxDays} days apart`);
  return { sinceMs, untilMs };
}

/** Only the parameters a listing knows: a misspelt filter must not quietly list everything. */
function onlyKnown(q: QueryParameters, known: readonly string[]): void {
  const unknown = Object.keys(q).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new BadRequestError('INVALID_PARAMETER', `unknown query parameter ${unknown.map((k) => `'${k.slice(0, 40)}'`).join(', ')}; known: ${known.join(', ')}`);
}

export interface HistoryServiceProps {
  executions: { listExecutions(query: ExecutionQuery): Promise<Page<ExecutionSummary>> };
  audit: AuditTrail;
  clock: Clock;
}

/** Execution search and the audit trail over their stores, with every parameter checked first. */
export class HistoryService {
  constructor(private readonly props: HistoryServiceProps) {}

  /** `GET /executions`. @throws BadRequestError 400 INVALID_PARAMETER naming the parameter, BAD_CURSOR */
  executions(q: QueryParameters): Promise<Page<ExecutionSummary>> {
    onlyKnown(q, ['flowId', 'status', 'contactId', 'since', 'until', 'limit', 'cursor']);
    const query: ExecutionQuery = { ...windowOf(q, this.props.clock.now(), 7, MAX_EXECUTION_WINDOW_DAYS), limit: limitParameter(q['limit']) };
    const { flowId, status, contactId, cursor } = q;
    if (flowId !== undefined) {
      if (!FlowId.safeParse(flowId).success) throw invalid('flowId', '1–128 letters, digits, _ . or -', flowId);
      query.flowId = flowId;
    }
    if (status !== undefined) {
      if (!SEARCH_STATUSES.includes(status as ExecutionStatus)) throw invalid('status', `one of ${SEARCH_STATUSES.join(', ')}`, status);
      query.status = status as ExecutionStatus;
    }
    if (contactId !== undefined) {
      if (contactId.length === 0 || Buffer.byteLength(contactId) > 256 || /\p{Cc}|\p{Cs}/u.test(contactId)) throw invalid('contactId', '1–256 bytes of text', contactId);
      query.contactId = contactId;
    }
    if (cursor !== undefined) query.cursor = cursor;
    return this.props.executions.listExecutions(query);
  }

  /** `GET /audit`. @throws BadRequestError 400 INVALID_PARAMETER naming the parameter, BAD_CURSOR */
  audit(q: QueryParameters): Promise<Page<AuditEntry>> {
    onlyKnown(q, ['kind', 'since', 'until', 'limit', 'cursor']);
    const query = { ...windowOf(q, this.props.clock.now(), AUDIT_RETENTION_DAYS, AUDIT_RETENTION_DAYS), limit: limitParameter(q['limit']) };
    const { kind, cursor } = q;
    if (kind !== undefined && !AUDIT_KINDS.includes(kind as AuditKind)) throw invalid('kind', `one of ${AUDIT_KINDS.join(', ')}`, kind);
    return this.props.audit.list({ ...query, ...(kind === undefined ? {} : { kind: kind as AuditKind }), ...(cursor === undefined ? {} : { cursor }) });
  }
}
