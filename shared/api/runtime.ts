/**
 * Builds the services a function needs from its configuration, once per Lambda instance.
 * Handlers call {@link servicesFromEnv}; the local server and tests call {@link createServices}
 * with their own clients and settings.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbClient } from '../stores/aws-clients';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { connectionsService, secretNamesService, secretStoreService, tokenProviderService } from '../connections/auth';
import { DEFAULT_SECRET_PREFIX, SecretNames } from '../connections/connection';
import { TokenProvider, type TokenEvent } from '../connections/token-provider';
import type { TokenRegistry } from '../connections/token-registry';
import { CachedReader } from '../stores/cached-reader';
import { DynamoConnectionStore } from '../stores/dynamodb/connection-store';
import { DynamoTokenRegistry } from '../stores/dynamodb/token-registry';
import { SecretsManagerSecretStore } from '../stores/secrets/secrets-manager-store';
import { systemClock, systemRandomness, type Clock, type Randomness } from '../clock';
import { boolEnv, ENV, intEnv, requiredEnv } from '../config/env';
import { NodeHttpClient, type HttpClient } from '../http/client';
import { CachedFlowStore } from '../stores/cached-flow-store';
import { DynamoFlowStore } from '../stores/dynamodb/flow-store';
import { DynamoStateStore } from '../stores/dynamodb/state-store';
import { DynamoCircuitStore } from '../stores/dynamodb/circuit-store';
import { reportCircuitEvent, reportTokenEvent } from '../observability';
import { CircuitBreaker, type CircuitEvent } from '../resilience/circuit-breaker';
import { circuitsService, clockService, httpService, ServiceContainer } from '../services';
import { callbackEndpointService, waitRegistryService } from '../callbacks/callback-token';
import { AgentEventService, agentEventsService } from '../agents/agent-events';
import { DynamoAgentEventStore } from '../stores/dynamodb/agent-event-store';
import { DynamoWorkflowConfigurationStore } from '../stores/dynamodb/workflow-configuration-store';
import { workflowConfigurationsService } from '../workflows/workflow-configuration';
import { CallbackService } from './callback-service';
import { WorkflowConfigurationService } from './workflow-configuration-service';
import { CircuitService } from './circuit-service';
import { ConnectionService } from './connection-service';
import { ExecutionService } from './execution-service';
import { FlowService } from './flow-service';

export interface ServiceConfig {
  definitionsTable: string;
  stateTable: string;
  /** Flows may call loopback and private hosts (local development only). */
  allowPrivateNetworks: boolean;
  /** TTL of the cached latest-version pointer, ms. */
  flowCacheTtlMs: number;
  /** TTL of the cached circuit state, ms. */
  circuitCacheTtlMs: number;
  /** Let calls through when the State table is unreachable. */
  circuitFailOpen: boolean;
  /** Prefix of every secret name. @default 'ivrflow/' */
  secretPrefix?: string;
  /** The API's public base URL, for callback URLs (async HTTPRequest steps fail without it). */
  publicUrl?: string;
}

export interface Services {
  flowService: FlowService;
  executionService: ExecutionService;
  circuitService: CircuitService;
  connectionService: ConnectionService;
  callbackService: CallbackService;
  agentEventService: AgentEventService;
  workflowConfigurationService: WorkflowConfigurationService;
  circuits: CircuitBreaker;
  tokens: TokenProvider;
  tokenRegistry: TokenRegistry;
}

