/**
 * A per-Lambda in-memory cache in front of a {@link FlowStore} (docs/architecture.md, "Flow
 * definitions in DynamoDB"): a version is immutable, so it is cached until evicted; the latest
 * pointer is cached for `latestTtlMs` (0: not cached), so a warm execution reads no definition
 * from DynamoDB. Both caches are lru-cache's, bounded.
 * Writes go through and drop the pointer.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock';
import type { Flow } from '../flow/schema';
import type { Auditor } from './ports';
import type { FlowStore, FlowSummary, FlowVersionSummary, Page } from './ports';

/** Options of {@link CachedFlowStore}: the clock the latest pointers expire on, their TTL (ms) and how many versions are kept. */
export interface CachedFlowStoreProps {
  clock: Clock;
  /** How long a latest pointer is trusted, ms. @default 5000 */
  latestTtlMs?: number;
  /** Versions kept in memory (least recently used evicted). @default 500 */
  maxVersions?: number;
}

/** Latest pointers kept at most (flow ids a caller names that do not exist are not cached). */
const MAX_LATEST = 1000;

/** A {@link FlowStore} that caches versions (until evicted) and latest pointers (for `latestTtlMs`) in front of another; writes go through. */
export class CachedFlowStore implements FlowStore {
  /** By `<id>#<version>`; least recently used evicted (lru-cache). */
  private readonly versions: LRUCache<string, Flow>;
  /** By flow id, for `latestTtlMs` of the injected clock; none when it is 0. */
  private readonly latest: LRUCache<string, Flow> | undefined;

  constructor(
    private readonly inner: FlowStore,
    props: CachedFlowStoreProps,
  ) {
    this.versions = new LRUCache<string, Flow>({ max: props.maxVersions ?? 500 });
    const ttl = props.latestTtlMs ?? 5000;
    if (ttl > 0) this.latest = new LRUCache<string, Flow>({ max: MAX_LATEST, ttl, perf: { now: () => props.clock.now() }, ttlResolution: 0 });
  }

  private remember(flow: Flow): void {
    this.versions.set(`${flow.id}#${flow.version ?? 0}`, flow);
  }

  async getFlow(flowId: string, version?: number): Promise<Flow | undefined> {
    if (version !== undefined) {
      const hit = this.versions.get(`${flowId}#${version}`);
      if (hit) return hit;
      const flow = await this.inner.getFlow(flowId, version);
      if (flow) this.remember(flow);
      return flow;
    }
    const pointer = this.latest?.get(flowId);
    if (pointer) return pointer;
    const flow = await this.inner.getFlow(flowId);
    if (flow) {
      this.latest?.set(flowId, flow);
      this.remember(flow);
    } else this.latest?.delete(flowId);
    return flow;
  }

  async putFlowVersion(flow: Flow & { version: number }, nowIso: string, auditor?: Auditor): Promise<void> {
    this.latest?.delete(flow.id);
    await this.inner.putFlowVersion(flow, nowIso, auditor);
  }

  getLatestVersion(flowId: string): Promise<number> {
    return this.inner.getLatestVersion(flowId);
  }

  listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>> {
    return this.inner.listFlows(limit, cursor);
  }

  listVersions(flowId: string, limit: number, cursor?: string): Promise<Page<FlowVersionSummary>> {
    return this.inner.listVersions(flowId, limit, cursor);
  }

  async deleteFlow(flowId: string, auditor?: Auditor): Promise<boolean> {
    this.latest?.delete(flowId);
    for (const key of [...this.versions.keys()]) if (key.startsWith(`${flowId}#`)) this.versions.delete(key);
    return this.inner.deleteFlow(flowId, auditor);
  }
}
