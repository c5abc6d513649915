/**
 * The configuration of the functions that use the tables (every function but the basic
 * authorizer), read once from the environment the stack sets (infra/ivrflow-stack.ts).
 */
import { DEFAULT_SECRET_PREFIX } from '../connections/secret-names';
import { boolEnv, ENV, intEnv, requiredEnv } from './env';

/** The configuration of a function that uses the tables: table names, caches, the circuit breaker's fail-open, the secret prefix and the public URL. */
export interface ServiceConfig {
  definitionsTable: string;
  stateTable: string;
  /** Flows may call loopback and private hosts (local development only). */
  allowPrivateNetworks: boolean;
  /** TTL of the cached latest-version pointer (and of connections and workflow configurations), ms. */
  flowCacheTtlMs: number;
  /** TTL of the cached circuit state, ms. */
  circuitCacheTtlMs: number;
  /** Let calls through when the State table is unreachable. */
  circuitFailOpen: boolean;
  /** Prefix of every secret name. @default 'ivrflow/' */
  secretPrefix: string;
  /** The API's public base URL, for callback URLs (async HTTPRequest steps fail without it). */
  publicUrl?: string;
}

/** Reads {@link ServiceConfig} from the environment. @throws ConfigError naming a missing or malformed variable. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return {
    definitionsTable: requiredEnv(ENV.definitionsTable, env),
    stateTable: requiredEnv(ENV.stateTable, env),
    allowPrivateNetworks: boolEnv(ENV.allowPrivateNetworks, false, env),
    flowCacheTtlMs: intEnv(ENV.flowCacheTtlMs, 5000, { min: 0, max: 3_600_000 }, env),
    circuitCacheTtlMs: intEnv(ENV.circuitCacheTtlMs, 1000, { min: 0, max: 60_000 }, env),
    circuitFailOpen: boolEnv(ENV.circuitFailOpen, true, env),
    secretPrefix: env[ENV.secretPrefix] || DEFAULT_SECRET_PREFIX,
    ...(env[ENV.publicUrl] ? { publicUrl: env[ENV.publicUrl] } : {}),
  };
}
