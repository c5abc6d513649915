/**
 * A {@link SecretStore} whose adapter is loaded on first use: each call waits for `load()` once
 * and passes through. A function whose first request reads no secret (an execution record, a flow
 * without credentials) then loads no Secrets Manager code in its cold start
 * (functions/roots/parts.ts). A `load()` that fails is tried again on the next call.
 */
import type { SecretDescription, SecretJson, SecretStore } from '../secret-store';

export class DeferredSecretStore implements SecretStore {
  private store: Promise<SecretStore> | undefined;

  constructor(private readonly load: () => Promise<SecretStore>) {}

  getSecretJson(secretId: string, options?: { fresh?: boolean }): Promise<SecretJson | undefined> {
    return this.target().then((s) => s.getSecretJson(secretId, options));
  }

  putSecretJson(secretId: string, value: SecretJson): Promise<void> {
    return this.target().then((s) => s.putSecretJson(secretId, value));
  }

  deleteSecret(secretId: string): Promise<boolean> {
    return this.target().then((s) => s.deleteSecret(secretId));
  }

  describe(secretId: string): Promise<SecretDescription | undefined> {
    return this.target().then((s) => s.describe(secretId));
  }

  private target(): Promise<SecretStore> {
    this.store ??= this.load().catch((err: unknown) => {
      this.store = undefined;
      throw err;
    });
    return this.store;
  }
}
