/**
 * A circuit breaker shared by every Lambda through the `State` table (docs/architecture.md,
 * "Resilience").
 *
 * One record per circuit key. CLOSED → OPEN after `failureThreshold` consecutive failures (5xx,
 * timeouts, connection errors; never 4xx). OPEN → calls are refused at once (OnCircuitOpen, no
 * network call). After `cooldownMs`, exactly one caller across all Lambdas claims the half-open
 * probe with a conditional write and a lease (`probeLeaseMs`); if it dies, the lease expires and
 * another caller may probe. Probe success → CLOSED, counter reset; probe failure → OPEN with a new
 * cooldown. Every update is an atomic conditional write (`ADD`, conditions on state and prober;
 * `version` counts changes); successes write only when they change something.
 *
 * A short in-memory cache (`cacheTtlMs`, default 1 s) keeps the happy path free of reads. When
 * the store cannot be reached the breaker fails open (calls go through) and says so through
 * `onEvent`; `failOpen: false` makes it refuse calls instead.
 */
import type { Clock } from '../clock';

export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN';

/** The stored record of one circuit. Times are epoch ms. */
export interface CircuitRecord {
  key: string;
  state: CircuitState;
  /** Consecutive failures while CLOSED. */
  failures: number;
  /** OPEN: when the cooldown ends and a probe may be tried. */
  retryAt?: number;
  /** HALF_OPEN: who probes, and until when the probe's lease holds. */
  prober?: string;
  probeLeaseUntil?: number;
  /** Incremented by every change. */
  version: number;
  updatedAt?: number;
}

/** Storage of circuit records; every method is one atomic conditional write or one read. */
export interface CircuitStore {
  get(key: string): Promise<CircuitRecord | undefined>;
  /** Adds one failure while CLOSED (creating the record); returns the record after the write, or undefined when not CLOSED. */
  addFailure(key: string, now: number): Promise<CircuitRecord | undefined>;
  /** CLOSED with ≥ threshold failures → OPEN until `retryAt`. @returns true for the one caller that opened it. */
  open(key: string, threshold: number, retryAt: number, now: number): Promise<boolean>;
  /** Sets failures to 0 if CLOSED and > 0. */
  resetFailures(key: string, now: number): Promise<void>;
  /** OPEN past `retryAt`, or HALF_OPEN with an expired lease → HALF_OPEN held by `prober`. @returns true when claimed. */
  claimProbe(key: string, prober: string, leaseUntil: number, now: number): Promise<boolean>;
  /** HALF_OPEN held by `prober` → CLOSED (success) or OPEN until `retryAt` (failure). @returns true when applied. */
  settleProbe(key: string, prober: string, outcome: { success: true } | { success: false; retryAt: number }, now: number): Promise<boolean>;
  list(limit: number, cursor?: string): Promise<{ items: CircuitRecord[]; nextCursor?: string }>;
  /** Operator reset: removes the record (the circuit is CLOSED with no failures). @returns false when there was none. */
  delete(key: string): Promise<boolean>;
}

export interface CircuitPolicy {
  failureThreshold: number;
  cooldownMs: number;
}

/** What the breaker reports (logs and metrics are wired by the caller). */
export type CircuitEvent = { type: 'transition'; key: string; from: CircuitState; to: CircuitState } | { type: 'store_unavailable'; key: string; failOpen: boolean; error: unknown };

/** The breaker's decision before a call. `probe` is set when this caller holds the half-open probe. */
export type Admission = { allowed: true; state: CircuitState; probe?: string; degraded?: boolean } | { allowed: false; state: CircuitState; retryAt?: number; degraded?: boolean };

/** Result of recording an outcome: the transition it caused, if any. */
export interface Recorded {
  transition?: { from: CircuitState; to: CircuitState };
}

export interface CircuitBreakerProps {
  store: CircuitStore;
  clock: Clock;
  /** Unique id of this breaker instance (names the prober). */
  instanceId: string;
  /** How long a cached record is trusted, ms. @default 1000 */
  cacheTtlMs?: number;
  /** How long a probe's lease lasts, ms (then another caller may probe). @default 10000 */
  probeLeaseMs?: number;
  /** Let calls through when the store cannot be reached. @default true */
  failOpen?: boolean;
  /** A store call slower than this counts as unreachable, ms. @default 300 */
  storeTimeoutMs?: number;
  onEvent?: (event: CircuitEvent) => void;
}

class StoreTimeoutError extends Error {
  constructor(ms: number) {
    super(`circuit store did not answer within ${ms} ms`);
    this.name = 'StoreTimeoutError';
  }
}

export class CircuitBreaker {
  private readonly cache = new Map<string, { record: CircuitRecord | undefined; fetchedAt: number }>();
  private readonly cacheTtlMs: number;
  private readonly probeLeaseMs: number;
  private readonly failOpen: boolean;
  private readonly storeTimeoutMs: number;
  /** Numbers this instance's probe claims; with `instanceId` it names the prober uniquely. */
  private probeSeq = 0;

