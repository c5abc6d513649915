/** The composition root of flow-api: definitions (flows, connections, workflow configurations), their graphs, circuits for operators, execution search and the audit trail. */
import { CircuitService } from '#shared/api/circuit-service';
import { FlowGraphService } from '#shared/api/flow-graph-service';
import { HistoryService } from '#shared/api/history-service';
import type { ServiceConfig } from '#shared/config/runtime';
import { DynamoAuditTrail } from '#shared/stores/dynamodb/audit-trail';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { resolved, type Adapters } from '../roots/adapters';
import { definitionsOf, type DefinitionsRoot } from '../roots/definitions';
import { circuitsOf } from '../roots/parts';

/** What the flow-api handler uses: the definitions services and token registry, the graph, circuit and history services. */
export interface FlowApiRoot extends DefinitionsRoot {
  /** `GET /flows/{flowId}/graph`. */
  graphService: FlowGraphService;
  circuitService: CircuitService;
  /** Execution search and the audit trail. */
  historyService: HistoryService;
}

/**
 * Builds the flow-api root: the definitions services (functions/roots/definitions.ts), the graph
 * over their flows, the circuit breaker and its store, and the State table's executions and audit
 * entries.
 */
export function flowApiRoot(config: ServiceConfig, adapters: Adapters): FlowApiRoot {
  const a = resolved(config, adapters);
  const instanceId = a.randomness.id();
  const definitions = definitionsOf(config, a, instanceId);
  const state = new DynamoStateStore({ tableName: config.stateTable, client: a.dynamodb, now: () => a.clock.now() });
  const { circuits, circuitStore } = circuitsOf(config, a, instanceId);
  return {
    ...definitions,
    graphService: new FlowGraphService(definitions.flowService),
    circuitService: new CircuitService(circuitStore, circuits),
    historyService: new HistoryService({ executions: state, audit: new DynamoAuditTrail({ tableName: config.stateTable, client: a.dynamodb, now: () => a.clock.now() }), clock: a.clock }),
  };
}
