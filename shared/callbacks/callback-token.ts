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

/** The callback endpoint. Default: `IVRFLOW_PUBLIC_URL`. */
export const callbackEndpointService = defineService<CallbackEndpoint>('callbackEndpoint', () => ({ baseUrl: process.env[ENV.publicUrl] || undefined }));

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
