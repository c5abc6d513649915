/** The names of a deployment's secrets: one prefix, four namespaces (docs/architecture.md, "Connections, secrets and tokens"). */

/** Default prefix of every secret name ivrflow uses (IAM grants are scoped to it). */
export const DEFAULT_SECRET_PREFIX = 'ivrflow/';

/** A secret a flow binds (`secrets` of a flow): the secret id relative to the prefix, and the key in its JSON value. */
export interface SecretRef {
  secretId: string;
  key: string;
}

/** Names of the secrets of one deployment (one prefix). */
export class SecretNames {
  constructor(readonly prefix: string = DEFAULT_SECRET_PREFIX) {}

  /** The secret holding a connection's credentials. */
  connection(name: string): string {
    return `${this.prefix}connections/${name}`;
  }

  /** The secret caching an OAuth2 access token (`hash`: see `tokenHash`). */
  token(hash: string): string {
    return `${this.prefix}tokens/${hash}`;
  }

  /** The secret a flow binds with `{ "secretId": "crm-oauth" }`: `<prefix>flows/crm-oauth`, and nowhere else. */
  flowSecret(secretId: string): string {
    return `${this.prefix}flows/${secretId}`;
  }

  /** The secret of callers' credentials (the basic authorizer's), e.g. `basic` → `<prefix>callers/basic`. */
  caller(name: string): string {
    return `${this.prefix}callers/${name}`;
  }
}
