/**
 * Callbacks of async backends (docs/architecture.md, "Async backends and webhooks"):
 * `POST /callbacks/{token}` delivers the result a backend promised when it answered 202 Accepted,
 * and the waiting execution continues with it.
 *
 * In order: a body over 256 KiB is refused (413); a token that names no wait is 404; when the
 * wait's connection has a webhook signing secret, the Standard Webhooks headers (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`; HMAC-SHA256 over `id.timestamp.body`, timestamps
 * within 5 minutes, constant-time compare; the `standardwebhooks` package) must verify on the raw
 * body (401 otherwise); the body must be JSON (400). Then: a wait already resumed by a callback is
 * a duplicate delivery, acknowledged (200) and ignored, whether the first delivery has finished or
 * is still running (senders retry on anything else); a wait past its deadline, or already timed
 * out, is 410; otherwise the execution is claimed (one conditional write: of racing deliveries and
 * the timeout exactly one wins) and continued to its end or its next wait (200). Nothing changes
 * for a refused callback. A callback that arrives while its execution is still running towards the
 * wait (a backend that calls back before its 202 is handled) is verified and kept (the wait was
 * registered before the request was sent), and the execution continues with it as soon as it
 * suspends; only when it cannot be kept is it 409 `CALLBACK_NOT_READY`, to be retried; if the
 * continuation fails after the claim, the execution ends FAILED (`ENGINE_ERROR`) and a repeat of
 * the callback is acknowledged as a duplicate (it will not run again).
 */
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { parseCallbackToken } from '../callbacks/callback-token';
import type { Clock } from '../clock';
import type { ConnectionReader } from '../connections/auth';
import type { SecretNames } from '../connections/secret-names';
import { BadRequestError, ConflictError, GoneError, NotFoundError, PayloadTooLargeError, UnauthorizedError } from '../errors';
import { parseUntrustedJson, UnsafeJsonError } from '../json';
import type { StateStore } from '../stores/ports';
import type { SecretStore } from '../stores/secret-store';
import type { ExecutionService } from './execution-service';
import { logger } from '../observability';
import { MAX_BODY_BYTES } from './http';

/** What the callback service is built from: the execution service it continues executions with, the State table, the connections a wait names, the secret store and names (where a connection's webhook signing secret is), and the clock. */
export interface CallbackServiceProps {
  executions: ExecutionService;
  state: StateStore;
  connections: ConnectionReader;
  secrets: SecretStore;
  names: SecretNames;
  clock: Clock;
}

/** The answer to a delivered callback. */
export interface CallbackAnswer {
  /**
   * `resumed`: this delivery continued the execution; `accepted`: it came before the execution
   * suspended and is kept (the execution continues with it as soon as it suspends); `duplicate`:
   * an earlier delivery of this callback did either.
   */
  status: 'resumed' | 'accepted' | 'duplicate';
  executionId: string;
  /** The execution's status after this delivery (resumed only). */
  executionStatus?: string;
}

/** Delivers the callbacks of async backends to their waiting executions: `POST /callbacks/{token}`, checked in the order of the module's header. */
export class CallbackService {
  constructor(private readonly props: CallbackServiceProps) {}

