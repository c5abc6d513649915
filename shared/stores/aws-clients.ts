/**
 * What the stores make of AWS SDK errors (the clients themselves are built by the composition
 * roots, shared/config/aws-clients.ts). DynamoDB errors that mean "the table cannot be reached now" (no connection, a timeout, an
 * abort, a 5xx, throttling) become {@link StoreUnavailableError} (`STATE_UNAVAILABLE`, 503 at the
 * edge) in one middleware, so no adapter tells them apart by hand; everything else (a failed
 * condition, a validation error) passes through unchanged.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StoreUnavailableError } from '../errors';

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
