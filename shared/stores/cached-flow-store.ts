/**
 * A per-Lambda in-memory cache in front of a {@link FlowStore} (docs/architecture.md, "Flow
 * definitions in DynamoDB"): a version is immutable, so it is cached until evicted; the latest
 * pointer is cached for `latestTtlMs`, so a warm execution reads no definition from DynamoDB.
 * Writes go through and drop the pointer.
 */
import type { Clock } from '../clock';
import type { Flow } from '../flow/schema';
import type { FlowStore, FlowSummary, Page } from './ports';

export interface CachedFlowStoreProps {
  clock: Clock;
  /** How long a latest pointer is trusted, ms. @default 5000 */
  latestTtlMs?: number;
  /** Versions kept in memory (least recently used evicted). @default 500 */
  maxVersions?: number;
}

export class CachedFlowStore implements FlowStore {
  private readonly versions = new Map<string, Flow>();
  private readonly latest = new Map<string, { flow: Flow; expiresAtMs: number }>();
  private readonly latestTtlMs: number;
  private readonly maxVersions: number;

  constructor(
    private readonly inner: FlowStore,
    private readonly props: CachedFlowStoreProps,
  ) {
    this.latestTtlMs = props.latestTtlMs ?? 5000;
    this.maxVersions = props.maxVersions ?? 500;
  }

  private remember(flow: Flow): void {
    const key = `${flow.id}#${flow.version ?? 0}`;
    this.versions.delete(key);
    this.versions.set(key, flow);
    if (this.versions.size > this.maxVersions) this.versions.delete(this.versions.keys().next().value as string);
  }

  async getFlow(flowId: string, version?: number): Promise<Flow | undefined> {
    if (version !== undefined) {
      const hit = this.versions.get(`${flowId}#${version}`);
      if (hit) return hit;
      const flow = await this.inner.getFlow(flowId, version);
      if (flow) this.remember(flow);
      return flow;
    }
    const pointer = this.latest.get(flowId);
    if (pointer && pointer.expiresAtMs > this.props.clock.now()) return pointer.flow;
    const flow = await this.inner.getFlow(flowId);
    if (flow) {
      this.latest.set(flowId, { flow, expiresAtMs: this.props.clock.now() + this.latestTtlMs });
      this.remember(flow);
    } else this.latest.delete(flowId);
    return flow;
  }

  async putFlowVersion(flow: Flow & { version: number }, nowIso: string): Promise<void> {
    this.latest.delete(flow.id);
    await this.inner.putFlowVersion(flow, nowIso);
  }

  getLatestVersion(flowId: string): Promise<number> {
    return this.inner.getLatestVersion(flowId);
  }

  listFlows(limit: number, cursor?: string): Promise<Page<FlowSummary>> {
    return this.inner.listFlows(limit, cursor);
  }

  async deleteFlow(flowId: string): Promise<boolean> {
    this.latest.delete(flowId);
    for (const key of [...this.versions.keys()]) if (key.startsWith(`${flowId}#`)) this.versions.delete(key);
    return this.inner.deleteFlow(flowId);
  }
}
