/** The composition root of agent-events: agent sessions and events in the State table, nothing else. */
import { AgentEventService } from '#shared/agents/agent-events';
import type { ServiceConfig } from '#shared/config/runtime';
import { DynamoAgentEventStore } from '#shared/stores/dynamodb/agent-event-store';
import { resolved, type Adapters } from '../roots/adapters';

/** What the agent-events handler uses: the agent session and event service. */
export interface AgentEventsRoot {
  agentEventService: AgentEventService;
}

/** Builds the agent-events root: an {@link AgentEventService} over the State table (`config.stateTable`) and the adapters' clock. */
export function agentEventsRoot(config: ServiceConfig, adapters: Adapters): AgentEventsRoot {
  const a = resolved(config, adapters);
  return { agentEventService: new AgentEventService({ store: new DynamoAgentEventStore({ tableName: config.stateTable, client: a.dynamodb }), clock: a.clock }) };
}
