/**
 * The one way a step calls a backend (docs/architecture.md, "Resilience"): authentication →
 * circuit breaker → attempt → classify → retry. `HTTPRequest` and `IntegrationHubExecute` both
 * call {@link callBackend}, so the retry, breaker and 401 rules live here only:
 *
 * - the call ends by the step's call deadline (the run's deadline less the flow's finish reserve,
 *   docs/architecture.md, "The deadline is the caller's"): the first attempt's timeout is clipped
 *   to it, and with less than 50 ms left the call fails at once (`deadline`, no request sent);
 * - with a breaker, the call asks the shared breaker once: an open circuit answers `circuit_open`
 *   with no network call; the call's outcome is recorded once, whatever its attempts (5xx,
 *   timeouts and connection errors count as a failure, 4xx never); a half-open probe makes one
 *   attempt, under a lease of its timeout + 1 s;
 * - every attempt first gets its credential headers (a failure to get one ends the call `auth`);
 * - a 401 to a credential that can be renewed (an OAuth2 token) renews it and sends the request
 *   once more, in the same attempt; a second 401 ends the call `auth`;
 * - retries follow the step's retry policy (full-jitter backoff), only for idempotent methods or a
 *   request carrying an `Idempotency-Key`, and a retry starts only when its backoff and its whole
 *   timeout fit before the call deadline (never because the backoff alone fits).
 */
import { createHash, hash } from 'node:crypto';
import * as z from 'zod';
import { isFlowFailure, IvrflowError } from '../errors';
import { countsForBreaker, type FailureType } from '../flow/failures';
import { renderText } from '../expressions/template';
import type { Admission, CircuitState } from '../resilience/circuit-breaker';
import { backoffDelayMs, isRetryableRequest, type RetryPolicy } from '../resilience/retry';
import { circuitsService, httpService } from '../services';
import { Template } from '../steps/common';
import { MIN_CALL_MS } from '../budgets';
import type { StepContext, TraceEntry } from '../steps/types';
import type { HttpResponse } from './client';

/** A step's `circuitBreaker` setting: the circuit key template, the consecutive failed calls that open it and its cooldown (ms). */
export const CircuitBreakerConfig = z.lazy(() =>
  z
    .object({
      key: Template.optional().describe('Circuit key template; default: method + host + path template of the URL'),
      failureThreshold: z.number().int().min(1).max(100).default(3).describe('Consecutive failures (5xx, timeouts, connection errors) that open the circuit'),
      cooldownMs: z.number().int().min(100).max(3_600_000).default(30000).describe('How long the circuit stays open before one probe, ms'),
    })
    .strict(),
);
/** A step's `circuitBreaker` setting, defaults applied. */
export type CircuitBreakerConfig = z.infer<typeof CircuitBreakerConfig>;

/** The failures a call can end with: the taxonomy's (shared/flow/failures.ts) that come from sending a request. */
export type CallFailureType = Extract<FailureType, 'timeout' | 'deadline' | 'connection' | 'dns' | 'http_3xx' | 'http_4xx' | 'auth' | 'throttled' | 'http_5xx' | 'circuit_open' | 'invalid_request'>;

/**
 * A `Retry-After` header as a delay, ms (RFC 9110 §10.2.3: delay-seconds or an HTTP-date);
 * undefined when absent or not one of those.
 */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date names its day and month ("Thu, 03 Dec 2026 12:00:05 GMT"); a bare "-1" is neither form.
  const at = /[A-Za-z]/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Headers whose values are credentials whatever a flow or connection says (redacted like authentication values). */
export const SECRET_HEADERS = /^(authorization|proxy-authorization|x-api-key|api-key|x-auth-token)$/i;

