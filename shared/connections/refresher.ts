/**
 * The token-refresher (docs/architecture.md, "Connections, secrets and tokens"): every 5 minutes
 * (an EventBridge schedule in the stack, a timer in `ivrflow serve`, once with
 * `ivrflow refresh-tokens`) it walks the token registry and refreshes every token whose remaining
 * life is below max(15 min, 25 % of its lifetime) — 60-minute and 5-minute tokens alike — so that
 * callers find a valid token and never wait on a token endpoint. Each token is refreshed on its
 * own: one connection's failure never stops the others.
 */
import type { TokenProvider } from './token-provider';
import type { TokenRegistry } from './token-registry';

/** What one run did. Never carries a secret or a token. */
export interface RefreshSummary {
  /** Tokens in the registry. */
  checked: number;
  /** Refreshed now: who configured each, and when the new token expires (ISO 8601). */
  refreshed: Array<{ source: string; expiresAt: string }>;
  /** Still far from expiry. */
  fresh: number;
  /** Being refreshed by another instance (it holds the lease). */
  busy: number;
  /** Failed refreshes: who configured the token and why. */
  failed: Array<{ source: string; error: string }>;
  /** Refreshed with fewer scopes than requested. */
  scopeDrift: Array<{ source: string; missingScopes: string[] }>;
}

/** Runs the refresher once over every registered token. @throws only when the registry cannot be listed */
export async function refreshTokens(registry: TokenRegistry, tokens: TokenProvider): Promise<RefreshSummary> {
  const records = await registry.list();
  const summary: RefreshSummary = { checked: records.length, refreshed: [], fresh: 0, busy: 0, failed: [], scopeDrift: [] };
  await Promise.all(
    records.map(async (record) => {
      try {
        const outcome = await tokens.refreshIfDue(record);
        if (outcome.status === 'fresh') summary.fresh++;
        else if (outcome.status === 'busy') summary.busy++;
        else if (outcome.status === 'refreshed') {
          summary.refreshed.push({ source: record.source, expiresAt: new Date(outcome.expiresAt).toISOString() });
          if (outcome.missingScopes.length > 0) summary.scopeDrift.push({ source: record.source, missingScopes: outcome.missingScopes });
        }
      } catch (err) {
        summary.failed.push({ source: record.source, error: err instanceof Error ? err.message : String(err) });
      }
    }),
  );
  return summary;
}

/** One line about a refresher run. */
export function describeRefresh(summary: RefreshSummary): string {
  const parts = [`${summary.checked} token(s): ${summary.refreshed.length} refreshed, ${summary.fresh} fresh, ${summary.busy} busy, ${summary.failed.length} failed`];
  for (const f of summary.failed) parts.push(`${f.source}: ${f.error}`);
  for (const d of summary.scopeDrift) parts.push(`scope drift on ${d.source}: not granted ${d.missingScopes.join(' ')}`);
  return parts.join('; ');
}
