/**
 * Callback tokens (docs/architecture.md, "Async backends and webhooks"): the last segment of a
 * callback URL, `<base>/callbacks/<token>`, handed to a backend that answered 202 Accepted so that
 * it can deliver its result later. A token is `<execution id, base64url>.<256 random bits,
 * base64url>`; only its SHA-256 is stored (it is the wait's id), so a stolen table cannot forge a
 * callback, and a guessed token finds nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ENV } from '../config/env';
import { ConfigError } from '../errors';
import { defineService } from '../services';

/** Where callbacks reach this deployment: the API's public base URL. */
export interface CallbackEndpoint {
  /** e.g. `https://abc.execute-api.eu-west-1.amazonaws.com` or `http://127.0.0.1:3000`; undefined when not configured. */
  baseUrl: string | undefined;
}

/** The callback endpoint. Default: none (async steps then fail with a ConfigError); the functions provide `IVRFLOW_PUBLIC_URL`. */
export const callbackEndpointService = defineService<CallbackEndpoint>('callbackEndpoint', () => ({ baseUrl: undefined }));

/** The wait id of a token: its SHA-256, hex. */
export function waitIdOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token for a wait of `executionId` (the root execution), with its wait id and URL. @throws ConfigError when the public URL is not configured */
export function newCallback(endpoint: CallbackEndpoint, executionId: string): { token: string; waitId: string; url: string } {
  if (!endpoint.baseUrl) throw new ConfigError(`environment variable ${ENV.publicUrl} is required for async HTTPRequest steps (callback URLs are built on it)`);
  const token = `${Buffer.from(executionId).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  return { token, waitId: waitIdOf(token), url: `${endpoint.baseUrl.replace(/\/+$/, '')}/callbacks/${token}` };
}

/** The execution and wait a token names; undefined for anything that is not a token's shape. */
export function parseCallbackToken(token: string): { executionId: string; waitId: string } | undefined {
  const match = /^([A-Za-z0-9_-]{1,400})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return undefined;
  const executionId = Buffer.from(match[1]!, 'base64url').toString('utf8');
  if (!/^[\x21-\x7e]{1,256}$/.test(executionId)) return undefined;
  return { executionId, waitId: waitIdOf(token) };
}

/**
 * Where an async step registers its wait before it sends its request (the wait's id, deadline and
 * signing connection), so a callback that comes before the execution suspends is kept and applied
 * as soon as it does (docs/architecture.md, "Async backends and webhooks").
 */
export interface WaitRegistry {
  /** @throws when the wait cannot be registered (the step goes on: such a callback is then asked to retry) */
  register(executionId: string, waitId: string, wait: { until: number; connection?: string }): Promise<void>;
}

/** The wait registry. Default: none (an in-process run, where no callback can come early); the functions provide the State table's. */
export const waitRegistryService = defineService<WaitRegistry>('waitRegistry', () => ({ register: () => Promise.resolve() }));
