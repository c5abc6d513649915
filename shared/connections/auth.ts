/**
 * The step services of connections and secrets (docs/architecture.md, "Step services" and
 * "Connections, secrets and tokens"), and the {@link CallAuth} of each way a call authenticates
 * with a stored credential: a connection (`apiKey`, `basic`, `oauth2`) or a flow's inline `oauth2`
 * form whose client secret is bound to a secret.
 */
import { randomUUID } from 'node:crypto';
import type { CallAuth } from '../http/call-pipeline';
import { reportTokenEvent } from '../observability';
import { clockService, defineService, httpService } from '../services';
import type { StepContext } from '../steps/types';
import { MemorySecretStore } from '../stores/secrets/memory-secret-store';
import type { SecretStore } from '../stores/secret-store';
import type { Connection } from './connection';
import { DEFAULT_SECRET_PREFIX, SecretNames } from './secret-names';
import { normalizeScopes } from './oauth2';
import { CredentialUnavailableError, TokenProvider } from './token-provider';
import { MemoryTokenRegistry, type TokenSpec } from './token-registry';

/** The names of this deployment's secrets. Default: the `ivrflow/` prefix; the functions provide their configured one. */
export const secretNamesService = defineService<SecretNames>('secretNames', () => new SecretNames(DEFAULT_SECRET_PREFIX));

/**
 * The secret store. Default: an empty store in memory (an in-process run reaches no AWS service: a
 * binding it cannot resolve fails its step with the variable and secret id); the functions provide
 * AWS Secrets Manager, `ivrflow run --secrets <file>` a store of that file's values.
 */
export const secretStoreService = defineService<SecretStore>('secretStore', () => new MemorySecretStore());

/** Connection definitions as steps read them. */
export interface ConnectionReader {
  /** @returns undefined when the connection does not exist */
  get(name: string): Promise<Connection | undefined>;
}

/** Connections. Default: none (an in-process run with no store); the functions provide the stored ones. */
export const connectionsService = defineService<ConnectionReader>('connections', () => ({ get: () => Promise.resolve(undefined) }));

/** OAuth2 tokens. Default: a provider over this process's memory (no lease table); the functions provide one over the `State` table. */
export const tokenProviderService = defineService<TokenProvider>(
  'tokens',
  (services) =>
    new TokenProvider({
      registry: new MemoryTokenRegistry(),
      secrets: services.get(secretStoreService),
      names: services.get(secretNamesService),
      http: services.get(httpService),
      clock: services.get(clockService),
      instanceId: `process-${process.pid}-${randomUUID()}`,
      onEvent: reportTokenEvent,
    }),
);

/** `Bearer` for any spelling of it (RFC 6750 §4: the type is case-insensitive); other types as sent. */
function scheme(tokenType: string): string {
  return tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType;
}

/** Authentication with an OAuth2 client-credentials token from the token provider; a 401 renews the token once. */
export function oauth2Auth(spec: TokenSpec): CallAuth {
  let sent: string | undefined;
  let refused: string | undefined;
  return {
    async headers(ctx) {
      const provider = ctx.services.get(tokenProviderService);
      const token = await provider.get(spec, { deadlineAt: ctx.callDeadlineAt, ...(refused === undefined ? {} : { rejected: refused }) });
      sent = token.accessToken;
      const value = `${scheme(token.tokenType)} ${token.accessToken}`;
      ctx.markSecret(token.accessToken);
      ctx.markSecret(value);
      return { authorization: value };
    },
    rejected() {
      if (sent === undefined) return false;
      refused = sent;
      return true;
    },
  };
}

/** The token spec of a connection's `oauth2` authentication (its client secret in the connection's secret). */
export function connectionTokenSpec(connection: Connection, names: SecretNames): TokenSpec {
  const auth = connection.authentication;
  if (auth.type !== 'oauth2') throw new Error(`connection '${connection.name}' does not use oauth2`);
  return {
    tokenEndpoint: auth.tokenEndpoint,
    clientId: auth.clientId,
    scopes: normalizeScopes(auth.scopes).sort(),
    clientAuthentication: auth.clientAuthentication,
    clientSecret: { secretId: names.connection(connection.name), key: 'clientSecret' },
    source: `connection ${connection.name}`,
  };
}

/** A key of the connection's secret, read through the (cached) secret store. @throws CredentialUnavailableError */
async function connectionCredential(ctx: StepContext, connection: Connection, key: string): Promise<string> {
  const secretId = ctx.services.get(secretNamesService).connection(connection.name);
  let value: Record<string, string> | undefined;
  try {
    value = await ctx.services.get(secretStoreService).getSecretJson(secretId);
  } catch (err) {
    throw new CredentialUnavailableError(`the credentials of connection '${connection.name}' cannot be read`, { cause: err });
  }
  const credential = value?.[key];
  if (!credential) throw new CredentialUnavailableError(`connection '${connection.name}' has no ${key} set`);
  ctx.markSecret(credential);
  return credential;
}

/** How a call through `connection` authenticates; undefined for `none`. */
export function connectionAuth(connection: Connection, names: SecretNames): CallAuth | undefined {
  const auth = connection.authentication;
  switch (auth.type) {
    case 'oauth2':
      return oauth2Auth(connectionTokenSpec(connection, names));
    case 'apiKey':
      return { headers: async (ctx) => ({ [auth.headerName.toLowerCase()]: await connectionCredential(ctx, connection, 'apiKey') }) };
    case 'basic':
      return {
        async headers(ctx) {
          const password = await connectionCredential(ctx, connection, 'password');
          const value = `Basic ${Buffer.from(`${auth.username}:${password}`).toString('base64')}`;
          ctx.markSecret(value);
          return { authorization: value };
        },
      };
    default:
      return undefined;
  }
}
