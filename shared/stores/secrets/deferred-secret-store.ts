/**
 * A {@link SecretStore} whose adapter is loaded on first use: the first call starts `load()`, and
 * every call waits for it and passes through. A function whose first request reads no secret (an
 * execution record, a flow without credentials) then loads no Secrets Manager code in its cold
 * start (functions/roots/parts.ts). A load that fails fails every call with its error (in a
 * Lambda sandbox a module that cannot load will not load later either).
 */
import type { SecretDescription, SecretJson, SecretStore } from '../secret-store';

export class DeferredSecretStore implements SecretStore {
  private store: Promise<SecretStore> | undefined;

  constructor(private readonly load: () => Promise<SecretStore>) {}

  async getSecretJson(secretId: string, options?: { fresh?: boolean }): Promise<SecretJson | undefined> {
    return (await this.target()).getSecretJson(secretId, options);
  }

  async putSecretJson(secretId: string, value: SecretJson): Promise<void> {
    return (await this.target()).putSecretJson(secretId, value);
  }

  async deleteSecret(secretId: string): Promise<boolean> {
    return (await this.target()).deleteSecret(secretId);
  }

  async describe(secretId: string): Promise<SecretDescription | undefined> {
    return (await this.target()).describe(secretId);
  }

  private target(): Promise<SecretStore> {
    return (this.store ??= this.load());
  }
}
