/** The composition root of flow-api: definitions (flows, connections, workflow configurations), circuits for operators, connections' secrets and token records. */
import { CircuitService } from '#shared/api/circuit-service';
import { ConnectionService } from '#shared/api/connection-service';
import { FlowService } from '#shared/api/flow-service';
import { HistoryService } from '#shared/api/history-service';
import { WorkflowConfigurationService } from '#shared/api/workflow-configuration-service';
import type { ServiceConfig } from '#shared/config/runtime';
import type { TokenRegistry } from '#shared/connections/token-registry';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoAuditTrail } from '#shared/stores/dynamodb/audit-trail';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { resolved, type Adapters } from '../roots/adapters';
import { auditWritesOf, circuitsOf, connectionsOf, tokensOf, workflowConfigurationsOf } from '../roots/parts';

/** What the flow-api handler uses: the flow, circuit, connection and workflow configuration services, and the token registry. */
export interface FlowApiRoot {
  flowService: FlowService;
  circuitService: CircuitService;
  connectionService: ConnectionService;
  workflowConfigurationService: WorkflowConfigurationService;
  /** Execution search and the audit trail. */
  historyService: HistoryService;
  tokenRegistry: TokenRegistry;
}

/**
 * Builds the flow-api root: flows from the Definitions table behind a cache (`flowCacheTtlMs` for
 * the latest version), the circuit breaker and its store, Secrets Manager, the token registry, the
 * connection and workflow configuration stores.
 */
export function flowApiRoot(config: ServiceConfig, adapters: Adapters): FlowApiRoot {
  const a = resolved(config, adapters);
  const instanceId = a.randomness.id();
  const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: config.definitionsTable, client: a.dynamodb, audit: auditWritesOf(config, a) }), { clock: a.clock, latestTtlMs: config.flowCacheTtlMs });
  const state = new DynamoStateStore({ tableName: config.stateTable, client: a.dynamodb, now: () => a.clock.now() });
  const { circuits, circuitStore } = circuitsOf(config, a, instanceId);
  const { secrets, names, tokenRegistry } = tokensOf(config, a, instanceId);
  const { connectionStore } = connectionsOf(config, a);
  const workflowConfigurations = workflowConfigurationsOf(config, a).store;
  return {
    flowService: new FlowService({ flows, clock: a.clock, allowPrivateHosts: config.allowPrivateNetworks, connections: connectionStore, workflowConfigurations }),
    circuitService: new CircuitService(circuitStore, circuits),
    connectionService: new ConnectionService({ store: connectionStore, secrets, names, registry: tokenRegistry, clock: a.clock, allowPrivateHosts: config.allowPrivateNetworks }),
    workflowConfigurationService: new WorkflowConfigurationService({ store: workflowConfigurations, flows, connections: connectionStore, clock: a.clock }),
    historyService: new HistoryService({ executions: state, audit: new DynamoAuditTrail({ tableName: config.stateTable, client: a.dynamodb, now: () => a.clock.now() }), clock: a.clock }),
    tokenRegistry,
  };
}
