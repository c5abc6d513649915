/**
 * The Secrets Manager client of the secret store, with the store timeouts of
 * shared/config/aws-clients.ts. A module of its own so that a function loads
 * `@aws-sdk/client-secrets-manager` only when it first reads or writes a secret
 * (functions/roots/adapters.ts imports it on first use): a flow without credentials, a read of an
 * execution record or an unsigned callback never pays for it in its cold start.
 */
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { STORE_CLIENT_OPTIONS } from './aws-clients';

/** A Secrets Manager client with the store timeouts. */
export function secretsManagerClient(config: SecretsManagerClientConfig = {}): SecretsManagerClient {
  return new SecretsManagerClient({ ...STORE_CLIENT_OPTIONS, ...config });
}
