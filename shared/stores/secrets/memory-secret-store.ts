/**
 * A {@link SecretStore} in memory: the store of in-process runs (`ivrflow run --secrets <file>`, the
 * default step service, unit tests of one module). Values are copied in and out, never shared.
 */
import { toSecretJson, type SecretDescription, type SecretJson, type SecretStore } from '../secret-store';

/** Secrets in this process's memory; `reads` counts reads per secret id (for tests). */
export class MemorySecretStore implements SecretStore {
  readonly values = new Map<string, SecretJson>();
  /** Reads per secret id. */
  readonly reads = new Map<string, number>();

  getSecretJson(secretId: string): Promise<SecretJson | undefined> {
    this.reads.set(secretId, (this.reads.get(secretId) ?? 0) + 1);
    const value = this.values.get(secretId);
    return Promise.resolve(value && { ...value });
  }

  putSecretJson(secretId: string, value: SecretJson): Promise<void> {
    this.values.set(secretId, toSecretJson(secretId, value));
    return Promise.resolve();
  }

  deleteSecret(secretId: string): Promise<boolean> {
    return Promise.resolve(this.values.delete(secretId));
  }

  describe(secretId: string): Promise<SecretDescription | undefined> {
    const value = this.values.get(secretId);
    return Promise.resolve(value && { secretId, keys: Object.keys(value).sort() });
  }
}
