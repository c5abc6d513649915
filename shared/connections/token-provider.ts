/**
 * OAuth2 access tokens off the caller's path (docs/architecture.md, "Connections, secrets and
 * tokens"; the trap of "synchronous OAuth token fetching" and "OAuth token exhaustion" in API-driven
 * IVR guides). Three layers, fastest first:
 *
 * 1. this instance's memory: a token that does not expire within 60 s is used with no I/O;
 * 2. the token's secret (`<prefix>tokens/<hash>`, a JSON `{ accessToken, tokenType, issuedAt,
 *    expiresAt, scope }` kept fresh by the scheduled token-refresher), read when the memory has
 *    nothing better;
 * 3. the token endpoint, under the registry's lease, so that one instance refreshes while the
 *    others keep the current token; callers in one instance share one in-flight request.
 *
 * A token that is still valid but expires within 60 s is returned at once and refreshed in the
 * background: a caller waits on the token endpoint only when no valid token exists (none yet, or
 * the backend just answered 401 to it). A failed refresh keeps the old token while it is valid,
 * and for 5 s afterwards callers without a valid token fail at once instead of each waiting on a
 * sick token endpoint.
 *
 * Errors: {@link TokenRequestError} (the token endpoint failed, or a peer's refresh never came) and
 * {@link CredentialUnavailableError} (the client secret cannot be read). Neither carries a secret.
 */
import type { Clock } from '../clock';
import { IvrflowError } from '../errors';
import type { HttpClient } from '../http/client';
import type { SecretStore } from '../stores/secret-store';
import type { SecretNames } from './secret-names';
import { expiresSoon, needsRefresh, requestClientCredentialsToken, scopeDrift, TokenRequestError, type AccessToken, type ClientCredentialsConfig } from './oauth2';
import { tokenHash, type TokenRecord, type TokenRegistry, type TokenSpec } from './token-registry';

/** A credential a call needs cannot be read (its secret or key is missing, or the store failed). The message names the secret and key, never a value. */
export class CredentialUnavailableError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CREDENTIAL_UNAVAILABLE', message, options);
    this.name = 'CredentialUnavailableError';
  }
}

/** Why a token was requested. */
export type RefreshReason = 'missing' | 'expiring' | 'rejected' | 'scheduled';

/** What a {@link TokenProvider} reports (to logs and metrics). Never carries a secret or a token. */
export type TokenEvent =
  | { type: 'token_acquired'; hash: string; source: string; tokenEndpoint: string; clientId: string; scopes: string[]; expiresAt: number; missingScopes: string[]; reason: RefreshReason; onCallerPath: boolean }
  | { type: 'token_refresh_failed'; hash: string; source: string; tokenEndpoint: string; clientId: string; scopes: string[]; reason: RefreshReason; message: string; usingPreviousToken: boolean };

/** What a {@link TokenProvider} is built from: the token registry, the secret store and names, HTTP, the clock, and its timings (ms). */
export interface TokenProviderOptions {
  registry: TokenRegistry;
  secrets: SecretStore;
  names: SecretNames;
  http: HttpClient;
  clock: Clock;
  /** This instance's id, the owner of the leases it takes. */
  instanceId: string;
  /** Must not throw. */
  onEvent?: (event: TokenEvent) => void;
  /** A token expiring within this many ms is refreshed (pre-flight). @default 60000 */
  refreshWithinMs?: number;
  /** How long a refresh lease lasts, ms (longer than a token request). @default 10000 */
  leaseMs?: number;
  /** How long a caller without a valid token waits for another instance's refresh, ms. @default 5000 */
  waitForPeerMs?: number;
  /** Token request timeout off the caller's path, ms. @default 5000 */
  requestTimeoutMs?: number;
  /** The token request (tests may wrap it). @default requestClientCredentialsToken */
  request?: (config: ClientCredentialsConfig, http: HttpClient, clock: Clock) => Promise<AccessToken>;
}

