/**
 * Definitions as the executor reads them (connections, workflow configurations): each cached in
 * memory for `ttlMs`, misses included, so a change is seen by a warm Lambda within that time; at
 * most 1,000 entries, the least recently used dropped first (lru-cache). Concurrent reads of one
 * key share one load. A `ttlMs` of 0 reads through every time.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock';

/** Entries kept at most per reader (keys can come from callers' variables). */
const MAX_ENTRIES = 1000;

/** Reads definitions by key through a cache of `ttlMs` (ms, misses included; 0 reads through), concurrent reads of a key sharing one load. */
export class CachedReader<T> {
  /** Boxed: a miss (undefined) is cached too, and lru-cache keeps no undefined value. */
  private readonly cache: LRUCache<string, { value: T | undefined }> | undefined;

  /** @param load reads one definition by key (undefined when missing) */
  constructor(
    private readonly load: (key: string) => Promise<T | undefined>,
    clock: Clock,
    ttlMs = 5000,
  ) {
    if (ttlMs <= 0) return;
    this.cache = new LRUCache<string, { value: T | undefined }>({
      max: MAX_ENTRIES,
      ttl: ttlMs,
      // The injected clock, read on every check (no cached "now": fake clocks jump).
      perf: { now: () => clock.now() },
      ttlResolution: 0,
      fetchMethod: async (key) => ({ value: await load(key) }),
    });
  }

  async get(key: string): Promise<T | undefined> {
    if (!this.cache) return this.load(key);
    return (await this.cache.fetch(key))?.value;
  }
}
