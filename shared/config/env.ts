/**
 * Configuration read once from the environment, failing fast with the variable's name
 * (Powertools `getStringFromEnv` style). No silent default for a required value.
 */
import { ConfigError } from '../errors';

/** The value of a required variable. @throws ConfigError naming the variable when it is missing or empty. */
export function requiredEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

/** An optional integer variable. @throws ConfigError when it is set but not an integer within [min, max]. */
export function intEnv(name: string, fallback: number, bounds: { min: number; max: number }, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < bounds.min || n > bounds.max) throw new ConfigError(`environment variable ${name} must be an integer in [${bounds.min}, ${bounds.max}], got '${raw}'`);
  return n;
}

/** An optional boolean variable (`true`/`false`). @throws ConfigError for any other value. */
export function boolEnv(name: string, fallback: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(`environment variable ${name} must be true or false, got '${raw}'`);
}

/** The function's Powertools service name (`POWERTOOLS_SERVICE_NAME`, set per function by the stack), `ivrflow` elsewhere. */
export function serviceName(env: NodeJS.ProcessEnv = process.env): string {
  return env['POWERTOOLS_SERVICE_NAME'] || 'ivrflow';
}

/** Names of the environment variables the functions read. */
export const ENV = {
  definitionsTable: 'IVRFLOW_DEFINITIONS_TABLE',
  stateTable: 'IVRFLOW_STATE_TABLE',
  /** `true` only in local development: lets flows call loopback and private hosts. */
  allowPrivateNetworks: 'IVRFLOW_ALLOW_PRIVATE_NETWORKS',
  /** TTL of the in-memory latest-version pointer cache, ms. */
  flowCacheTtlMs: 'IVRFLOW_FLOW_CACHE_TTL_MS',
  /** TTL of the in-memory circuit state cache, ms. */
  circuitCacheTtlMs: 'IVRFLOW_CIRCUIT_CACHE_TTL_MS',
  /** `false` makes the breaker refuse calls when the State table is unreachable (default: fail open). */
  circuitFailOpen: 'IVRFLOW_CIRCUIT_FAIL_OPEN',
  /** Prefix of every secret name (connections, tokens, flow-bound secrets); IAM grants are scoped to it. Default `ivrflow/`. */
  secretPrefix: 'IVRFLOW_SECRET_PREFIX',
  /** The API's public base URL (e.g. `https://abc.execute-api.eu-west-1.amazonaws.com`): callback URLs are built on it. */
  publicUrl: 'IVRFLOW_PUBLIC_URL',
  /** The basic-authorizer's secret of caller credentials (full name), `{ "username", "password" }`. */
  callerCredentialsSecret: 'IVRFLOW_CALLER_CREDENTIALS_SECRET',
} as const;
