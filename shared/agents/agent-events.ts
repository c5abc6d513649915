/**
 * Agent custom events (the CustomEvent action and the custom-event REST API of the contact-center
 * platform's agent event stream; docs/architecture.md, "Agent custom events"): a named string
 * pushed to one agent, read by the agent application with get-next-event. Events of one name
 * replace each other until read (only the latest is kept); an agent that has not joined gets an
 * event later only when it was sent with `persistInMemory`.
 *
 * {@link AgentEventService} holds the rules (parameters, delivery, the long poll); storage is an
 * {@link AgentEventStore} (`shared/stores/dynamodb/agent-event-store.ts` in the `State` table,
 * {@link MemoryAgentEventStore} for one process).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock';
import { BadRequestError, ConflictError } from '../errors';
import { clockService, defineService } from '../services';

/** Agent ids: 1–128 of `A-Z a-z 0-9 _ . : @ -`, starting with a letter or digit. */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
/** The longest event name, characters (case-sensitive; no control characters). */
export const MAX_EVENT_NAME_CHARS = 100;
/** The largest `data`, bytes of UTF-8. */
export const MAX_EVENT_DATA_BYTES = 32 * 1024;
/** How long a persisted event waits for its agent, seconds. */
export const PERSIST_TTL_SECONDS = 24 * 3600;
/** How long a session lives without a next-event call, ms. */
export const SESSION_TTL_MS = 5 * 60_000;
/** The longest next-event wait, seconds. */
export const MAX_NEXT_EVENT_TIMEOUT_S = 20;

/** An event as the agent reads it. */
export interface AgentEvent {
  type: 'CustomEvent';
  eventName: string;
  data: string;
  /** ISO 8601. */
  createdAt: string;
}

/** An event as stored: `sessionId` is the session it was sent into (absent when the agent had not joined). */
export interface StoredAgentEvent {
  eventName: string;
  data: string;
  createdAtMs: number;
  persist: boolean;
  sessionId?: string;
}

/** Whether a reader of `sessionId` may have this event: live, and persisted or sent into that session. */
export function deliverable(event: StoredAgentEvent, live: boolean, sessionId: string): boolean {
  return live && (event.persist || event.sessionId === sessionId);
}

/** Storage of agent sessions and pending events. */
export interface AgentEventStore {
  /** The agent's session: its id if joined and not expired at `nowMs`. */
  session(agentId: string, nowMs: number): Promise<string | undefined>;
  /** Joins (a new session) or, when joined, extends the session to `expiresAtMs`. @returns the session id */
  join(agentId: string, nowMs: number, expiresAtMs: number): Promise<string>;
  /** Extends a live session to `expiresAtMs`. @returns its id, or undefined when the agent has not joined */
  touch(agentId: string, nowMs: number, expiresAtMs: number): Promise<string | undefined>;
  /** Ends the session. @returns false when there was none live at `nowMs` */
  leave(agentId: string, nowMs: number): Promise<boolean>;
  /** Stores the event, replacing a pending one of the same name; it expires at `expiresAtMs`. */
  put(agentId: string, event: StoredAgentEvent, expiresAtMs: number): Promise<void>;
  /**
   * Removes and returns the agent's pending events a reader of `sessionId` may have (see
   * {@link deliverable}), oldest first, each to exactly one caller even when several read at once.
   * Events sent into another session without `persist` are left alone (never delivered; they expire).
   */
  take(agentId: string, sessionId: string, nowMs: number): Promise<StoredAgentEvent[]>;
}

/** What sending an event did. */
export interface SendResult {
  /** true: the agent had joined, the event is in its stream. */
  delivered: boolean;
  /** Why not delivered: `AGENT_NOT_JOINED_PERSISTED` (kept until the agent joins, 24 h) or `AGENT_NOT_JOINED_DROPPED`. */
  reason?: 'AGENT_NOT_JOINED_PERSISTED' | 'AGENT_NOT_JOINED_DROPPED';
}

