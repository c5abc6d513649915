/** The composition root of the token-refresher: token records in the State table, secrets, the token endpoints (HTTP). */
import type { ServiceConfig } from '#shared/config/runtime';
import type { TokenProvider } from '#shared/connections/token-provider';
import type { TokenRegistry } from '#shared/connections/token-registry';
import { resolved, type Adapters } from '../roots/adapters';
import { tokensOf } from '../roots/parts';

/** What the token-refresher handler uses: the token registry and the token provider. */
export interface TokenRefresherRoot {
  tokenRegistry: TokenRegistry;
  tokens: TokenProvider;
}

/** Builds the token-refresher root: the token registry in the State table and the token provider over it (Secrets Manager, HTTP). */
export function tokenRefresherRoot(config: ServiceConfig, adapters: Adapters): TokenRefresherRoot {
  const a = resolved(config, adapters);
  const { tokenRegistry, tokens } = tokensOf(config, a, a.randomness.id());
  return { tokenRegistry, tokens };
}
