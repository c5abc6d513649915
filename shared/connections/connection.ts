/**
 * Connections (docs/architecture.md, "Connections, secrets and tokens"; the Integration Hub notion
 * of the CXone Studio "Integration Hub Execute" action): a named backend definition — base URL, the
 * hosts it may reach, an authentication type, a default timeout and named requests. Its credentials
 * (`clientSecret`, `apiKey`, `password`, `webhookSigningSecret`) are write-only: they are stored in
 * the connection's Secrets Manager secret and the definition keeps only which of them are set.
 *
 * Secret names (all under one prefix, so IAM can be scoped to it, `ivrflow/` by default):
 * `<prefix>connections/<name>` holds a connection's credentials, `<prefix>tokens/<hash>` an OAuth2
 * access token, and `<prefix>flows/<secretId>` a secret a flow binds with `secrets` (connections/secret-names.ts).
 */
import * as z from 'zod';
import { compileTemplate } from '../expressions/template';
import { compileMapping } from '../expressions/response-mapping';
import { SECRET_HEADERS } from '../http/call-pipeline';
import { bodyCredentialLiterals, queryCredentialLiterals } from '../http/credential-literals';
import { RequestName } from '../ids';
import { Template, VariableName } from '../steps/common';

const HeaderName = z.lazy(() => z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid HTTP header name'));
/** A credential as written in a PUT body: never returned, never echoed in a message. */
const SecretValue = z.lazy(() => z.string().min(1).max(8192));
/**
 * A Standard Webhooks signing secret ("Standard Webhooks" specification, "Signature scheme"):
 * `whsec_` and the base64 of 24 to 64 random bytes. Callbacks are signed with HMAC-SHA256 under it.
 */
const WebhookSecret = z.lazy(() =>
  z.string().refine((v) => {
    const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(v);
    if (!m || m[1]!.length % 4 !== 0) return false;
    const bytes = Buffer.from(m[1]!, 'base64').length;
    return bytes >= 24 && bytes <= 64;
  }, 'must be whsec_ followed by the base64 of 24 to 64 random bytes (Standard Webhooks)'),
);
/** RFC 6749 §3.3 scope-token: printable ASCII without space, `"` and `\`. */
const ScopeToken = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(256)
    .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope is printable ASCII without spaces, " or \\ (RFC 6749 §3.3)'),
);
const HttpUrl = z.lazy(() =>
  z
    .string()
    .max(2048)
    .refine((text) => {
      try {
        const url = new URL(text);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    }, 'must be an absolute http(s) URL without credentials'),
);

/** A named request of a connection: method, path template (appended to `baseUrl`), headers, body, response mapping and timeout (ms). */
export const ConnectionRequest = z.lazy(() =>
  z
    .object({
      method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']).default('GET'),
      path: Template.refine((p) => p.startsWith('/'), 'must start with /').describe('Appended to baseUrl; {{ }} values come from the requestPayload and are percent-encoded'),
      headers: z.record(HeaderName, Template).optional(),
      body: z.union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
      responseMapping: z.record(VariableName, z.string().min(1).max(4096)).optional().describe('name → JSONPath or expression over $ (the body); the step then sets requestBody to the mapped object'),
      timeoutMs: z.number().int().min(1).max(30000).optional(),
    })
    .strict(),
);
/** A named request of a connection, defaults applied. */
export type ConnectionRequest = z.infer<typeof ConnectionRequest>;

const OAuth2Input = z.lazy(() =>
  z
    .object({
      type: z.literal('oauth2'),
      tokenEndpoint: HttpUrl,
      clientId: z.string().min(1).max(256),
      clientSecret: SecretValue.optional(),
      scopes: z.array(ScopeToken).max(50).optional(),
      clientAuthentication: z.enum(['basic', 'body']).default('basic').describe('RFC 6749 §2.3.1: HTTP Basic or client_id/client_secret in the form body'),
    })
    .strict(),
);
const ApiKeyInput = z.lazy(() => z.object({ type: z.literal('apiKey'), headerName: HeaderName.default('X-API-Key'), apiKey: SecretValue.optional() }).strict());
const BasicInput = z.lazy(() => z.object({ type: z.literal('basic'), username: z.string().min(1).max(256), password: SecretValue.optional() }).strict());
const NoneInput = z.lazy(() => z.object({ type: z.literal('none') }).strict());

/** A connection's `timeoutMs` when its body leaves it out, ms. */
export const DEFAULT_CONNECTION_TIMEOUT_MS = 5000;

/** The body of `PUT /connections/{name}`. A credential left out keeps the value already stored. */
export const ConnectionInput = z.lazy(() =>
  z
    .object({
      baseUrl: HttpUrl,
      allowedHosts: z.array(z.string().min(1).max(253)).min(1).max(100).optional().describe('Hosts the connection may reach (`*.example.com` allowed); default: the host of baseUrl'),
      timeoutMs: z.number().int().min(1).max(30000).default(DEFAULT_CONNECTION_TIMEOUT_MS),
      authentication: z.discriminatedUnion('type', [OAuth2Input, ApiKeyInput, BasicInput, NoneInput]),
      webhookSigningSecret: WebhookSecret.optional(),
      requests: z.record(RequestName, ConnectionRequest).optional(),
    })
    .strict(),
);
/** A `PUT /connections/{name}` body, parsed (defaults applied; credentials included). */
export type ConnectionInput = z.infer<typeof ConnectionInput>;

/** The credential fields, by where they sit in a PUT body, and the key each has in the connection's secret. */
export const CREDENTIAL_FIELDS = {
  'authentication.clientSecret': 'clientSecret',
  'authentication.apiKey': 'apiKey',
  'authentication.password': 'password',
  webhookSigningSecret: 'webhookSigningSecret',
} as const;
/** Where a credential sits in a PUT body, e.g. `authentication.clientSecret`. */
export type CredentialField = keyof typeof CREDENTIAL_FIELDS;
/** The key of a credential in the connection's secret, e.g. `clientSecret`. */
export type CredentialKey = (typeof CREDENTIAL_FIELDS)[CredentialField];

/** A stored connection's authentication: its type and settings, without credential values. */
export type ConnectionAuthentication =
  { type: 'oauth2'; tokenEndpoint: string; clientId: string; scopes?: string[]; clientAuthentication: 'basic' | 'body' } | { type: 'apiKey'; headerName: string } | { type: 'basic'; username: string } | { type: 'none' };

/** A stored connection: the definition without credential values. */
export interface Connection {
  name: string;
  baseUrl: string;
  allowedHosts?: string[];
  timeoutMs: number;
  authentication: ConnectionAuthentication;
  requests?: Record<string, ConnectionRequest>;
  /** The credential fields that have a value in the connection's secret (e.g. `authentication.clientSecret`). */
  secretsSet: CredentialField[];
  updatedAt: string;
}

/** The hosts a connection may reach: `allowedHosts`, else the host of `baseUrl`. */
export function connectionHosts(connection: Pick<Connection, 'baseUrl' | 'allowedHosts'>): string[] {
  return connection.allowedHosts ?? [new URL(connection.baseUrl).hostname];
}

/** The credentials a PUT body carries, by secret key. */
export function credentialsOf(input: ConnectionInput): Partial<Record<CredentialKey, string>> {
  const auth = input.authentication;
  return {
    ...(auth.type === 'oauth2' && auth.clientSecret !== undefined ? { clientSecret: auth.clientSecret } : {}),
    ...(auth.type === 'apiKey' && auth.apiKey !== undefined ? { apiKey: auth.apiKey } : {}),
    ...(auth.type === 'basic' && auth.password !== undefined ? { password: auth.password } : {}),
    ...(input.webhookSigningSecret !== undefined ? { webhookSigningSecret: input.webhookSigningSecret } : {}),
  };
}

/** The credential the authentication type needs (none for `none`). */
export function requiredCredential(auth: ConnectionInput['authentication'] | ConnectionAuthentication): CredentialField | undefined {
  switch (auth.type) {
    case 'oauth2':
      return 'authentication.clientSecret';
    case 'apiKey':
      return 'authentication.apiKey';
    case 'basic':
      return 'authentication.password';
    default:
      return undefined;
  }
}

/** The definition without credential values. */
export function withoutCredentials(name: string, input: ConnectionInput, secretsSet: CredentialField[], updatedAt: string): Connection {
  const auth = input.authentication;
  const authentication: ConnectionAuthentication =
    auth.type === 'oauth2'
      ? { type: 'oauth2', tokenEndpoint: auth.tokenEndpoint, clientId: auth.clientId, ...(auth.scopes ? { scopes: auth.scopes } : {}), clientAuthentication: auth.clientAuthentication }
      : auth.type === 'apiKey'
        ? { type: 'apiKey', headerName: auth.headerName }
        : auth.type === 'basic'
          ? { type: 'basic', username: auth.username }
          : { type: 'none' };
  return {
    name,
    baseUrl: input.baseUrl,
    ...(input.allowedHosts ? { allowedHosts: input.allowedHosts } : {}),
    timeoutMs: input.timeoutMs,
    authentication,
    ...(input.requests ? { requests: input.requests } : {}),
    secretsSet: [...secretsSet].sort(),
    updatedAt,
  };
}

/**
 * The templates and mappings of a connection's requests that do not compile, as `{ path, message }`.
 * Paths are relative to the body (`requests.lookup.path`).
 */
export function requestProblems(requests: Record<string, ConnectionRequest> | undefined): Array<{ code: string; path: string; message: string }> {
  const problems: Array<{ code: string; path: string; message: string }> = [];
  for (const [name, request] of Object.entries(requests ?? {})) {
    const texts: Array<{ path: string; text: string }> = [{ path: 'path', text: request.path }, ...Object.entries(request.headers ?? {}).map(([h, text]) => ({ path: `headers.${h}`, text }))];
    if (typeof request.body === 'string') texts.push({ path: 'body', text: request.body });
    for (const [h, text] of Object.entries(request.headers ?? {})) {
      // The definition is returned by GET: a credential belongs in `authentication`, stored as a secret.
      if (SECRET_HEADERS.test(h) && !text.includes('{{'))
        problems.push({ code: 'LITERAL_SECRET', path: `requests.${name}.headers.${h}`, message: 'a literal credential is not allowed in a request header (its value is not shown); put it in authentication' });
    }
    for (const l of [...queryCredentialLiterals(request.path, 'path'), ...(request.body === undefined ? [] : bodyCredentialLiterals(request.body, 'body'))]) {
      if (l.certain) problems.push({ code: 'LITERAL_SECRET', path: `requests.${name}.${l.path}`, message: `${l.where} has a literal credential (its value is not shown); put it in authentication` });
    }
    for (const t of texts) {
      try {
        compileTemplate(t.text);
      } catch (err) {
        problems.push({ code: 'BAD_EXPRESSION', path: `requests.${name}.${t.path}`, message: (err as Error).message });
      }
    }
    for (const [variable, source] of Object.entries(request.responseMapping ?? {})) {
      try {
        compileMapping(source);
      } catch (err) {
        problems.push({ code: source.trim().startsWith('$') ? 'BAD_JSONPATH' : 'BAD_EXPRESSION', path: `requests.${name}.responseMapping.${variable}`, message: (err as Error).message });
      }
    }
  }
  return problems;
}
