/**
 * The AWS SDK clients of the stores, built with timeouts: a store that stops answering (a paused
 * or unreachable DynamoDB) must not hold a caller past its deadline (docs/architecture.md, "The
 * deadline is the caller's"). Every request has a connection timeout and a request timeout (the
 * SDK's `requestHandler` options, "AWS SDK for JavaScript v3 Developer Guide: Configuring
 * timeouts"), and at most two attempts; calls on an execution's path also pass an `abortSignal`
 * bound to its deadline (see {@link deadlineSignal}).
 *
 * DynamoDB errors that mean "the table cannot be reached now" (no connection, a timeout, an
 * abort, a 5xx, throttling) become {@link StoreUnavailableError} (`STATE_UNAVAILABLE`, 503 at the
 * edge) in one middleware, so no adapter tells them apart by hand; everything else (a failed
 * condition, a validation error) passes through unchanged.
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { StoreUnavailableError } from '../errors';

/** How long a store request may wait for its connection, ms. */
export const STORE_CONNECTION_TIMEOUT_MS = 1000;
/** How long a store request may take once sent, ms (a DynamoDB request takes a few ms). */
export const STORE_REQUEST_TIMEOUT_MS = 2000;
/** Attempts of one store request (the SDK's retries), so one call is bounded by about twice the timeouts. */
export const STORE_MAX_ATTEMPTS = 2;

const TIMEOUTS = { maxAttempts: STORE_MAX_ATTEMPTS, requestHandler: { connectionTimeout: STORE_CONNECTION_TIMEOUT_MS, requestTimeout: STORE_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true } } as const;

/** Names of SDK errors that mean the service cannot be reached or is overloaded now (retryable later). */
const UNAVAILABLE_NAMES = new Set([
  'AbortError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for an SDK error that says the service is unreachable or failing (not a refused request). */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof StoreUnavailableError) return true;
  const { code, $metadata } = err as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  return UNAVAILABLE_NAMES.has(err.name) || (code !== undefined && UNAVAILABLE_CODES.has(code)) || ($metadata?.httpStatusCode ?? 0) >= 500;
}

/** A DynamoDB client with the store timeouts and the {@link StoreUnavailableError} translation. */
export function dynamoDbClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient({ ...TIMEOUTS, ...config });
  translateUnavailable(client);
  return client;
}

/** A Secrets Manager client with the store timeouts. */
export function secretsManagerClient(config: SecretsManagerClientConfig = {}): SecretsManagerClient {
  return new SecretsManagerClient({ ...TIMEOUTS, ...config });
}

/**
 * Adds the translation to a client's middleware stack (once: the stack is shared with the
 * document clients built over it).
 */
export function translateUnavailable(client: { middlewareStack: DynamoDBClient['middlewareStack'] }): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!isUnavailable(err) || err instanceof StoreUnavailableError) throw err;
        throw new StoreUnavailableError(`DynamoDB ${String(context.commandName ?? 'request')} failed: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
      }
    },
    { step: 'initialize', name: 'ivrflowStoreUnavailable', override: true },
  );
}

/**
 * An abort signal that fires at `deadlineAt` (epoch ms, as `now()` tells), for a store call that
 * must end by an execution's deadline; at least `minMs` from now, so a call that is due is still tried.
 */
export function deadlineSignal(deadlineAt: number, now: number, minMs = 1): AbortSignal {
  return AbortSignal.timeout(Math.max(minMs, Math.floor(deadlineAt - now)));
}
