/**
 * The secret store port (docs/architecture.md, "Layers" and "Step services"): connections keep
 * their credentials as a secret whose value is a JSON object of strings (`{ "apiKey": "..." }`).
 * The engine sees this interface only; the adapter on AWS Secrets Manager is
 * `secrets/secrets-manager-store.ts`.
 *
 * Values never appear in errors, logs or {@link SecretStore.describe}: only secret ids and keys do.
 */
import { IvrflowError } from '../errors';

/** A secret's value: key → string. */
export type SecretJson = Record<string, string>;

/** What {@link SecretStore.describe} tells about a secret: its keys, never their values. */
export interface SecretDescription {
  secretId: string;
  /** The keys set in the value, sorted. */
  keys: string[];
}

/** Secrets whose values are JSON objects of strings, by secret id (full secret name). */
export interface SecretStore {
  /**
   * The secret's value; undefined when the secret does not exist (or is scheduled for deletion).
   * Cached for a bounded age (the adapter's `maxAge`); a write through this store invalidates its
   * cache for that secret, a write elsewhere is seen once the cached value expires.
   * @param options.fresh read the current value, bypassing the cache (for values that change often, like a cached access token)
   * @throws SecretStoreError when the value is not a JSON object of strings, or the store fails
   */
  getSecretJson(secretId: string, options?: { fresh?: boolean }): Promise<SecretJson | undefined>;
  /**
   * Creates the secret with this value, or stores the value as its new current version.
   * @throws SecretStoreError when `value` is not an object of strings, or the store refuses it
   */
  putSecretJson(secretId: string, value: SecretJson): Promise<void>;
  /** Deletes the secret. @returns false when it did not exist. @throws SecretStoreError */
  deleteSecret(secretId: string): Promise<boolean>;
  /** Which keys the secret's value sets (read fresh, never from the cache); undefined when it does not exist. @throws SecretStoreError */
  describe(secretId: string): Promise<SecretDescription | undefined>;
}

/** Why a {@link SecretStoreError} was raised. */
export type SecretStoreErrorReason = 'NOT_JSON_OBJECT' | 'BINARY_VALUE' | 'STORE_FAILED';

/**
 * A secret could not be read or written: its value is not a JSON object of strings, or the store
 * failed. The message names the secret (and a key at most), never a value; `cause` keeps the
 * store's own error when there is one.
 */
export class SecretStoreError extends IvrflowError {
  readonly secretId: string;
  readonly reason: SecretStoreErrorReason;
  constructor(secretId: string, reason: SecretStoreErrorReason, message: string, options: { cause?: unknown } = {}) {
    super('SECRET_STORE_ERROR', message, { details: { secretId, reason }, ...options });
    this.name = 'SecretStoreError';
    this.secretId = secretId;
    this.reason = reason;
  }
}

/**
 * Checks that `value` is a plain object whose values are all strings and returns a copy.
 * @throws SecretStoreError (`NOT_JSON_OBJECT`) naming the secret and, at most, the offending key
 */
export function toSecretJson(secretId: string, value: unknown): SecretJson {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SecretStoreError(secretId, 'NOT_JSON_OBJECT', `secret "${secretId}" is not a JSON object of strings`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const bad = entries.find(([, v]) => typeof v !== 'string');
  if (bad) throw new SecretStoreError(secretId, 'NOT_JSON_OBJECT', `secret "${secretId}" is not a JSON object of strings: the value of key "${bad[0]}" is a ${bad[1] === null ? 'null' : Array.isArray(bad[1]) ? 'list' : typeof bad[1]}`);
  // Object.fromEntries defines own properties: a "__proto__" key stays a plain key.
  return Object.fromEntries(entries as [string, string][]);
}
