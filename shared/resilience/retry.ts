/**
 * Retry policy (docs/architecture.md, "Resilience"; full jitter as in "Exponential Backoff and
 * Jitter", AWS Architecture Blog): data validated when the flow loads (Temporal `RetryPolicy`
 * style), and the backoff it implies.
 */
import * as z from 'zod';

/** A step's retry policy: retries after the first attempt (0–5), the backoff, the status codes and timeouts that are retried, and the delays (ms). */
export const RetryPolicy = z.lazy(() =>
  z
    .object({
      maxRetries: z.number().int().min(0).max(5).default(0).describe('Retries after the first attempt (0–5)'),
      backoff: z.enum(['exponential', 'fixed']).default('exponential'),
      retryOnStatusCodes: z.array(z.number().int().min(100).max(599)).max(20).default([502, 503, 504]),
      retryOnTimeout: z.boolean().default(true).describe('Retry when an attempt times out'),
      initialDelayMs: z.number().int().min(0).max(10000).default(100).describe('Base delay, ms'),
      maxDelayMs: z.number().int().min(0).max(30000).default(1000).describe('Cap of one delay, ms'),
    })
    .strict(),
);
/** A retry policy, defaults applied. */
export type RetryPolicy = z.infer<typeof RetryPolicy>;

/** HTTP methods that are idempotent by definition (RFC 9110 §9.2.2) and so safe to retry. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * Whether a request may be retried at all: an idempotent method (RFC 9110 §9.2.2), or any method
 * carrying an `Idempotency-Key` header (IETF draft "The Idempotency-Key HTTP Header Field").
 * @param headers the request's headers; names compared case-insensitively
 */
export function isRetryableRequest(method: string, headers: Readonly<Record<string, unknown>>): boolean {
  return IDEMPOTENT_METHODS.has(method) || Object.keys(headers).some((name) => name.toLowerCase() === 'idempotency-key');
}

/**
 * Delay before retry number `retry` (0-based), in ms.
 * Exponential uses "full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * uniform in [0, min(maxDelayMs, initialDelayMs × 2^retry)). Fixed is `initialDelayMs`.
 * @param random uniform in [0, 1)
 */
export function backoffDelayMs(policy: Pick<RetryPolicy, 'backoff' | 'initialDelayMs' | 'maxDelayMs'>, retry: number, random: number): number {
  if (policy.backoff === 'fixed') return Math.min(policy.initialDelayMs, policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** retry);
  return Math.floor(random * ceiling);
}
