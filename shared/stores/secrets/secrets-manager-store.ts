/**
 * {@link SecretStore} on AWS Secrets Manager ("AWS Secrets Manager API Reference").
 *
 * Reads go through Powertools Parameters' `SecretsProvider`, which caches each value for `maxAge`
 * seconds in this instance (so a warm Lambda makes no request for a secret it read recently).
 * Writes go through the SDK client: `CreateSecret`, or `PutSecretValue` when the secret exists
 * (`ResourceExistsException`). A write or delete through this store marks the secret stale: the next
 * read passes `forceFetch` (the provider has no per-key invalidation; its `clearCache()` drops
 * every secret). A write from elsewhere (another Lambda instance) is seen once `maxAge` has passed.
 *
 * The client is the composition root's (shared/config/aws-clients.ts): this adapter never builds one.
 */
import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterError } from '@aws-lambda-powertools/parameters';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretStoreError, toSecretJson, type SecretDescription, type SecretJson, type SecretStore } from '../secret-store';

/** How long a read value is reused, seconds. */
export const DEFAULT_SECRET_MAX_AGE_SECONDS = 300;

/** Options of {@link SecretsManagerSecretStore}. */
export interface SecretsManagerStoreOptions {
  /** The client for every request (reads included). */
  client: SecretsManagerClient;
  /** How long a value read is reused, seconds; 0 disables the cache. @default 300 */
  maxAgeSeconds?: number;
  /**
   * Days a deleted secret stays recoverable (7..30). When absent, {@link SecretStore.deleteSecret}
   * deletes without recovery, so the same secret id can be created again at once.
   */
  recoveryWindowInDays?: number;
}

/** The AWS error name of an SDK error (or of the SDK error a Powertools error wraps). */
function awsErrorName(err: unknown): string | undefined {
  const inner = err instanceof GetParameterError && err.cause !== undefined ? err.cause : err;
  return inner instanceof Error ? inner.name : undefined;
}

/** A secret scheduled for deletion answers InvalidRequestException ("...marked for deletion"): it is gone for readers. */
function isGone(err: unknown): boolean {
  const name = awsErrorName(err);
  if (name === 'ResourceNotFoundException') return true;
  const inner = err instanceof GetParameterError && err.cause !== undefined ? err.cause : err;
  return name === 'InvalidRequestException' && inner instanceof Error && /marked for deletion/i.test(inner.message);
}

function storeFailed(secretId: string, action: string, err: unknown): SecretStoreError {
  return new SecretStoreError(secretId, 'STORE_FAILED', `could not ${action} secret "${secretId}": ${awsErrorName(err) ?? 'unknown error'}`, { cause: err });
}

/** Secrets in AWS Secrets Manager: reads cached for `maxAgeSeconds` (Powertools Parameters), writes and deletes through the SDK client. */
export class SecretsManagerSecretStore implements SecretStore {
  private readonly client: SecretsManagerClient;
  private readonly provider: SecretsProvider;
  private readonly maxAge: number;
  private readonly recoveryWindowInDays: number | undefined;
  /**
   * Secrets written or deleted through this store since their value was last fetched, with a count
   * of those writes: a read bypasses the cache while the secret is here, and removes it only if no
   * write came during that read (so concurrent readers and writers never bring back an old value).
   */
  private readonly stale = new Map<string, number>();

  constructor(options: SecretsManagerStoreOptions) {
    this.client = options.client;
    this.provider = new SecretsProvider({ awsSdkV3Client: this.client });
    this.maxAge = options.maxAgeSeconds ?? DEFAULT_SECRET_MAX_AGE_SECONDS;
    this.recoveryWindowInDays = options.recoveryWindowInDays;
  }

  async getSecretJson(secretId: string, options: { fresh?: boolean } = {}): Promise<SecretJson | undefined> {
    return this.read(secretId, options.fresh === true || this.stale.has(secretId));
  }

  async putSecretJson(secretId: string, value: SecretJson): Promise<void> {
    const text = JSON.stringify(toSecretJson(secretId, value));
    try {
      // A name cannot contain ':', so an ARN always names an existing secret.
      if (!secretId.startsWith('arn:')) {
        try {
          await this.client.send(new CreateSecretCommand({ Name: secretId, SecretString: text }));
          return;
        } catch (err) {
          if (awsErrorName(err) !== 'ResourceExistsException') throw err;
        }
      }
      await this.client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: text }));
    } catch (err) {
      throw storeFailed(secretId, 'write', err);
    } finally {
      // Even a failed write may have changed the value.
      this.markStale(secretId);
    }
  }

  async deleteSecret(secretId: string): Promise<boolean> {
    try {
      await this.client.send(new DeleteSecretCommand(this.recoveryWindowInDays === undefined ? { SecretId: secretId, ForceDeleteWithoutRecovery: true } : { SecretId: secretId, RecoveryWindowInDays: this.recoveryWindowInDays }));
      return true;
    } catch (err) {
      if (isGone(err)) return false;
      throw storeFailed(secretId, 'delete', err);
    } finally {
      this.markStale(secretId);
    }
  }

  async describe(secretId: string): Promise<SecretDescription | undefined> {
    const value = await this.read(secretId, true);
    return value === undefined ? undefined : { secretId, keys: Object.keys(value).sort() };
  }

  private markStale(secretId: string): void {
    this.stale.set(secretId, (this.stale.get(secretId) ?? 0) + 1);
  }

  /** A forced read that began at `mark` succeeded: the secret is fresh unless a write came meanwhile. */
  private fetched(secretId: string, mark: number | undefined): void {
    if (this.stale.get(secretId) === mark) this.stale.delete(secretId);
  }

  /** Reads through the provider (its cache unless `fresh`) and checks the value's shape. */
  private async read(secretId: string, fresh: boolean): Promise<SecretJson | undefined> {
    const mark = this.stale.get(secretId);
    let raw: string | Uint8Array | undefined;
    try {
      raw = await this.provider.get(secretId, { maxAge: this.maxAge, forceFetch: fresh });
    } catch (err) {
      // A failed read (even "not found") leaves the old value in the provider's cache: the secret
      // stays stale, so later reads keep bypassing it (a missing secret is never cached anyway).
      if (isGone(err)) return undefined;
      throw storeFailed(secretId, 'read', err);
    }
    if (fresh) this.fetched(secretId, mark);
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string') throw new SecretStoreError(secretId, 'BINARY_VALUE', `secret "${secretId}" has a binary value, not a JSON object of strings`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new SecretStoreError(secretId, 'NOT_JSON_OBJECT', `secret "${secretId}" is not a JSON object of strings: its value is not JSON`);
    }
    return toSecretJson(secretId, parsed);
  }
}
