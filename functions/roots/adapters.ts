/**
 * What every composition root is built from: the SDK clients and the process-level adapters
 * (HTTP, time, randomness, event sinks). A deployed function builds them from its environment
 * ({@link fromEnvironment}); the local stack and tests pass their own (local endpoints, a counting
 * client, a fake clock). Building a root never reads `process.env` itself.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock, systemRandomness, type Clock, type Randomness } from '#shared/clock';
import { dynamoDbClient } from '#shared/config/aws-clients';
import { configFromEnv, type ServiceConfig } from '#shared/config/runtime';
import type { TokenEvent } from '#shared/connections/token-provider';
import { NodeHttpClient, type HttpClient } from '#shared/http/client';
import { reportCircuitEvent, reportExecutionEnded, reportTokenEvent } from '#shared/observability';
import type { ExecutionResult } from '#shared/steps/types';
import type { CircuitEvent } from '#shared/resilience/circuit-breaker';

/** The SDK clients and process-level adapters a composition root is built from; those left out take the defaults of {@link resolved}. */
export interface Adapters {
  dynamodb: DynamoDBClient;
  /** The Secrets Manager client, built (and its SDK package loaded) on the first call; called again, the same client. */
  secretsManager: () => Promise<SecretsManagerClient>;
  /** @default a NodeHttpClient with the config's network policy */
  http?: HttpClient;
  clock?: Clock;
  randomness?: Randomness;
  onCircuitEvent?: (event: CircuitEvent) => void;
  onTokenEvent?: (event: TokenEvent) => void;
  /** Called once per ended execution (the lifecycle's `onEnded`). @default its metrics and audit lines (`reportExecutionEnded`) */
  onExecutionEnded?: (result: ExecutionResult) => void;
}

/** The adapters with their defaults filled in. */
export function resolved(config: ServiceConfig, adapters: Adapters): Required<Adapters> {
  return {
    http: new NodeHttpClient({ allowPrivateNetworks: config.allowPrivateNetworks }),
    clock: systemClock,
    randomness: systemRandomness,
    onCircuitEvent: reportCircuitEvent,
    onTokenEvent: reportTokenEvent,
    onExecutionEnded: reportExecutionEnded,
    ...adapters,
  };
}

/** Builds a value on first use and keeps it (a handler module is loaded before its first invocation, and by the local stack with no environment). */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}

/**
 * A deployed function's root: its configuration from the environment, the AWS SDK clients with the
 * store timeouts; built on first use. The Secrets Manager client (and `@aws-sdk/client-secrets-manager`)
 * only once a secret is first read or written.
 */
export function fromEnvironment<T>(build: (config: ServiceConfig, adapters: Adapters) => T): () => T {
  const secretsManager = lazy(() => import('#shared/config/secrets-manager-client').then((m) => m.secretsManagerClient()));
  return lazy(() => build(configFromEnv(), { dynamodb: dynamoDbClient(), secretsManager }));
}
