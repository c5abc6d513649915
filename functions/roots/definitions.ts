/**
 * The definitions services flow-api and the definitions-deployer build alike: flows from the
 * Definitions table behind a cache (`flowCacheTtlMs` for the latest version), connections with
 * their secrets and token records, and workflow configurations. A module of its own (not in
 * parts.ts, which the executors import), so a function bundles exactly what it builds: the
 * deployer has no circuits, history or graph renderers.
 */
import { ConnectionService } from '#shared/api/connection-service';
import { FlowService } from '#shared/api/flow-service';
import { WorkflowConfigurationService } from '#shared/api/workflow-configuration-service';
import type { ServiceConfig } from '#shared/config/runtime';
import type { TokenRegistry } from '#shared/connections/token-registry';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import type { Adapters } from './adapters';
import { auditWritesOf, connectionsOf, tokensOf, workflowConfigurationsOf } from './parts';

/** The flow, connection and workflow configuration services, and the token registry they share. */
export interface DefinitionsRoot {
  flowService: FlowService;
  connectionService: ConnectionService;
  workflowConfigurationService: WorkflowConfigurationService;
  tokenRegistry: TokenRegistry;
}

/** Builds the definitions services over resolved adapters; `instanceId` names this instance in token records. */
export function definitionsOf(config: ServiceConfig, a: Required<Adapters>, instanceId: string): DefinitionsRoot {
  const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: config.definitionsTable, client: a.dynamodb, audit: auditWritesOf(config, a) }), { clock: a.clock, latestTtlMs: config.flowCacheTtlMs });
  const { secrets, names, tokenRegistry } = tokensOf(config, a, instanceId);
  const { connectionStore } = connectionsOf(config, a);
  const workflowConfigurations = workflowConfigurationsOf(config, a).store;
  return {
    flowService: new FlowService({ flows, clock: a.clock, allowPrivateHosts: config.allowPrivateNetworks, connections: connectionStore, workflowConfigurations }),
    connectionService: new ConnectionService({ store: connectionStore, secrets, names, registry: tokenRegistry, clock: a.clock, allowPrivateHosts: config.allowPrivateNetworks }),
    workflowConfigurationService: new WorkflowConfigurationService({ store: workflowConfigurations, flows, connections: connectionStore, clock: a.clock }),
    tokenRegistry,
  };
}
