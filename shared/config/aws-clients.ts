/**
 * The AWS SDK clients of the stores, built by the composition roots only (each function's handler,
 * the CLI, the local stack), never by an adapter: a store that stops answering (a paused or
 * unreachable DynamoDB) must not hold a caller past its deadline (docs/architecture.md, "The
 * deadline is the caller's"). Every request has a connection timeout and a request timeout (the
 * SDK's `requestHandler` options, "AWS SDK for JavaScript v3 Developer Guide: Configuring
 * timeouts"), and at most two attempts; calls on an execution's path also pass an `abortSignal`
 * bound to its deadline. Region, credentials and endpoints come from the SDK's own configuration
 * chain (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, ...).
 */
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { translateUnavailable } from '../stores/aws-clients';

/** How long a store request may wait for its connection, ms. */
export const STORE_CONNECTION_TIMEOUT_MS = 1000;
/** How long a store request may take once sent, ms (a DynamoDB request takes a few ms). */
export const STORE_REQUEST_TIMEOUT_MS = 2000;
/** Attempts of one store request (the SDK's retries), so one call is bounded by about twice the timeouts. */
export const STORE_MAX_ATTEMPTS = 2;

/** The store timeouts and attempts, as SDK client options (the Secrets Manager client takes the same, shared/config/secrets-manager-client.ts). */
export const STORE_CLIENT_OPTIONS = { maxAttempts: STORE_MAX_ATTEMPTS, requestHandler: { connectionTimeout: STORE_CONNECTION_TIMEOUT_MS, requestTimeout: STORE_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true } } as const;

/** A DynamoDB client with the store timeouts and the {@link StoreUnavailableError} translation. */
export function dynamoDbClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient({ ...STORE_CLIENT_OPTIONS, ...config });
  translateUnavailable(client);
  return client;
}