/** Reads {@link ServiceConfig} from the environment. @throws ConfigError naming a missing variable. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return {
    definitionsTable: requiredEnv(ENV.definitionsTable, env),
    stateTable: requiredEnv(ENV.stateTable, env),
    allowPrivateNetworks: boolEnv(ENV.allowPrivateNetworks, false, env),
    flowCacheTtlMs: intEnv(ENV.flowCacheTtlMs, 5000, { min: 0, max: 3_600_000 }, env),
    circuitCacheTtlMs: intEnv(ENV.circuitCacheTtlMs, 1000, { min: 0, max: 60_000 }, env),
    circuitFailOpen: boolEnv(ENV.circuitFailOpen, true, env),
    secretPrefix: env[ENV.secretPrefix] ?? DEFAULT_SECRET_PREFIX,
    ...(env[ENV.publicUrl] ? { publicUrl: env[ENV.publicUrl] } : {}),
  };
}

export interface ServiceOverrides {
  dynamodb?: DynamoDBClient;
  secretsManager?: SecretsManagerClient;
  http?: HttpClient;
  clock?: Clock;
  randomness?: Randomness;
  onCircuitEvent?: (event: CircuitEvent) => void;
  onTokenEvent?: (event: TokenEvent) => void;
}

export function createServices(config: ServiceConfig, overrides: ServiceOverrides = {}): Services {
  const clock = overrides.clock ?? systemClock;
  const randomness = overrides.randomness ?? systemRandomness;
  const client = overrides.dynamodb ?? dynamoDbClient();
  const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: config.definitionsTable, client }), { clock, latestTtlMs: config.flowCacheTtlMs });
  const state = new DynamoStateStore({ tableName: config.stateTable, client, now: () => clock.now() });
  const http = overrides.http ?? new NodeHttpClient({ allowPrivateNetworks: config.allowPrivateNetworks });
  const circuitStore = new DynamoCircuitStore({ tableName: config.stateTable, client });
  const instanceId = randomness.id();
  const circuits = new CircuitBreaker({
    store: circuitStore,
    clock,
    instanceId,
    cacheTtlMs: config.circuitCacheTtlMs,
    failOpen: config.circuitFailOpen,
    onEvent: overrides.onCircuitEvent ?? reportCircuitEvent,
  });
  const secrets = new SecretsManagerSecretStore(overrides.secretsManager ? { client: overrides.secretsManager } : {});
  const names = new SecretNames(config.secretPrefix ?? DEFAULT_SECRET_PREFIX);
  const tokenRegistry = new DynamoTokenRegistry({ tableName: config.stateTable, client });
  const tokens = new TokenProvider({ registry: tokenRegistry, secrets, names, http, clock, instanceId, onEvent: overrides.onTokenEvent ?? reportTokenEvent });
  const connectionStore = new DynamoConnectionStore({ tableName: config.definitionsTable, client });
  const connections = new CachedReader((name) => connectionStore.getConnection(name), clock, config.flowCacheTtlMs);
  const stepServices = new ServiceContainer()
    .provide(clockService, clock)
    .provide(httpService, http)
    .provide(circuitsService, circuits)
    .provide(secretStoreService, secrets)
    .provide(secretNamesService, names)
    .provide(tokenProviderService, tokens)
    .provide(connectionsService, connections)
    .provide(callbackEndpointService, { baseUrl: config.publicUrl })
    .provide(waitRegistryService, { register: (executionId, waitId, wait) => state.registerWait(executionId, waitId, wait) });
  const agentEventService = new AgentEventService({ store: new DynamoAgentEventStore({ tableName: config.stateTable, client }), clock });
  const workflowConfigurations = new DynamoWorkflowConfigurationStore({ tableName: config.definitionsTable, client });
  stepServices.provide(agentEventsService, agentEventService).provide(workflowConfigurationsService, new CachedReader((id) => workflowConfigurations.get(id), clock, config.flowCacheTtlMs));
  const executionService = new ExecutionService({ flows, state, http, clock, randomness, circuits, services: stepServices });
  return {
    flowService: new FlowService({ flows, clock, allowPrivateHosts: config.allowPrivateNetworks, connections: connectionStore }),
    executionService,
    callbackService: new CallbackService({ executions: executionService, state, connections, secrets, names, clock }),
    agentEventService,
    workflowConfigurationService: new WorkflowConfigurationService({ store: workflowConfigurations, flows, connections: connectionStore, clock }),
    circuitService: new CircuitService(circuitStore, circuits),
    connectionService: new ConnectionService({ store: connectionStore, secrets, names, registry: tokenRegistry, clock, allowPrivateHosts: config.allowPrivateNetworks }),
    circuits,
    tokens,
    tokenRegistry,
  };
}

let fromEnv: Services | undefined;
/** The services of this Lambda instance, built on first use from the environment. */
export function servicesFromEnv(): Services {
  fromEnv ??= createServices(configFromEnv());
  return fromEnv;
}