interface Entry {
  token?: AccessToken;
  /** The shared load-or-refresh of callers without a usable token. */
  inflight?: Promise<AccessToken>;
  /** A background refresh of a token that expires soon. */
  background?: Promise<void>;
  /** The last failed refresh: callers without a valid token fail fast until `until`. */
  failure?: { error: IvrflowError; until: number };
}

const PEER_POLL_MS = 100;
const FAILURE_BACKOFF_MS = 5000;

/** The token's secret value (strings only: a secret's value is a JSON object of strings). */
function toSecret(token: AccessToken): Record<string, string> {
  return { accessToken: token.accessToken, tokenType: token.tokenType, issuedAt: String(token.issuedAt), expiresAt: String(token.expiresAt), scope: token.scope };
}

function fromSecret(value: Record<string, string> | undefined): AccessToken | undefined {
  if (!value) return undefined;
  const issuedAt = Number(value['issuedAt']);
  const expiresAt = Number(value['expiresAt']);
  const accessToken = value['accessToken'];
  if (!accessToken || !Number.isFinite(issuedAt) || !Number.isFinite(expiresAt)) return undefined;
  const scope = value['scope'] ?? '';
  return { accessToken, tokenType: value['tokenType'] ?? 'Bearer', issuedAt, expiresAt, scope, grantedScopes: scope.split(' ').filter(Boolean) };
}

/** The OAuth2 access tokens of this instance: memory, then the token's secret, then the token endpoint under the registry's lease (see the module's header). */
export class TokenProvider {
  private readonly entries = new Map<string, Entry>();
  private readonly registered = new Set<string>();
  private readonly o: Required<Omit<TokenProviderOptions, 'onEvent'>> & { onEvent: (event: TokenEvent) => void };

  constructor(options: TokenProviderOptions) {
    this.o = {
      refreshWithinMs: 60_000,
      leaseMs: 10_000,
      waitForPeerMs: 5000,
      requestTimeoutMs: 5000,
      request: requestClientCredentialsToken,
      onEvent: () => undefined,
      ...options,
    };
  }

  /**
   * A valid token for `spec`.
   * @param options.rejected an access token the backend just refused (401): never returned again
   * @param options.deadlineAt epoch ms the caller must answer by: bounds a token request on its path
   * @throws TokenRequestError | CredentialUnavailableError when no valid token can be had
   */
  get(spec: TokenSpec, options: { rejected?: string; deadlineAt?: number } = {}): Promise<AccessToken> {
    const hash = tokenHash(spec);
    const entry = this.entry(hash);
    const now = this.o.clock.now();
    const token = entry.token;
    if (token !== undefined && token.accessToken !== options.rejected && !expiresSoon(token, now, this.o.refreshWithinMs)) return Promise.resolve(token);
    if (entry.inflight) return entry.inflight;
    const flight = this.obtain(spec, hash, entry, options);
    entry.inflight = flight;
    const done = () => {
      if (entry.inflight === flight) entry.inflight = undefined;
    };
    flight.then(done, done);
    return flight;
  }

  /** Drops `accessToken` from this instance's memory (the backend answered 401 to it). */
  invalidate(spec: Pick<TokenSpec, 'tokenEndpoint' | 'clientId' | 'scopes'>, accessToken: string): void {
    const entry = this.entries.get(tokenHash(spec));
    if (entry?.token?.accessToken === accessToken) entry.token = undefined;
  }

  /** Makes the refresher and other instances know the token (once per instance). */
  async register(spec: TokenSpec): Promise<string> {
    const hash = tokenHash(spec);
    if (!this.registered.has(hash)) {
      await this.o.registry.register(hash, spec);
      this.registered.add(hash);
    }
    return hash;
  }