/** A request ready to send (credential headers are added per attempt). */
export interface PreparedRequest {
  url: URL;
  /** The path with every part that came from a value written `{}` (for the default circuit key). */
  pathShape: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** How a call authenticates. */
export interface CallAuth {
  /**
   * The credential headers of the next attempt (lower-case names). Registers every value it returns
   * with `ctx.markSecret`.
   * @throws IvrflowError when no credential can be had (the call fails `auth`)
   */
  headers(ctx: StepContext): Promise<Record<string, string>>;
  /** The backend answered 401 to the last headers: forget that credential. @returns true when a new one can be had (then the request is sent once more) */
  rejected?(): boolean;
}

/** What {@link callBackend} sends and how: the prepared request, the per-attempt timeout (ms), the retry policy, and optionally the breaker and authentication. */
export interface CallOptions {
  request: PreparedRequest;
  /** Per-attempt timeout, ms (the first attempt's is clipped to the call deadline, `ctx.callDeadlineAt`). */
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  breaker?: CircuitBreakerConfig;
  auth?: CallAuth;
}

/** What a call adds to its step's trace entry: attempts made, the final status code and body hash, and the circuit when there is a breaker. */
export type CallTrace = Required<Pick<TraceEntry, 'attempts' | 'statusCode' | 'bodySha256'>> & Pick<TraceEntry, 'circuit'>;

/** How a call ended: its failure (none on a 2xx), the final status code (null without an answer), the final response and the trace. */
export interface CallOutcome {
  /** Absent on a 2xx answer. */
  failure?: { type: CallFailureType; message: string };
  statusCode: number | null;
  /** The final answer, when there was one. */
  response?: HttpResponse;
  trace: CallTrace;
}

/**
 * The default circuit key: method, the host actually requested and the path actually requested
 * with every part that came from a value replaced by `{}` (`GET crm.example.com/v2/accounts/{}`),
 * so `/v2/accounts/{{id}}` is one circuit and no value can move a call onto another path's circuit.
 */
export function defaultCircuitKey(method: string, url: URL, pathShape: string): string {
  return `${method} ${url.host}${pathShape}`;
}

/** Longest circuit key stored as is; a longer one keeps its start and a hash of the whole (a DynamoDB key is at most 1024 bytes). */
export const MAX_CIRCUIT_KEY_LENGTH = 256;

function boundedKey(key: string): string {
  if (Buffer.byteLength(key) <= MAX_CIRCUIT_KEY_LENGTH) return key;
  return `${key.slice(0, 128)}…#${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

function classify(status: number): CallFailureType | undefined {
  if (status >= 200 && status < 300) return undefined;
  if (status >= 500) return 'http_5xx';
  if (status === 401 || status === 403) return 'auth';
  if (status === 429) return 'throttled';
  return status >= 400 ? 'http_4xx' : 'http_3xx';
}

/**
 * Sends the request through the pipeline. Never throws for a backend, network, breaker or
 * credential outcome: those come back as `failure`. Throws only engine faults (and a flow failure
 * building the circuit key is `invalid_request`).
 */
export async function callBackend(ctx: StepContext, options: CallOptions): Promise<CallOutcome> {
  const { request, retryPolicy: policy, breaker, auth } = options;
  const http = ctx.services.get(httpService);
  const circuits = ctx.services.get(circuitsService);
  const noResponse = (attempts: number) => ({ attempts, statusCode: null, bodySha256: null });
  const deadlineLeft = () => ctx.callDeadlineAt - ctx.clock.now();
  const tooLate = (): CallOutcome => ({
    failure: { type: 'deadline', message: `${Math.max(0, deadlineLeft())} ms were left before the run's finish reserve; no request was sent` },
    statusCode: null,
    trace: noResponse(0),
  });
  if (deadlineLeft() < MIN_CALL_MS) return tooLate();

  let circuit: { key: string; state: CircuitState; transitions?: string[] } | undefined;
  let admission: Admission | undefined;
  if (breaker) {
    try {
      const key = breaker.key ? renderText(breaker.key, ctx.variables, ctx.functions) : defaultCircuitKey(request.method, request.url, request.pathShape);
      // Credentials never reach the shared circuit store or its logs.
      circuit = { key: boundedKey(ctx.redact(key)), state: 'CLOSED' };
    } catch (err) {
      if (isFlowFailure(err)) return { failure: { type: 'invalid_request', message: err.message }, statusCode: null, trace: noResponse(0) };
      throw err;
    }
    // The breaker's store may not eat the call's own time: it waits at most what is left above the shortest call.
    admission = await circuits.admit(circuit.key, { probeLeaseMs: Math.min(options.timeoutMs, deadlineLeft()) + 1000, waitMs: deadlineLeft() - MIN_CALL_MS });
    circuit.state = admission.state;
    if (!admission.allowed) return { failure: { type: 'circuit_open', message: `circuit '${circuit.key}' is ${admission.state}; no request was sent` }, statusCode: null, trace: { ...noResponse(0), circuit } };
    if (admission.probe) circuit.transitions = ['OPEN→HALF_OPEN'];
  }
  const allowed = admission?.allowed ? admission : undefined;
  /** The call's end: its one breaker record (nothing counted when no request reached the backend). */
  const end = async (outcome: CallOutcome, reached: boolean): Promise<CallOutcome> => {
    if (!circuit || !allowed) return outcome;
    if (!reached) await circuits.abandon(circuit.key, allowed);
    else {
      // Within the call deadline: a call that ended at it leaves the write to land on its own (reconciled), keeping the reserve for the fallback.
      const recorded = await circuits.record(circuit.key, allowed, countsForBreaker(outcome.failure?.type), breaker!, deadlineLeft());
      if (recorded.transition) {
        circuit.state = recorded.transition.to;
        circuit.transitions = [...(circuit.transitions ?? []), `${recorded.transition.from}→${recorded.transition.to}`];
      }
    }
    return { ...outcome, trace: { ...outcome.trace, circuit } };
  };
  const retryable = isRetryableRequest(request.method, request.headers);

  let attempts = 0;
  /** The last answer, when a renewed credential's resend or a retry comes next. */
  let last: CallOutcome | undefined;
  let renewed = false;
  for (;;) {
    const left = deadlineLeft();
    // Only a resend after a renewed credential can get here late (a retry starts only when it fits).
    if (left < MIN_CALL_MS) return end(last ?? tooLate(), last !== undefined);

    let credentials: Record<string, string> = {};
    if (auth) {
      try {
        credentials = await auth.headers(ctx);
      } catch (err) {
        if (!(err instanceof IvrflowError)) throw err;
        // After a 401 the backend was reached: the call ends `auth` with that answer's trace.
        return end({ failure: { type: 'auth', message: err.message }, statusCode: last ? 401 : null, trace: last ? last.trace : noResponse(attempts) }, last !== undefined);
      }
    }

    attempts++;
    const headers = auth ? { ...request.headers, ...credentials } : request.headers;
    const result = await http.send({ ...request, headers, timeoutMs: Math.min(options.timeoutMs, left) });
    let type: CallFailureType | undefined;
    let message: string;
    if (result.kind === 'response') {
      type = classify(result.status);
      message = `HTTP ${result.status}`;
    } else {
      type = result.kind === 'timeout' ? 'timeout' : result.kind === 'dns' ? 'dns' : result.kind === 'blocked' || result.kind === 'invalid' ? 'invalid_request' : 'connection';
      message = result.message;
    }
    const statusCode = result.kind === 'response' ? result.status : null;
    const outcome: CallOutcome = { statusCode, trace: { attempts, statusCode, bodySha256: result.kind === 'response' ? hash('sha256', result.body, 'hex') : null } };
    if (type !== undefined) outcome.failure = { type, message };
    if (result.kind === 'response') outcome.response = result;

    if (statusCode === 401 && !renewed && auth?.rejected?.()) {
      renewed = true;
      last = outcome;
      continue;
    }
    // A request that could not be sent never reached the backend: the breaker counts nothing.
    const reached = type !== 'invalid_request' || attempts > 1;

    // The resend after a renewed credential is not a retry of the policy; a half-open probe never retries.
    const tries = renewed ? attempts - 1 : attempts;
    const canRetry = type !== undefined && retryable && !allowed?.probe && tries <= policy.maxRetries && ((statusCode !== null && policy.retryOnStatusCodes.includes(statusCode)) || (type === 'timeout' && policy.retryOnTimeout));
    if (canRetry) {
      // A 429 says when to come back (RFC 6585 §4): never sooner than it asks.
      const asked = type === 'throttled' && result.kind === 'response' ? retryAfterMs(result.headers['retry-after'], ctx.clock.now()) : undefined;
      const delayMs = Math.max(backoffDelayMs(policy, tries - 1, ctx.randomness.random()), asked ?? 0);
      // A retry starts only if its backoff and its whole timeout fit before the call deadline, and not into a circuit another call opened meanwhile.
      if (ctx.clock.now() + delayMs + options.timeoutMs <= ctx.callDeadlineAt) {
        await ctx.clock.sleep(delayMs);
        if (circuit && circuits.knownOpen(circuit.key)) return end(outcome, true);
        last = outcome;
        continue;
      }
    }
    return end(outcome, reached);
  }
}
