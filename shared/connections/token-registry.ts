/**
 * The token registry (docs/architecture.md, "Connections, secrets and tokens"): one record per
 * OAuth2 token ivrflow keeps, whichever form configured it (a connection or a flow's inline
 * `oauth2` authentication). A record says how to get the token — endpoint, client id, scopes, and
 * a reference to the secret holding the client secret, never a value — when the cached token
 * expires, and carries the refresh lease: while one instance holds it, the others keep using the
 * current token instead of calling the token endpoint too.
 *
 * The DynamoDB adapter is `stores/dynamodb/token-registry.ts`; {@link MemoryTokenRegistry} serves
 * in-process runs (CLI, unit tests).
 */
import { createHash } from 'node:crypto';
import type { ClientAuthentication } from './oauth2';
import { tokenCacheKey } from './oauth2';
import type { SecretRef } from './secret-names';

/** What is needed to request a token with the client credentials grant, the client secret by reference. */
export interface TokenSpec {
  tokenEndpoint: string;
  clientId: string;
  /** Requested scopes (normalised, sorted). */
  scopes: string[];
  clientAuthentication: ClientAuthentication;
  /** Where the client secret is: a full secret name and the key in its JSON value. */
  clientSecret: SecretRef;
  /** Who configured it, for logs: `connection crm` or `flow ivr step lookup`. */
  source: string;
}

/** The registry's record of one token. */
export interface TokenRecord extends TokenSpec {
  /** {@link tokenHash} of the spec: the record's id. */
  hash: string;
  /** When the cached token was issued and expires (epoch ms); absent before the first token. */
  issuedAt?: number;
  expiresAt?: number;
  /** The scope granted with the cached token. */
  scope?: string;
  /** Epoch ms of the last failed refresh, and why (never a secret). */
  lastErrorAt?: number;
  lastError?: string;
}

/** The id of a token: SHA-256 of (tokenEndpoint, clientId, sorted scopes), 32 hex digits. */
export function tokenHash(spec: Pick<TokenSpec, 'tokenEndpoint' | 'clientId' | 'scopes'>): string {
  return createHash('sha256').update(tokenCacheKey(spec)).digest('hex').slice(0, 32);
}

/** Storage of token records and their refresh leases (times epoch ms). */
export interface TokenRegistry {
  /** Creates the record, or updates its spec (keeping its token fields). */
  register(hash: string, spec: TokenSpec): Promise<void>;
  get(hash: string): Promise<TokenRecord | undefined>;
  /** Every record (the refresher walks them all). */
  list(): Promise<TokenRecord[]>;
  /**
   * Takes the refresh lease until `untilMs` unless another owner holds an unexpired one. Creates
   * the record from `spec` when it is missing (another connection sharing the token may have
   * removed it), so a token in use is always known to the refresher again after its next refresh.
   * @returns whether `owner` holds it now
   */
  acquireLease(hash: string, spec: TokenSpec, owner: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Records a refresh outcome and releases `owner`'s lease. */
  release(hash: string, owner: string, outcome: { token: { issuedAt: number; expiresAt: number; scope: string } } | { error: string; atMs: number }): Promise<void>;
  /** Deletes the record. */
  remove(hash: string): Promise<void>;
}

/** A registry in this process's memory. */
export class MemoryTokenRegistry implements TokenRegistry {
  private readonly records = new Map<string, TokenRecord & { leaseOwner?: string; leaseUntil?: number }>();

  register(hash: string, spec: TokenSpec): Promise<void> {
    this.records.set(hash, { ...this.records.get(hash), ...spec, hash });
    return Promise.resolve();
  }

  get(hash: string): Promise<TokenRecord | undefined> {
    const record = this.records.get(hash);
    return Promise.resolve(record && { ...record });
  }

  list(): Promise<TokenRecord[]> {
    return Promise.resolve([...this.records.values()].map((r) => ({ ...r })));
  }

  acquireLease(hash: string, spec: TokenSpec, owner: string, nowMs: number, untilMs: number): Promise<boolean> {
    let record = this.records.get(hash);
    if (!record) {
      record = { ...spec, hash };
      this.records.set(hash, record);
    }
    if (record.leaseOwner !== undefined && record.leaseOwner !== owner && (record.leaseUntil ?? 0) > nowMs) return Promise.resolve(false);
    record.leaseOwner = owner;
    record.leaseUntil = untilMs;
    return Promise.resolve(true);
  }

  release(hash: string, owner: string, outcome: { token: { issuedAt: number; expiresAt: number; scope: string } } | { error: string; atMs: number }): Promise<void> {
    const record = this.records.get(hash);
    if (!record) return Promise.resolve();
    if ('token' in outcome) {
      Object.assign(record, outcome.token);
      delete record.lastError;
      delete record.lastErrorAt;
    } else {
      record.lastError = outcome.error;
      record.lastErrorAt = outcome.atMs;
    }
    if (record.leaseOwner === owner) {
      delete record.leaseOwner;
      delete record.leaseUntil;
    }
    return Promise.resolve();
  }

  remove(hash: string): Promise<void> {
    this.records.delete(hash);
    return Promise.resolve();
  }
}
