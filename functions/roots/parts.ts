/**
 * Adapters more than one composition root builds the same way: the circuit breaker over the
 * State table, the secret store and names, the token provider over its registry, and the cached
 * readers of connections and workflow configurations. Each takes what it is built from; none
 * reads the environment or builds a client.
 */
import { SecretNames } from '#shared/connections/secret-names';
import { TokenProvider } from '#shared/connections/token-provider';
import type { ServiceConfig } from '#shared/config/runtime';
import { CircuitBreaker } from '#shared/resilience/circuit-breaker';
import { CachedReader } from '#shared/stores/cached-reader';
import type { AuditWrites } from '#shared/stores/dynamodb/audit-trail';
import { DynamoCircuitStore } from '#shared/stores/dynamodb/circuit-store';
import { DynamoConnectionStore } from '#shared/stores/dynamodb/connection-store';
import { DynamoTokenRegistry } from '#shared/stores/dynamodb/token-registry';
import { DynamoWorkflowConfigurationStore } from '#shared/stores/dynamodb/workflow-configuration-store';
import type { SecretStore } from '#shared/stores/secret-store';
import { DeferredSecretStore } from '#shared/stores/secrets/deferred-secret-store';
import type { Adapters } from './adapters';

type Resolved = Required<Adapters>;

/** Where the stores write the audit items of the changes an operator makes: the State table, dated by the root's clock. */
export function auditWritesOf(config: ServiceConfig, a: Resolved): AuditWrites {
  return { table: config.stateTable, now: () => a.clock.now() };
}

/** The shared circuit breaker over the State table, with its store (for operator reads and resets). */
export function circuitsOf(config: ServiceConfig, a: Resolved, instanceId: string): { circuits: CircuitBreaker; circuitStore: DynamoCircuitStore } {
  const circuitStore = new DynamoCircuitStore({ tableName: config.stateTable, client: a.dynamodb, audit: auditWritesOf(config, a) });
  const circuits = new CircuitBreaker({ store: circuitStore, clock: a.clock, instanceId, cacheTtlMs: config.circuitCacheTtlMs, failOpen: config.circuitFailOpen, onEvent: a.onCircuitEvent });
  return { circuits, circuitStore };
}

/** The secret store on Secrets Manager, its adapter and client loaded on the first secret read or write. */
export function secretStoreOf(secretsManager: Adapters['secretsManager']): SecretStore {
  return new DeferredSecretStore(async () => {
    const [{ SecretsManagerSecretStore }, client] = await Promise.all([import('#shared/stores/secrets/secrets-manager-store'), secretsManager()]);
    return new SecretsManagerSecretStore({ client });
  });
}

/** Secrets Manager, the deployment's secret names, and the OAuth2 token provider over the State table's token records. */
export function tokensOf(config: ServiceConfig, a: Resolved, instanceId: string): { secrets: SecretStore; names: SecretNames; tokenRegistry: DynamoTokenRegistry; tokens: TokenProvider } {
  const secrets = secretStoreOf(a.secretsManager);
  const names = new SecretNames(config.secretPrefix);
  const tokenRegistry = new DynamoTokenRegistry({ tableName: config.stateTable, client: a.dynamodb });
  const tokens = new TokenProvider({ registry: tokenRegistry, secrets, names, http: a.http, clock: a.clock, instanceId, onEvent: a.onTokenEvent });
  return { secrets, names, tokenRegistry, tokens };
}

/** The connection store and a reader of it cached for `flowCacheTtlMs`. */
export function connectionsOf(config: ServiceConfig, a: Resolved): { connectionStore: DynamoConnectionStore; connections: CachedReader<NonNullable<Awaited<ReturnType<DynamoConnectionStore['getConnection']>>>> } {
  const connectionStore = new DynamoConnectionStore({ tableName: config.definitionsTable, client: a.dynamodb, audit: auditWritesOf(config, a) });
  return { connectionStore, connections: new CachedReader((name) => connectionStore.getConnection(name), a.clock, config.flowCacheTtlMs) };
}

/** The workflow configuration store and a reader of it cached for `flowCacheTtlMs`. */
export function workflowConfigurationsOf(config: ServiceConfig, a: Resolved): { store: DynamoWorkflowConfigurationStore; reader: CachedReader<NonNullable<Awaited<ReturnType<DynamoWorkflowConfigurationStore['get']>>>> } {
  const store = new DynamoWorkflowConfigurationStore({ tableName: config.definitionsTable, client: a.dynamodb, audit: auditWritesOf(config, a) });
  return { store, reader: new CachedReader((id) => store.get(id), a.clock, config.flowCacheTtlMs) };
}
