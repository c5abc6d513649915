/**
 * Operator view of the shared circuit breakers (`GET /circuits`, `GET /circuits/{key}`,
 * `DELETE /circuits/{key}` on the flow-api).
 */
import { NotFoundError } from '../errors';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';
import type { CircuitBreaker, CircuitRecord, CircuitStore } from '../resilience/circuit-breaker';

/** The operator's view of the shared circuits: their records in the circuit store, and resets that also clear this instance's cache. */
export class CircuitService {
  constructor(
    private readonly store: CircuitStore,
    private readonly breaker: CircuitBreaker,
  ) {}

  list(limit: number, cursor?: string): Promise<{ items: CircuitRecord[]; nextCursor?: string }> {
    return this.store.list(limit, cursor);
  }

  /** @throws NotFoundError (404) when the key has no record (it has never failed). */
  async get(key: string): Promise<CircuitRecord> {
    const record = await this.store.get(key);
    if (!record) throw new NotFoundError(`circuit '${key}' has no record (closed, never failed)`);
    return record;
  }

  /**
   * Operator reset: the circuit is CLOSED with no failures. Other Lambdas see it once their
   * cache (default 1 s) expires.
   * @throws NotFoundError (404) when there was no record.
   */
  async reset(key: string, auditor: Auditor = LOCAL_ACTOR): Promise<void> {
    this.breaker.clearCache(key);
    if (!(await this.store.delete(key, auditor))) throw new NotFoundError(`circuit '${key}' has no record`);
  }
}