/** The parameters of the custom-event API and the CustomEvent step. */
export interface CustomEventParams {
  eventName: string;
  data: string;
  persistInMemory: boolean;
}

/** @throws BadRequestError `INVALID_PARAMETER` naming the agent id */
export function checkAgentId(agentId: string): string {
  if (!AGENT_ID.test(agentId)) throw new BadRequestError('INVALID_PARAMETER', `agentId must be 1–128 letters, digits, _ . : @ or -, starting with a letter or digit; got '${agentId.slice(0, 40)}'`);
  return agentId;
}

/**
 * Checks the custom-event parameters as the API receives them (strings, `persistInMemory` `true`/`false`).
 * @throws BadRequestError `MISSING_PARAMETER`, `INVALID_PARAMETER` or `DATA_TOO_LARGE`
 */
export function customEventParams(raw: { eventName?: string | undefined; persistInMemory?: string | undefined; data?: string | undefined }): CustomEventParams {
  const { eventName } = raw;
  if (eventName === undefined || eventName === '') throw new BadRequestError('MISSING_PARAMETER', 'eventName is required (1–100 characters, case-sensitive)');
  if ([...eventName].length > MAX_EVENT_NAME_CHARS || /\p{Cc}/u.test(eventName)) throw new BadRequestError('INVALID_PARAMETER', `eventName must be 1–${MAX_EVENT_NAME_CHARS} characters without control characters`);
  const persist = raw.persistInMemory ?? 'false';
  if (persist !== 'true' && persist !== 'false') throw new BadRequestError('INVALID_PARAMETER', `persistInMemory must be true or false; got '${persist.slice(0, 20)}'`);
  const data = raw.data ?? '';
  if (Buffer.byteLength(data) > MAX_EVENT_DATA_BYTES) throw new BadRequestError('DATA_TOO_LARGE', `data is ${Buffer.byteLength(data)} bytes; at most ${MAX_EVENT_DATA_BYTES} are allowed`);
  return { eventName, data, persistInMemory: persist === 'true' };
}

/** The rules of agent custom events over an {@link AgentEventStore}: checked parameters, delivery or persistence, sessions and the next-event long poll. */
export class AgentEventService {
  constructor(private readonly props: { store: AgentEventStore; clock: Clock }) {}

  /**
   * Sends a custom event to an agent: into its stream when it has joined; kept for 24 h when it
   * has not and `persistInMemory` is set; else dropped. A pending event of the same name is replaced.
   * @throws BadRequestError for a bad agent id
   */
  async send(agentId: string, params: CustomEventParams): Promise<SendResult> {
    const { store, clock } = this.props;
    checkAgentId(agentId);
    const now = clock.now();
    const sessionId = await store.session(agentId, now);
    if (!sessionId && !params.persistInMemory) return { delivered: false, reason: 'AGENT_NOT_JOINED_DROPPED' };
    await store.put(agentId, { eventName: params.eventName, data: params.data, createdAtMs: now, persist: params.persistInMemory, ...(sessionId ? { sessionId } : {}) }, now + PERSIST_TTL_SECONDS * 1000);
    return sessionId ? { delivered: true } : { delivered: false, reason: 'AGENT_NOT_JOINED_PERSISTED' };
  }

  /** Joins the agent's session (or extends it). @returns the session and when it expires without a next-event call */
  async join(agentId: string): Promise<{ agentId: string; sessionId: string; expiresAt: string }> {
    checkAgentId(agentId);
    const now = this.props.clock.now();
    const sessionId = await this.props.store.join(agentId, now, now + SESSION_TTL_MS);
    return { agentId, sessionId, expiresAt: new Date(now + SESSION_TTL_MS).toISOString() };
  }

  /** @returns false when the agent had not joined (or its session had expired) */
  leave(agentId: string): Promise<boolean> {
    checkAgentId(agentId);
    return this.props.store.leave(agentId, this.props.clock.now());
  }

