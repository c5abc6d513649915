/**
 * The circuit breaker over a store slower than its timeout (a paused or overloaded table): the
 * caller is not held, and every write is reconciled when it lands — a transition it made is
 * reported then, exactly once; a probe claim whose caller gave up is released, so no "ghost"
 * probe holds the circuit half-open for its lease.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '#shared/clock';
import { CircuitBreaker, type CircuitEvent, type CircuitRecord, type CircuitStore } from '#shared/resilience/circuit-breaker';
import { MemoryCircuitStore } from '#shared/resilience/memory-circuit-store';

/** A store whose calls land after `delayMs` of real time while `slow` is set (all, or only the operations named in `only`); the writes still happen. */
class SlowStore implements CircuitStore {
  slow = true;
  only: string | undefined;
  constructor(
    readonly inner: MemoryCircuitStore,
    private readonly delayMs: number,
  ) {}
  private later<T>(op: () => Promise<T>, name = ''): Promise<T> {
    if (!this.slow || (this.only !== undefined && this.only !== name)) return op();
    return new Promise((resolve, reject) => setTimeout(() => void op().then(resolve, reject), this.delayMs));
  }
  get(key: string) {
    return this.later(() => this.inner.get(key));
  }
  addFailure(key: string, now: number) {
    return this.later(() => this.inner.addFailure(key, now));
  }
  open(key: string, threshold: number, retryAt: number, now: number) {
    return this.later(() => this.inner.open(key, threshold, retryAt, now));
  }
  resetFailures(key: string, now: number) {
    return this.later(() => this.inner.resetFailures(key, now));
  }
  claimProbe(key: string, prober: string, leaseUntil: number, now: number) {
    return this.later(() => this.inner.claimProbe(key, prober, leaseUntil, now), 'claimProbe');
  }
  settleProbe(key: string, prober: string, outcome: { success: true } | { success: false; retryAt: number }, now: number) {
    return this.later(() => this.inner.settleProbe(key, prober, outcome, now));
  }
  list(limit: number) {
    return this.inner.list(limit);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

const KEY = 'GET crm.example.com/v2/accounts/{}';
const policy = { failureThreshold: 2, cooldownMs: 500 };

function harness() {
  const clock = new FakeClock(1_000_000);
  const inner = new MemoryCircuitStore();
  const store = new SlowStore(inner, 120);
  const events: CircuitEvent[] = [];
  const breaker = new CircuitBreaker({ store, clock, instanceId: 'i-1', storeTimeoutMs: 30, cacheTtlMs: 0, onEvent: (e) => events.push(e) });
  const transitions = () => events.filter((e) => e.type === 'transition').map((e) => (e.type === 'transition' ? `${e.from}→${e.to}` : ''));
  return { clock, inner, store, breaker, events, transitions };
}

describe('circuit breaker: store calls slower than their timeout', () => {
  it('a failure recorded late still opens the circuit, and CircuitOpened is reported exactly once, when the write lands', async () => {
    const { inner, breaker, transitions, events } = harness();
    const allowed = { allowed: true as const, state: 'CLOSED' as const };
    expect(await breaker.record(KEY, allowed, true, policy)).toEqual({});
    expect(await breaker.record(KEY, allowed, true, policy)).toEqual({});
    // The callers were not held: each got {} after 30 ms and a store_unavailable event.
    expect(events.filter((e) => e.type === 'store_unavailable')).toHaveLength(2);
    expect(transitions()).toEqual([]);
    await breaker.settled();
    expect(transitions()).toEqual(['CLOSED→OPEN']);
    expect(await inner.get(KEY)).toMatchObject<Partial<CircuitRecord>>({ state: 'OPEN', failures: 2 });
  });

  it('a probe claim that lands after its caller gave up is released at once: no ghost probe; the next caller probes and closes the circuit', async () => {
    const { clock, inner, store, breaker, transitions } = harness();
    store.slow = false;
    await inner.addFailure(KEY, clock.now());
    await inner.addFailure(KEY, clock.now());
    expect(await inner.open(KEY, 2, clock.now() + policy.cooldownMs, clock.now())).toBe(true);
    clock.advance(policy.cooldownMs);

    store.slow = true;
    store.only = 'claimProbe';
    // The claim is slow: this caller goes through degraded (fail open), not as the prober; the claim still lands.
    const degraded = await breaker.admit(KEY, { probeLeaseMs: 10_000 });
    expect(degraded).toMatchObject({ allowed: true, degraded: true });
    expect(degraded).not.toHaveProperty('probe');
    await breaker.settled();

    store.slow = false;
    // Had the late claim stood, the circuit would stay HALF_OPEN, refusing everyone, for the 10 s lease: it was given back, due at once.
    expect(await inner.get(KEY)).toMatchObject({ state: 'OPEN', retryAt: clock.now() });
    const next = await breaker.admit(KEY, { probeLeaseMs: 1000 });
    expect(next).toMatchObject({ allowed: true, state: 'HALF_OPEN' });
    if (!next.allowed) throw new Error('refused');
    expect((await breaker.record(KEY, next, false, policy)).transition).toEqual({ from: 'HALF_OPEN', to: 'CLOSED' });
    expect(transitions()).toEqual(['OPEN→HALF_OPEN', 'HALF_OPEN→CLOSED']);
  });

  it('a probe settled late is reported once when it lands', async () => {
    const { clock, inner, store, breaker, transitions } = harness();
    store.slow = false;
    await inner.addFailure(KEY, clock.now());
    await inner.addFailure(KEY, clock.now());
    await inner.open(KEY, 2, clock.now(), clock.now());
    const probe = await breaker.admit(KEY, { probeLeaseMs: 1000 });
    if (!probe.allowed || !probe.probe) throw new Error('expected the probe');
    store.slow = true;
    expect(await breaker.record(KEY, probe, false, policy)).toEqual({});
    await breaker.settled();
    expect(transitions()).toEqual(['OPEN→HALF_OPEN', 'HALF_OPEN→CLOSED']);
    expect((await inner.get(KEY))?.state).toBe('CLOSED');
  });
});
