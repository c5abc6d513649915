/**
 * A circuit breaker shared by every Lambda through the `State` table (docs/architecture.md,
 * "Resilience").
 *
 * One record per circuit key. It counts calls, not attempts: a step's call whose every attempt
 * failed is one failure (the call pipeline records each call once). CLOSED → OPEN after
 * `failureThreshold` consecutive failed calls (5xx, timeouts, connection errors; never 4xx). OPEN →
 * calls are refused at once (OnCircuitOpen, no network call). After `cooldownMs`, exactly one caller
 * across all Lambdas claims the half-open probe with a conditional write and a lease (the probe's
 * timeout + 1 s); if it dies, the lease expires and another caller may probe. Probe success →
 * CLOSED, counter reset; probe failure → OPEN with a new cooldown. Every update is an atomic
 * conditional write (`ADD`, conditions on state and prober; `version` counts changes); successes
 * write only when they change something.
 *
 * A short in-memory cache (`cacheTtlMs`, default 1 s) keeps the happy path free of reads. A store
 * call slower than `storeTimeoutMs` is not waited for: the caller goes on (failing open, or closed
 * with `failOpen: false`, reported through `onEvent`), and the write is reconciled when it lands —
 * a transition it made is reported then, exactly once, and a probe claim whose caller gave up is
 * released at once, so no "ghost" probe holds the circuit half-open.
 */
import type { Clock } from '../clock';

/** The state of a circuit: CLOSED (calls go through), OPEN (refused until the cooldown ends), HALF_OPEN (one probe call). */
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
  /**
   * Operator reset: removes the record (the circuit is CLOSED with no failures); a store with an
   * audit trail records who did it (`auditor.actor`) in the same transaction.
   * @returns false when there was none.
   */
  delete(key: string, auditor?: { actor: string }): Promise<boolean>;
}

/** A circuit's policy: consecutive failed calls that open it, and how long it stays open before a probe, ms. */
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

/** What a {@link CircuitBreaker} is built from: its store, the clock, this instance's id, and its timings (ms). */
export interface CircuitBreakerProps {
  store: CircuitStore;
  clock: Clock;
  /** Unique id of this breaker instance (names the prober). */
  instanceId: string;
  /** How long a cached record is trusted, ms. @default 1000 */
  cacheTtlMs?: number;
  /** How long a probe's lease lasts when {@link CircuitBreaker.admit} is not told, ms. @default 10000 */
  probeLeaseMs?: number;
  /** Let calls through when the store cannot be reached. @default true */
  failOpen?: boolean;
  /** How long a caller waits for the store, ms; a slower call is reconciled when it lands. @default 300 */
  storeTimeoutMs?: number;
  onEvent?: (event: CircuitEvent) => void;
}

class StoreTimeoutError extends Error {
  constructor(ms: number) {
    super(`circuit store did not answer within ${ms} ms`);
    this.name = 'StoreTimeoutError';
  }
}

/** A store call the caller stopped waiting for: it goes on, and `settled` says how it ended. */
const LATE = Symbol('late');

/** The circuit breaker shared through a {@link CircuitStore}, with a short cache and store calls bounded by `storeTimeoutMs` (see the module's header). */
export class CircuitBreaker {
  private readonly cache = new Map<string, { record: CircuitRecord | undefined; fetchedAt: number }>();
  private readonly cacheTtlMs: number;
  private readonly probeLeaseMs: number;
  private readonly failOpen: boolean;
  private readonly storeTimeoutMs: number;
  /** Numbers this instance's probe claims; with `instanceId` it names the prober uniquely. */
  private probeSeq = 0;
  /** Store calls still running after their caller gave up (awaited by {@link CircuitBreaker.settled}). */
  private readonly late = new Set<Promise<unknown>>();

  constructor(private readonly props: CircuitBreakerProps) {
    this.cacheTtlMs = props.cacheTtlMs ?? 1000;
    this.probeLeaseMs = props.probeLeaseMs ?? 10000;
    this.failOpen = props.failOpen ?? true;
    this.storeTimeoutMs = props.storeTimeoutMs ?? 300;
  }