  /**
   * Delivers a callback.
   * @param token the `{token}` path segment
   * @param rawBody the body exactly as received (the signature covers these bytes)
   * @param headers the request's headers (any case)
   * @throws PayloadTooLargeError (413), NotFoundError `NOT_FOUND` (404), ConflictError
   *   `CALLBACK_NOT_READY` (409, retry: the execution is running and has not stored this wait yet),
   *   UnauthorizedError `INVALID_SIGNATURE` (401), BadRequestError `INVALID_JSON`/`UNSAFE_JSON`
   *   (400), GoneError `CALLBACK_TOO_LATE` (410)
   */
  async deliver(token: string, rawBody: string, headers: Readonly<Record<string, string | undefined>>): Promise<CallbackAnswer> {
    if (Buffer.byteLength(rawBody) > MAX_BODY_BYTES) throw new PayloadTooLargeError(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    const unknown = () => new NotFoundError('no callback is expected for this token');
    const parsed = parseCallbackToken(token);
    if (!parsed) throw unknown();
    const { executionId, waitId } = parsed;
    const notReady = () => new ConflictError('CALLBACK_NOT_READY', 'the execution is still running and not yet waiting for this callback; retry in a moment');
    const view = await this.props.state.getWait(executionId, waitId);
    if (!view) throw unknown();
    if (view.state === 'pending') throw notReady();
    if (view.connection !== undefined) await verifyCallbackSignature(this.props, view.connection, rawBody, headers);
    const payload = parseCallbackBody(rawBody);

    const tooLate = (until?: number) => new GoneError('CALLBACK_TOO_LATE', until === undefined ? 'this wait has already timed out' : `this wait timed out at ${new Date(until).toISOString()}`);
    if (view.state === 'settled') {
      if (view.by === 'timeout') throw tooLate();
      return { status: 'duplicate', executionId };
    }
    if (this.props.clock.now() >= view.until) throw tooLate(view.until);
    if (view.state === 'registered') {
      // Before the execution suspended (a backend faster than its own 202): kept, and applied as soon as it suspends.
      if (view.received) return { status: 'duplicate', executionId };
      const early = await this.props.state.storeEarlyCallback(executionId, waitId, payload).catch(() => {
        throw notReady();
      });
      if (early === 'stored') return { status: 'accepted', executionId };
      if (early === 'duplicate') return { status: 'duplicate', executionId };
      // It suspended meanwhile: resume it the usual way.
    }
    const outcome = await this.props.executions.continueWait(executionId, { waitId, payload });
    if (outcome.resumed) return { status: 'resumed', executionId, executionStatus: outcome.result.status };
    if (outcome.settledBy === 'payload') return { status: 'duplicate', executionId };
    if (outcome.status === undefined) throw unknown();
    throw tooLate(outcome.waitUntil);
  }
}

/**
 * Checks a callback's Standard Webhooks signature when the wait's connection has a signing secret
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature` over the raw body; the `standardwebhooks`
 * package). Also used by flow tests, so a signed test callback goes through the same check.
 * @throws UnauthorizedError `INVALID_SIGNATURE` when it does not verify, or when the connection is gone (nothing to verify with)
 */
export async function verifyCallbackSignature(from: Pick<CallbackServiceProps, 'connections' | 'secrets' | 'names'>, connectionName: string, rawBody: string, headers: Readonly<Record<string, string | undefined>>): Promise<void> {
  const connection = await from.connections.get(connectionName);
  // The sender learns only that verification failed; the reasons that are ours are logged.
  const cannotVerify = (why: string) => {
    logger.warn('callback cannot be verified', { connection: connectionName, why });
    return new UnauthorizedError('INVALID_SIGNATURE', 'the callback cannot be verified');
  };
  if (!connection) throw cannotVerify('the connection no longer exists');
  if (!connection.secretsSet.includes('webhookSigningSecret')) return;
  const secret = (await from.secrets.getSecretJson(from.names.connection(connectionName)))?.['webhookSigningSecret'];
  if (secret === undefined) throw cannotVerify('its webhook signing secret cannot be read');
  let webhook: Webhook;
  try {
    webhook = new Webhook(secret);
  } catch {
    throw cannotVerify('its webhook signing secret is not a Standard Webhooks secret (whsec_ + base64)');
  }
  const signed: Record<string, string> = {};
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    const value = Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    if (value !== undefined) signed[name] = value;
  }
  try {
    webhook.verify(rawBody, signed, { jsonParse: false });
  } catch (err) {
    if (err instanceof WebhookVerificationError) throw new UnauthorizedError('INVALID_SIGNATURE', `the webhook signature does not verify: ${err.message}`);
    throw err;
  }
}

/** The callback body as JSON. @throws BadRequestError `INVALID_JSON`/`UNSAFE_JSON` */
export function parseCallbackBody(rawBody: string): unknown {
  if (rawBody.trim() === '') throw new BadRequestError('INVALID_JSON', 'the callback body must be JSON; it is empty');
  try {
    return parseUntrustedJson(rawBody);
  } catch (err) {
    if (err instanceof UnsafeJsonError) throw new BadRequestError('UNSAFE_JSON', `the body is refused: ${err.message}`);
    throw new BadRequestError('INVALID_JSON', `the callback body is not valid JSON: ${(err as Error).message}`);
  }
}
