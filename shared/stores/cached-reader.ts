/**
 * Definitions as the executor reads them (connections, workflow configurations): each cached in
 * memory for `ttlMs`, misses included, so a change is seen by a warm Lambda within that time; at
 * most 1,000 entries, the oldest written dropped first.
 */
import type { Clock } from '../clock';

/** Entries kept at most per reader. */
const MAX_ENTRIES = 1000;

export class CachedReader<T> {
  private readonly cache = new Map<string, { value: T | undefined; expiresAtMs: number }>();

  /** @param load reads one definition by key (undefined when missing) */
  constructor(
    private readonly load: (key: string) => Promise<T | undefined>,
    private readonly clock: Clock,
    private readonly ttlMs = 5000,
  ) {}

  async get(key: string): Promise<T | undefined> {
    const hit = this.cache.get(key);
    const now = this.clock.now();
    if (hit && hit.expiresAtMs > now) return hit.value;
    const value = await this.load(key);
    // Bounded: keys can come from callers' variables; the oldest entry goes first.
    if (this.cache.size >= MAX_ENTRIES && !this.cache.has(key)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.delete(key);
    this.cache.set(key, { value, expiresAtMs: now + this.ttlMs });
    return value;
  }
}
