/**
 * Path parameters checked at the edge, before a service sees them: an id DynamoDB would refuse
 * (too long for a key, or odd characters) is a 400 naming the parameter, never a 500.
 */
import { BadRequestError } from '../errors';
import { ConfigurationId, ConnectionName, FlowId } from '../ids';
import { AGENT_ID } from '../agents/agent-events';
import { pathParam, type ApiEvent } from './http';

/** How much of a refused value the error message echoes. */
const ECHO_LENGTH = 40;

/** The start of a refused value for a message: at most {@link ECHO_LENGTH} characters, control characters escaped. */
function echo(value: string): string {
  const chars = [...value];
  const head = chars
    .slice(0, ECHO_LENGTH)
    .join('')
    .replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return chars.length > ECHO_LENGTH ? `${head}…` : head;
}

function check(event: ApiEvent, name: string, rule: string, ok: (value: string) => boolean): string {
  const value = pathParam(event, name);
  if (!ok(value)) throw new BadRequestError('INVALID_PARAMETER', `${name} must be ${rule}; got '${echo(value)}'`);
  return value;
}

/** `{flowId}`: the flow id rule of the schema ({@link FlowId}: 1–128 of `A-Z a-z 0-9 _ . -`). @throws BadRequestError 400 INVALID_PARAMETER */
export function flowIdParam(event: ApiEvent): string {
  return check(event, 'flowId', '1–128 letters, digits, _ . or -', (v) => FlowId.safeParse(v).success);
}

/** Execution ids the engine creates are `randomUUID()` strings; this admits them and similar opaque ids. */
const EXECUTION_ID = /^[A-Za-z0-9_.:/-]{1,128}$/;

/** `{executionId}`: 1–128 of `A-Z a-z 0-9 _ . : / -`. @throws BadRequestError 400 INVALID_PARAMETER */
export function executionIdParam(event: ApiEvent): string {
  return check(event, 'executionId', '1–128 letters, digits, _ . : / or -', (v) => EXECUTION_ID.test(v));
}

/** The longest circuit key, UTF-8 bytes: a circuit record's key is its index sort key (DynamoDB limit 1024 bytes). */
export const MAX_CIRCUIT_KEY_BYTES = 1024;

/**
 * `{key}` of `/circuits/{key}` (URL-encoded by the caller): 1–1024 characters (and at most 1024
 * bytes of UTF-8), no control characters. @throws BadRequestError 400 INVALID_PARAMETER
 */
export function circuitKeyParam(event: ApiEvent): string {
  return check(event, 'key', `1–${MAX_CIRCUIT_KEY_BYTES} characters (at most ${MAX_CIRCUIT_KEY_BYTES} bytes of UTF-8) without control characters`, (v) => Buffer.byteLength(v) <= MAX_CIRCUIT_KEY_BYTES && !/[\p{Cc}\p{Cs}]/u.test(v));
}

/** `{name}` of `/connections/{name}`: 1–64 of `A-Z a-z 0-9 _ -` ({@link ConnectionName}). @throws BadRequestError 400 INVALID_PARAMETER */
export function connectionNameParam(event: ApiEvent): string {
  return check(event, 'name', '1–64 letters, digits, _ or -', (v) => ConnectionName.safeParse(v).success);
}

/** `{configurationId}`: 1–128 of `A-Z a-z 0-9 _ . -`. @throws BadRequestError 400 INVALID_PARAMETER */
export function configurationIdParam(event: ApiEvent): string {
  return check(event, 'configurationId', '1–128 letters, digits, _ . or -', (v) => ConfigurationId.safeParse(v).success);
}

/** `{agentId}`: 1–128 of `A-Z a-z 0-9 _ . : @ -`, starting with a letter or digit. @throws BadRequestError 400 INVALID_PARAMETER */
export function agentIdParam(event: ApiEvent): string {
  return check(event, 'agentId', '1–128 letters, digits, _ . : @ or -, starting with a letter or digit', (v) => AGENT_ID.test(v));
}