  /**
   * The scheduled refresher's step for one record: refreshes under the lease when the token's
   * remaining life is below max(15 min, 25 % of its lifetime), or when there is none.
   * @returns `fresh` (nothing to do), `refreshed` (with the requested scopes the server did not
   *   grant), or `busy` (another instance holds the lease)
   * @throws TokenRequestError | CredentialUnavailableError when the refresh failed
   */
  async refreshIfDue(record: TokenRecord): Promise<{ status: 'fresh' } | { status: 'busy' } | { status: 'refreshed'; expiresAt: number; missingScopes: string[] }> {
    const now = this.o.clock.now();
    if (record.issuedAt !== undefined && record.expiresAt !== undefined && !needsRefresh({ issuedAt: record.issuedAt, expiresAt: record.expiresAt }, now)) return { status: 'fresh' };
    const token = await this.refreshUnderLease(record, record.hash, this.entry(record.hash), { reason: 'scheduled', onCallerPath: false, waitForPeer: false });
    return token === undefined ? { status: 'busy' } : { status: 'refreshed', expiresAt: token.expiresAt, missingScopes: scopeDrift(record.scopes, token.grantedScopes) };
  }

  private entry(hash: string): Entry {
    let entry = this.entries.get(hash);
    if (!entry) {
      entry = {};
      this.entries.set(hash, entry);
    }
    return entry;
  }

  private async obtain(spec: TokenSpec, hash: string, entry: Entry, options: { rejected?: string; deadlineAt?: number }): Promise<AccessToken> {
    await this.register(spec);
    const shared = await this.readShared(hash);
    const now = this.o.clock.now();
    const valid = (t: AccessToken | undefined): t is AccessToken => t !== undefined && t.accessToken !== options.rejected && t.expiresAt > now;
    if (valid(shared) && !expiresSoon(shared, now, this.o.refreshWithinMs)) {
      entry.token = shared;
      return shared;
    }
    const current = [shared, entry.token].filter(valid).sort((a, b) => b.expiresAt - a.expiresAt)[0];
    if (current) {
      // Still valid: the caller goes on with it; the refresh happens beside the call.
      entry.token = current;
      // After a failed refresh, the next try waits out the back-off like callers do.
      if (entry.failure && entry.failure.until > now) return current;
      entry.background ??= this.refreshUnderLease(spec, hash, entry, { reason: 'expiring', onCallerPath: false, waitForPeer: false }).then(
        () => {
          entry.background = undefined;
        },
        () => {
          entry.background = undefined;
        },
      );
      return current;
    }
    if (entry.failure && entry.failure.until > now) throw entry.failure.error;
    const reason: RefreshReason = options.rejected !== undefined ? 'rejected' : 'missing';
    const token = await this.refreshUnderLease(spec, hash, entry, {
      reason,
      onCallerPath: true,
      waitForPeer: true,
      ...(options.rejected === undefined ? {} : { rejected: options.rejected }),
      ...(options.deadlineAt === undefined ? {} : { deadlineAt: options.deadlineAt }),
    });
    return token!;
  }