  /**
   * Returns and consumes the agent's pending events, oldest first, waiting up to `timeoutSeconds`
   * for one when there are none (a long poll, re-reading with a backoff from 100 ms to 1 s); each
   * call extends the session.
   * @throws ConflictError `AGENT_NOT_JOINED` when the agent has no session (join first)
   */
  async nextEvents(agentId: string, timeoutSeconds: number): Promise<{ events: AgentEvent[] }> {
    const { store, clock } = this.props;
    checkAgentId(agentId);
    const giveUpAt = clock.now() + timeoutSeconds * 1000;
    const sessionId = await store.touch(agentId, clock.now(), clock.now() + SESSION_TTL_MS);
    if (!sessionId) throw new ConflictError('AGENT_NOT_JOINED', `agent '${agentId}' has not joined: POST /agents/${agentId}/session first`);
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      const taken = await store.take(agentId, sessionId, clock.now());
      const left = giveUpAt - clock.now();
      if (taken.length > 0 || left <= 0) return { events: taken.map((e) => ({ type: 'CustomEvent', eventName: e.eventName, data: e.data, createdAt: new Date(e.createdAtMs).toISOString() })) };
      await clock.sleep(Math.min(delay, left));
    }
  }
}

/** One process's agent sessions and events (`ivrflow run`, unit tests). */
export class MemoryAgentEventStore implements AgentEventStore {
  private readonly sessions = new Map<string, { id: string; expiresAtMs: number }>();
  private readonly events = new Map<string, Map<string, StoredAgentEvent & { expiresAtMs: number; seq: number }>>();
  private seq = 0;

  session(agentId: string, nowMs: number): Promise<string | undefined> {
    const s = this.sessions.get(agentId);
    return Promise.resolve(s && s.expiresAtMs > nowMs ? s.id : undefined);
  }
  async join(agentId: string, nowMs: number, expiresAtMs: number): Promise<string> {
    const id = (await this.session(agentId, nowMs)) ?? randomUUID();
    this.sessions.set(agentId, { id, expiresAtMs });
    return id;
  }
  async touch(agentId: string, nowMs: number, expiresAtMs: number): Promise<string | undefined> {
    const id = await this.session(agentId, nowMs);
    if (id) this.sessions.set(agentId, { id, expiresAtMs });
    return id;
  }
  leave(agentId: string, nowMs: number): Promise<boolean> {
    const live = (this.sessions.get(agentId)?.expiresAtMs ?? 0) > nowMs;
    this.sessions.delete(agentId);
    return Promise.resolve(live);
  }
  put(agentId: string, event: StoredAgentEvent, expiresAtMs: number): Promise<void> {
    const byName = this.events.get(agentId) ?? new Map<string, StoredAgentEvent & { expiresAtMs: number; seq: number }>();
    byName.set(event.eventName, { ...event, expiresAtMs, seq: ++this.seq });
    this.events.set(agentId, byName);
    return Promise.resolve();
  }
  take(agentId: string, sessionId: string, nowMs: number): Promise<StoredAgentEvent[]> {
    const byName = this.events.get(agentId);
    if (!byName) return Promise.resolve([]);
    const mine = [...byName.values()].filter((e) => deliverable(e, e.expiresAtMs > nowMs, sessionId)).sort((a, b) => a.createdAtMs - b.createdAtMs || a.seq - b.seq);
    for (const e of mine) byName.delete(e.eventName);
    return Promise.resolve(mine.map(({ expiresAtMs: _e, seq: _s, ...event }) => event));
  }
}

/** The agent events steps send to. Default: one process's memory (the functions provide the `State` table's). */
export const agentEventsService = defineService<AgentEventService>('agentEvents', (services) => new AgentEventService({ store: new MemoryAgentEventStore(), clock: services.get(clockService) }));
