/**
 * The audit trail of definition changes (docs/operating.md, "Audit trail"): who changed which
 * flow, connection, workflow configuration or circuit, and when. Each store writes the entry in
 * the same transaction as the change itself, so a change that failed leaves none.
 */
import type { Auditor, Page, TimeWindow } from './ports';

/** What changed. */
export const AUDIT_KINDS = ['flow.deployed', 'flow.deleted', 'connection.created', 'connection.replaced', 'connection.deleted', 'workflow-configuration.put', 'workflow-configuration.deleted', 'circuit.reset'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** How long an audit entry is kept, days. */
export const AUDIT_RETENTION_DAYS = 400;

/** One change: when (ISO 8601), what, which (a flow id, connection name, configuration id or circuit key), the version a deploy made, and who. */
export interface AuditEntry {
  at: string;
  kind: AuditKind;
  subject: string;
  version?: number;
  /** The caller's IAM ARN, a JWT subject, or `local`. */
  actor: string;
}

/** A change to record: its kind, subject and version (when and who come from the {@link Auditor}). */
export type AuditChange = Omit<AuditEntry, 'at' | 'actor'>;

/** A listing of the trail: a window, optionally one kind, a page. */
export interface AuditQuery extends TimeWindow {
  kind?: AuditKind;
  limit: number;
  cursor?: string;
}

/** Reads the trail. */
export interface AuditTrail {
  /** The entries of a window, newest first. @throws BadRequestError 400 BAD_CURSOR */
  list(query: AuditQuery): Promise<Page<AuditEntry>>;
}

/** The actor of changes made without a request context (`ivrflow serve` loading its examples, a local call). */
export const LOCAL_ACTOR: Auditor = { actor: 'local' };