  /**
   * Requests a token under the lease and shares it (secret, registry, memory). When another
   * instance holds the lease: with `waitForPeer`, waits for its token (polling the secret);
   * otherwise returns undefined.
   */
  private async refreshUnderLease(spec: TokenSpec, hash: string, entry: Entry, options: { reason: RefreshReason; onCallerPath: boolean; waitForPeer: boolean; rejected?: string; deadlineAt?: number }): Promise<AccessToken | undefined> {
    const { clock, registry } = this.o;
    const about = { hash, source: spec.source, tokenEndpoint: spec.tokenEndpoint, clientId: spec.clientId, scopes: spec.scopes, reason: options.reason };
    const start = clock.now();
    if (!(await registry.acquireLease(hash, spec, this.o.instanceId, start, start + this.o.leaseMs))) {
      if (!options.waitForPeer) return undefined;
      const until = Math.min(start + this.o.waitForPeerMs, options.deadlineAt ?? Infinity);
      while (clock.now() + PEER_POLL_MS < until) {
        await clock.sleep(PEER_POLL_MS);
        const token = await this.readShared(hash);
        if (token && token.accessToken !== options.rejected && token.expiresAt > clock.now()) {
          entry.token = token;
          return token;
        }
      }
      throw new TokenRequestError('token_endpoint_unreachable', `another instance is refreshing the token of ${spec.source} and no new token arrived in time`);
    }
    // Another instance may have published a token between this one's look and its lease.
    const published = await this.readShared(hash);
    if (published && published.accessToken !== options.rejected && (options.reason === 'scheduled' ? !needsRefresh(published, clock.now()) : !expiresSoon(published, clock.now(), this.o.refreshWithinMs))) {
      entry.token = published;
      await registry.release(hash, this.o.instanceId, { token: { issuedAt: published.issuedAt, expiresAt: published.expiresAt, scope: published.scope } });
      return published;
    }
    let token: AccessToken;
    try {
      const clientSecret = await this.clientSecret(spec);
      const timeoutMs = Math.max(1, Math.min(this.o.requestTimeoutMs, (options.deadlineAt ?? Infinity) - clock.now()));
      token = await this.o.request({ tokenEndpoint: spec.tokenEndpoint, clientId: spec.clientId, clientSecret, scopes: spec.scopes, clientAuthentication: spec.clientAuthentication, timeoutMs }, this.o.http, clock);
    } catch (err) {
      const error = err instanceof IvrflowError ? err : new TokenRequestError('token_endpoint_unreachable', `token request for ${spec.source} failed`);
      const usable = entry.token !== undefined && entry.token.accessToken !== options.rejected && entry.token.expiresAt > clock.now();
      entry.failure = { error, until: clock.now() + FAILURE_BACKOFF_MS };
      this.emit({ type: 'token_refresh_failed', ...about, message: error.message, usingPreviousToken: usable });
      await registry.release(hash, this.o.instanceId, { error: error.message, atMs: clock.now() }).catch(() => undefined);
      throw error;
    }
    entry.token = token;
    entry.failure = undefined;
    const missingScopes = scopeDrift(spec.scopes, token.grantedScopes);
    try {
      await this.o.secrets.putSecretJson(this.o.names.token(hash), toSecret(token));
    } catch (err) {
      // This instance keeps the token; the others and the refresher must not believe it is shared.
      const message = `the new token of ${spec.source} could not be stored: ${err instanceof Error ? err.message : String(err)}`;
      this.emit({ type: 'token_refresh_failed', ...about, message, usingPreviousToken: false });
      await registry.release(hash, this.o.instanceId, { error: message, atMs: clock.now() }).catch(() => undefined);
      return token;
    }
    await registry.release(hash, this.o.instanceId, { token: { issuedAt: token.issuedAt, expiresAt: token.expiresAt, scope: token.scope } });
    this.emit({ type: 'token_acquired', ...about, expiresAt: token.expiresAt, missingScopes, onCallerPath: options.onCallerPath });
    return token;
  }

  /** The shared token, read fresh (its secret changes every few minutes); undefined when absent or unreadable. */
  private async readShared(hash: string): Promise<AccessToken | undefined> {
    try {
      return fromSecret(await this.o.secrets.getSecretJson(this.o.names.token(hash), { fresh: true }));
    } catch {
      // The store failing is not fatal here: the token endpoint is the next source.
      return undefined;
    }
  }

  private async clientSecret(spec: TokenSpec): Promise<string> {
    const { secretId, key } = spec.clientSecret;
    let value: Record<string, string> | undefined;
    try {
      value = await this.o.secrets.getSecretJson(secretId, { fresh: true });
    } catch (err) {
      throw new CredentialUnavailableError(`the client secret of ${spec.source} cannot be read from secret "${secretId}" (key "${key}")`, { cause: err });
    }
    const secret = value?.[key];
    if (!secret) throw new CredentialUnavailableError(value ? `secret "${secretId}" has no key "${key}" (the client secret of ${spec.source})` : `secret "${secretId}" (the client secret of ${spec.source}, key "${key}") does not exist`);
    return secret;
  }

  private emit(event: TokenEvent): void {
    try {
      this.o.onEvent(event);
    } catch {
      // A faulty listener must not break token acquisition.
    }
  }
}
