/**
 * A {@link CircuitStore} in this process's memory, for `ivrflow run`, the demo and flow tests,
 * where there is one process and no DynamoDB. Same semantics as the DynamoDB store.
 */
import type { CircuitRecord, CircuitStore } from './circuit-breaker';

/** Circuit records in this process's memory. */
export class MemoryCircuitStore implements CircuitStore {
  private readonly records = new Map<string, CircuitRecord>();

  get(key: string): Promise<CircuitRecord | undefined> {
    const r = this.records.get(key);
    return Promise.resolve(r && { ...r });
  }

  /** Stores a record as given (flow tests start circuits open or half-open). */
  set(record: CircuitRecord): void {
    this.records.set(record.key, { ...record });
  }

  private put(record: CircuitRecord, now: number): CircuitRecord {
    const next = { ...record, version: record.version + 1, updatedAt: now };
    this.records.set(record.key, next);
    return { ...next };
  }

  addFailure(key: string, now: number): Promise<CircuitRecord | undefined> {
    const r = this.records.get(key) ?? { key, state: 'CLOSED', failures: 0, version: 0 };
    if (r.state !== 'CLOSED') return Promise.resolve(undefined);
    return Promise.resolve(this.put({ ...r, failures: r.failures + 1 }, now));
  }

  open(key: string, threshold: number, retryAt: number, now: number): Promise<boolean> {
    const r = this.records.get(key);
    if (!r || r.state !== 'CLOSED' || r.failures < threshold) return Promise.resolve(false);
    this.put({ ...r, state: 'OPEN', retryAt }, now);
    return Promise.resolve(true);
  }

  resetFailures(key: string, now: number): Promise<void> {
    const r = this.records.get(key);
    if (r && r.state === 'CLOSED' && r.failures > 0) this.put({ ...r, failures: 0 }, now);
    return Promise.resolve();
  }

  claimProbe(key: string, prober: string, leaseUntil: number, now: number): Promise<boolean> {
    const r = this.records.get(key);
    if (!r) return Promise.resolve(false);
    const due = (r.state === 'OPEN' && (r.retryAt ?? 0) <= now) || (r.state === 'HALF_OPEN' && (r.probeLeaseUntil ?? 0) <= now);
    if (!due) return Promise.resolve(false);
    this.put({ ...r, state: 'HALF_OPEN', prober, probeLeaseUntil: leaseUntil }, now);
    return Promise.resolve(true);
  }

  settleProbe(key: string, prober: string, outcome: { success: true } | { success: false; retryAt: number }, now: number): Promise<boolean> {
    const r = this.records.get(key);
    if (!r || r.state !== 'HALF_OPEN' || r.prober !== prober) return Promise.resolve(false);
    const { prober: _p, probeLeaseUntil: _l, retryAt: _r, ...rest } = r;
    this.put(outcome.success ? { ...rest, state: 'CLOSED', failures: 0 } : { ...rest, state: 'OPEN', retryAt: outcome.retryAt }, now);
    return Promise.resolve(true);
  }

  list(limit: number): Promise<{ items: CircuitRecord[] }> {
    return Promise.resolve({ items: [...this.records.values()].slice(0, limit).map((r) => ({ ...r })) });
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.records.delete(key));
  }
}
