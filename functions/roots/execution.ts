/**
 * The composition root of the executor-class functions (flow-executor, connect-invoke,
 * webhook-callback, wait-sweeper): everything that runs a flow, or the rest of one. The step
 * services are the ones a flow's steps use: HTTP, circuits, secrets and tokens, connections,
 * callbacks (the wait registry and public URL), agent events, workflow configurations.
 */
import { AgentEventService, agentEventsService } from '#shared/agents/agent-events';
import { CallbackService } from '#shared/api/callback-service';
import { ExecutionService } from '#shared/api/execution-service';
import { callbackEndpointService, waitRegistryService } from '#shared/callbacks/callback-token';
import type { ServiceConfig } from '#shared/config/runtime';
import { connectionsService, secretNamesService, secretStoreService, tokenProviderService } from '#shared/connections/auth';
import { circuitsService, clockService, httpService, ServiceContainer } from '#shared/services';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoAgentEventStore } from '#shared/stores/dynamodb/agent-event-store';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import { workflowConfigurationsService } from '#shared/workflows/workflow-configuration';
import { resolved, type Adapters } from './adapters';
import { circuitsOf, connectionsOf, tokensOf, workflowConfigurationsOf } from './parts';

/** What the executor-class handlers use: the execution service and the callback service. */
export interface ExecutionRoot {
  executionService: ExecutionService;
  callbackService: CallbackService;
}

/**
 * Builds the execution root: flows from the Definitions table behind a cache, executions in the
 * State table, the circuit breaker, and a {@link ServiceContainer} providing every step service
 * (clock, HTTP, circuits, step metrics, secrets and names, tokens, connections, the callback
 * endpoint at `config.publicUrl`, the wait registry, agent events, workflow configurations).
 */
export function executionRoot(config: ServiceConfig, adapters: Adapters): ExecutionRoot {
  const a = resolved(config, adapters);
  const client = a.dynamodb;
  const instanceId = a.randomness.id();
  const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: config.definitionsTable, client }), { clock: a.clock, latestTtlMs: config.flowCacheTtlMs });
  const state = new DynamoStateStore({ tableName: config.stateTable, client, now: () => a.clock.now() });
  const { circuits } = circuitsOf(config, a, instanceId);
  const { secrets, names, tokens } = tokensOf(config, a, instanceId);
  const { connections } = connectionsOf(config, a);
  const services = new ServiceContainer()
    .provide(clockService, a.clock)
    .provide(httpService, a.http)
    .provide(circuitsService, circuits)
    .provide(secretStoreService, secrets)
    .provide(secretNamesService, names)
    .provide(tokenProviderService, tokens)
    .provide(connectionsService, connections)
    .provide(callbackEndpointService, { baseUrl: config.publicUrl })
    .provide(waitRegistryService, { register: (executionId, waitId, wait) => state.registerWait(executionId, waitId, wait) })
    .provide(agentEventsService, new AgentEventService({ store: new DynamoAgentEventStore({ tableName: config.stateTable, client }), clock: a.clock }))
    .provide(workflowConfigurationsService, workflowConfigurationsOf(config, a).reader);
  const executionService = new ExecutionService({ flows, state, http: a.http, clock: a.clock, randomness: a.randomness, circuits, services, onEnded: a.onExecutionEnded });
  return { executionService, callbackService: new CallbackService({ executions: executionService, state, connections, secrets, names, clock: a.clock }) };
}