  /**
   * Runs `work` (store calls) for at most `waitMs` (at most `storeTimeoutMs`). When it takes
   * longer the caller gets {@link LATE} and `work` goes on; `onLate` sees its value when it lands.
   * @throws what `work` throws, when it fails in time
   */
  private async bounded<T>(work: Promise<T>, onLate: (value: T) => void = () => undefined, waitMs = this.storeTimeoutMs): Promise<T | typeof LATE> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof LATE>((resolve) => (timer = setTimeout(() => resolve(LATE), Math.max(0, Math.min(waitMs, this.storeTimeoutMs)))));
    try {
      const first = await Promise.race([work, timeout]);
      if (first === LATE) {
        const landing = work.then(onLate, () => undefined).finally(() => this.late.delete(landing));
        this.late.add(landing);
      }
      return first;
    } finally {
      clearTimeout(timer);
    }
  }

  private remember(key: string, record: CircuitRecord | undefined): void {
    this.cache.set(key, { record, fetchedAt: this.props.clock.now() });
  }

  private emit(event: CircuitEvent): void {
    try {
      this.props.onEvent?.(event);
    } catch {
      // A faulty listener must not break a call.
    }
  }

  private degraded(key: string, error: unknown): Admission {
    this.emit({ type: 'store_unavailable', key, failOpen: this.failOpen, error });
    return this.failOpen ? { allowed: true, state: 'CLOSED', degraded: true } : { allowed: false, state: 'OPEN', degraded: true };
  }

  /**
   * Decides whether a call may go out now.
   * @param options.probeLeaseMs how long this call may hold the half-open probe, ms (its timeout + 1 s)
   * @param options.waitMs how long the caller may wait for the store, ms (its time left; at most `storeTimeoutMs`)
   * @returns allowed (maybe as the half-open prober), or refused with the circuit's state.
   */
  async admit(key: string, options: { probeLeaseMs?: number; waitMs?: number } = {}): Promise<Admission> {
    const now = this.props.clock.now();
    let record: CircuitRecord | undefined;
    const cached = this.cache.get(key);
    if (cached && now - cached.fetchedAt < this.cacheTtlMs) record = cached.record;
    else {
      let read: CircuitRecord | undefined | typeof LATE;
      try {
        read = await this.bounded(this.props.store.get(key), undefined, options.waitMs);
      } catch (error) {
        return this.degraded(key, error);
      }
      if (read === LATE) return this.degraded(key, new StoreTimeoutError(this.storeTimeoutMs));
      record = read;
      this.remember(key, record);
    }
    if (!record || record.state === 'CLOSED') return { allowed: true, state: 'CLOSED' };
    const probeDue = record.state === 'OPEN' ? (record.retryAt ?? 0) <= now : (record.probeLeaseUntil ?? 0) <= now;
    if (!probeDue) return { allowed: false, state: record.state, ...(record.retryAt ? { retryAt: record.retryAt } : {}) };
    const prober = `${this.props.instanceId}:${++this.probeSeq}`;
    let claimed: boolean | typeof LATE;
    try {
      // A claim that lands after its caller gave up is released at once: no ghost probe holds the circuit.
      claimed = await this.bounded(
        this.props.store.claimProbe(key, prober, now + (options.probeLeaseMs ?? this.probeLeaseMs), now),
        (late) => {
          if (late) void this.release(key, prober);
        },
        options.waitMs,
      );
    } catch (error) {
      return this.degraded(key, error);
    }
    // Either way the record changed: read it again next time.
    this.cache.delete(key);
    if (claimed === LATE) return this.degraded(key, new StoreTimeoutError(this.storeTimeoutMs));
    if (!claimed) return { allowed: false, state: 'HALF_OPEN' };
    this.emit({ type: 'transition', key, from: record.state, to: 'HALF_OPEN' });
    return { allowed: true, state: 'HALF_OPEN', probe: prober };
  }

  /** Gives a held probe back without an outcome: OPEN again, due at once (the next caller may probe). */
  private async release(key: string, prober: string): Promise<void> {
    const now = this.props.clock.now();
    await this.props.store.settleProbe(key, prober, { success: false, retryAt: now }, now).catch(() => false);
    this.cache.delete(key);
  }

  /**
   * Ends an admission whose call sent nothing (no credential, the deadline, a refused destination):
   * nothing is counted; a probe is given back so the next caller may probe at once.
   */
  async abandon(key: string, admission: Admission & { allowed: true }): Promise<void> {
    if (admission.probe) await this.bounded(this.release(key, admission.probe));
  }

  /** True when this instance's fresh cache says the circuit is not CLOSED (no I/O): a retry is not worth starting. */
  knownOpen(key: string): boolean {
    const cached = this.cache.get(key);
    return cached !== undefined && this.props.clock.now() - cached.fetchedAt < this.cacheTtlMs && cached.record !== undefined && cached.record.state !== 'CLOSED';
  }

  /**
   * Records the outcome of an admitted call (once per call, whatever its attempts).
   * @param failed true for a 5xx, timeout or connection error; false for 2xx–4xx
   * @param waitMs how long the caller may wait for the store, ms (at most `storeTimeoutMs`; 0: the
   *   writes go on without the caller, as when a call ended at its deadline)
   * @returns the transition it caused, when the store answered in time; a slower store's
   *   transition is reported through `onEvent` when its write lands
   */
  async record(key: string, admission: Admission & { allowed: true }, failed: boolean, policy: CircuitPolicy, waitMs = this.storeTimeoutMs): Promise<Recorded> {
    const now = this.props.clock.now();
    let recorded: Recorded | typeof LATE;
    try {
      recorded = await this.bounded(this.apply(key, admission, failed, policy, now), undefined, waitMs);
    } catch (error) {
      this.emit({ type: 'store_unavailable', key, failOpen: this.failOpen, error });
      return {};
    }
    // A caller that could not wait (no time left) is not a store failure: the writes land after it.
    if (recorded === LATE) {
      if (waitMs >= this.storeTimeoutMs) this.emit({ type: 'store_unavailable', key, failOpen: this.failOpen, error: new StoreTimeoutError(this.storeTimeoutMs) });
      return {};
    }
    return recorded;
  }

  /** The writes of one outcome; reports each transition when its write lands (so exactly once, even after the caller stopped waiting). */
  private async apply(key: string, admission: Admission & { allowed: true }, failed: boolean, policy: CircuitPolicy, now: number): Promise<Recorded> {
    const { store } = this.props;
    if (admission.probe) {
      const settled = await store.settleProbe(key, admission.probe, failed ? { success: false, retryAt: now + policy.cooldownMs } : { success: true }, now);
      this.cache.delete(key);
      if (!settled) return {};
      const transition = { from: 'HALF_OPEN' as const, to: failed ? ('OPEN' as const) : ('CLOSED' as const) };
      this.emit({ type: 'transition', key, ...transition });
      return { transition };
    }
    if (!failed) {
      const known = this.cache.get(key)?.record;
      if (known && known.state === 'CLOSED' && known.failures > 0) {
        await store.resetFailures(key, now);
        this.remember(key, { ...known, failures: 0, version: known.version + 1 });
      }
      return {};
    }
    const after = await store.addFailure(key, now);
    if (!after) {
      this.cache.delete(key);
      return {};
    }
    this.remember(key, after);
    if (after.failures < policy.failureThreshold) return {};
    const opened = await store.open(key, policy.failureThreshold, now + policy.cooldownMs, now);
    this.remember(key, { ...after, state: 'OPEN', retryAt: now + policy.cooldownMs });
    if (!opened) return {};
    this.emit({ type: 'transition', key, from: 'CLOSED', to: 'OPEN' });
    return { transition: { from: 'CLOSED', to: 'OPEN' } };
  }

  /** Resolves once every store call its callers stopped waiting for has landed (tests; a function before it freezes). */
  async settled(): Promise<void> {
    while (this.late.size > 0) await Promise.all([...this.late]);
  }

  /** Forgets cached records (tests; operator reset in this instance). */
  clearCache(key?: string): void {
    if (key === undefined) this.cache.clear();
    else this.cache.delete(key);
  }
}