  constructor(private readonly props: CircuitBreakerProps) {
    this.cacheTtlMs = props.cacheTtlMs ?? 1000;
    this.probeLeaseMs = props.probeLeaseMs ?? 10000;
    this.failOpen = props.failOpen ?? true;
    this.storeTimeoutMs = props.storeTimeoutMs ?? 300;
  }

  private async store<T>(op: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([op(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StoreTimeoutError(this.storeTimeoutMs)), this.storeTimeoutMs)))]);
    } finally {
      clearTimeout(timer);
    }
  }

  private remember(key: string, record: CircuitRecord | undefined): void {
    this.cache.set(key, { record, fetchedAt: this.props.clock.now() });
  }

  private degraded(key: string, error: unknown): Admission {
    this.props.onEvent?.({ type: 'store_unavailable', key, failOpen: this.failOpen, error });
    return this.failOpen ? { allowed: true, state: 'CLOSED', degraded: true } : { allowed: false, state: 'OPEN', degraded: true };
  }

  /**
   * Decides whether a call may go out now.
   * @returns allowed (maybe as the half-open prober), or refused with the circuit's state.
   */
  async admit(key: string): Promise<Admission> {
    const now = this.props.clock.now();
    let record: CircuitRecord | undefined;
    const cached = this.cache.get(key);
    if (cached && now - cached.fetchedAt < this.cacheTtlMs) record = cached.record;
    else {
      try {
        record = await this.store(() => this.props.store.get(key));
      } catch (error) {
        return this.degraded(key, error);
      }
      this.remember(key, record);
    }
    if (!record || record.state === 'CLOSED') return { allowed: true, state: 'CLOSED' };
    const probeDue = record.state === 'OPEN' ? (record.retryAt ?? 0) <= now : (record.probeLeaseUntil ?? 0) <= now;
    if (!probeDue) return { allowed: false, state: record.state, ...(record.retryAt ? { retryAt: record.retryAt } : {}) };
    const prober = `${this.props.instanceId}:${++this.probeSeq}`;
    let claimed: boolean;
    try {
      claimed = await this.store(() => this.props.store.claimProbe(key, prober, now + this.probeLeaseMs, now));
    } catch (error) {
      return this.degraded(key, error);
    }
    // Either way the record changed: read it again next time.
    this.cache.delete(key);
    if (!claimed) return { allowed: false, state: 'HALF_OPEN' };
    this.props.onEvent?.({ type: 'transition', key, from: record.state, to: 'HALF_OPEN' });
    return { allowed: true, state: 'HALF_OPEN', probe: prober };
  }

  /**
   * Records the outcome of an admitted call.
   * @param failed true for a 5xx, timeout or connection error; false for 2xx–4xx
   */
  async record(key: string, admission: Admission & { allowed: true }, failed: boolean, policy: CircuitPolicy): Promise<Recorded> {
    const now = this.props.clock.now();
    try {
      if (admission.probe) {
        const settled = await this.store(() => this.props.store.settleProbe(key, admission.probe!, failed ? { success: false, retryAt: now + policy.cooldownMs } : { success: true }, now));
        this.cache.delete(key);
        if (!settled) return {};
        const transition = { from: 'HALF_OPEN' as const, to: failed ? ('OPEN' as const) : ('CLOSED' as const) };
        this.props.onEvent?.({ type: 'transition', key, ...transition });
        return { transition };
      }
      if (!failed) {
        const known = this.cache.get(key)?.record;
        if (known && known.state === 'CLOSED' && known.failures > 0) {
          await this.store(() => this.props.store.resetFailures(key, now));
          this.remember(key, { ...known, failures: 0, version: known.version + 1 });
        }
        return {};
      }
      const after = await this.store(() => this.props.store.addFailure(key, now));
      if (!after) {
        this.cache.delete(key);
        return {};
      }
      this.remember(key, after);
      if (after.failures < policy.failureThreshold) return {};
      const opened = await this.store(() => this.props.store.open(key, policy.failureThreshold, now + policy.cooldownMs, now));
      this.remember(key, { ...after, state: 'OPEN', retryAt: now + policy.cooldownMs });
      if (!opened) return {};
      this.props.onEvent?.({ type: 'transition', key, from: 'CLOSED', to: 'OPEN' });
      return { transition: { from: 'CLOSED', to: 'OPEN' } };
    } catch (error) {
      this.props.onEvent?.({ type: 'store_unavailable', key, failOpen: this.failOpen, error });
      return {};
    }
  }

  /** Forgets cached records (tests; operator reset in this instance). */
  clearCache(key?: string): void {
    if (key === undefined) this.cache.clear();
    else this.cache.delete(key);
  }
}
