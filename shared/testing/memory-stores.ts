/**
 * Definition stores in this process's memory, for flow tests: a test file's connections and
 * workflow configurations go through the Flow API's own services (same checks, same secret
 * handling) into these, and its flows are read from the files it names.
 */
import type { Connection } from '../connections/connection';
import type { Flow } from '../flow/schema';
import type { ConnectionStore, FlowStore, FlowVersionSummary, Page } from '../stores/ports';
import type { WorkflowConfiguration } from '../workflows/workflow-configuration';

/** Connections in memory (credentials stay in the secret store, as with DynamoDB). */
export class MemoryConnectionStore implements ConnectionStore {
  private readonly items = new Map<string, Connection>();

  putConnection(connection: Connection): Promise<void> {
    this.items.set(connection.name, structuredClone(connection));
    return Promise.resolve();
  }

  getConnection(name: string): Promise<Connection | undefined> {
    const item = this.items.get(name);
    return Promise.resolve(item && structuredClone(item));
  }

  listConnections(limit: number): Promise<Page<Connection>> {
    return Promise.resolve({ items: [...this.items.values()].slice(0, limit).map((c) => structuredClone(c)) });
  }

  deleteConnection(name: string): Promise<boolean> {
    return Promise.resolve(this.items.delete(name));
  }
}

/** Workflow configurations in memory. */
export class MemoryWorkflowConfigurationStore {
  private readonly items = new Map<string, WorkflowConfiguration>();

  /** @returns true when it was created */
  put(configuration: WorkflowConfiguration): Promise<boolean> {
    const created = !this.items.has(configuration.configurationId);
    this.items.set(configuration.configurationId, structuredClone(configuration));
    return Promise.resolve(created);
  }

  get(configurationId: string): Promise<WorkflowConfiguration | undefined> {
    const item = this.items.get(configurationId);
    return Promise.resolve(item && structuredClone(item));
  }

  delete(configurationId: string): Promise<boolean> {
    return Promise.resolve(this.items.delete(configurationId));
  }
}

/** A read-only flow store over flows already loaded (latest version first per id); writes are refused. */
export class LoadedFlowStore implements FlowStore {
  constructor(private readonly flows: ReadonlyMap<string, readonly Flow[]>) {}

  getFlow(flowId: string, version?: number): Promise<Flow | undefined> {
    const list = this.flows.get(flowId);
    return Promise.resolve(version === undefined ? list?.[0] : list?.find((f) => (f.version ?? 1) === version));
  }

  getLatestVersion(flowId: string): Promise<number> {
    const latest = this.flows.get(flowId)?.[0];
    return Promise.resolve(latest ? (latest.version ?? 1) : 0);
  }

  listFlows(limit: number): Promise<Page<{ id: string; name: string; flowType: string; latestVersion: number; updatedAt: string }>> {
    const items = [...this.flows.values()].slice(0, limit).map(([f]) => ({ id: f!.id, name: f!.name, flowType: f!.flowType, latestVersion: f!.version ?? 1, updatedAt: '' }));
    return Promise.resolve({ items });
  }

  listVersions(flowId: string, limit: number): Promise<Page<FlowVersionSummary>> {
    return Promise.resolve({ items: (this.flows.get(flowId) ?? []).slice(0, limit).map((f) => ({ flowId, version: f.version ?? 1, name: f.name, deployedAt: '' })) });
  }

  putFlowVersion(): Promise<void> {
    return Promise.reject(new Error('the flows of a test are read from its files'));
  }

  deleteFlow(): Promise<boolean> {
    return Promise.reject(new Error('the flows of a test are read from its files'));
  }
}
