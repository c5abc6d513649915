/**
 * A small Secrets Manager for local runs and tests (docs/architecture.md, "Local development"),
 * in memory or kept in a data file, speaking the service's JSON protocol as the AWS SDK sends it (AWS JSON 1.1:
 * `POST /`, header `X-Amz-Target: secretsmanager.<Operation>`, content type
 * `application/x-amz-json-1.1`). Listens on 127.0.0.1.
 *
 * Operations and their shapes follow "AWS Secrets Manager API Reference" (CreateSecret,
 * GetSecretValue, PutSecretValue, DescribeSecret, DeleteSecret: the operations ivrflow's secret
 * store sends; "Common Errors"):
 * - secrets are found by name, full ARN or partial ARN (the ARN without its 6-character suffix);
 * - ARNs are `arn:aws:secretsmanager:us-east-1:000000000000:secret:<name>-<6 random chars>`;
 * - each value is a version (`VersionId`: the request's `ClientRequestToken`, which the SDK fills
 *   with a random UUID, or a random UUID); the newest carries `AWSCURRENT`, the one before
 *   `AWSPREVIOUS`; versions left without a stage are dropped (the real service keeps up to 100);
 * - `SecretString` only: `SecretBinary` is refused with `InvalidParameterException`;
 * - DeleteSecret schedules the deletion (the secret then answers `InvalidRequestException` "marked
 *   for deletion") unless `ForceDeleteWithoutRecovery`, which removes it at once; nothing ever
 *   purges a scheduled secret (no clock runs here), and RestoreSecret is not served;
 *
 * Errors are HTTP 400 with `{ "__type": "<ErrorName>", "message": "..." }`, which the SDK turns into
 * its exception classes (`ResourceNotFoundException`...). A body that is not JSON is a
 * `SerializationException`, an unknown target an `UnknownOperationException` (the AWS JSON
 * protocol's common errors); a missing or malformed parameter an `InvalidParameterException`.
 * Bodies over 1 MiB get 413. Nothing a client sends makes it crash.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseUntrustedJson } from '../json';

/** Requests larger than this are refused with 413. */
export const MAX_SECRETS_REQUEST_BYTES = 1024 * 1024;
/** The largest `SecretString`, bytes (API Reference, CreateSecret). */
const MAX_SECRET_STRING_BYTES = 65536;
const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const TOKEN_PATTERN = /^[A-Za-z0-9-]{32,64}$/;
const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const JSON_11 = 'application/x-amz-json-1.1';

/** A running local Secrets Manager endpoint. */
export interface SecretsManagerLocal {
  /** `http://127.0.0.1:<port>`: give it to the SDK as `endpoint` (or `AWS_ENDPOINT_URL_SECRETS_MANAGER`). */
  endpoint: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Options of {@link startSecretsManagerLocal}. */
export interface SecretsManagerLocalOptions {
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /**
   * A file that keeps the secrets across restarts (`ivrflow serve --data <dir>` gives
   * `<dir>/secrets-manager.json`): read at start, rewritten after every change atomically (a
   * temporary file renamed over it) with mode 0600, since it holds credentials in clear.
   * @default none: in memory
   */
  dataFile?: string;
}

interface Version {
  id: string;
  value: string;
  created: number;
  stages: Set<string>;
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  tags: { Key: string; Value: string }[];
  created: number;
  lastChanged: number;
  lastAccessed?: number;
  /** When DeleteSecret scheduled the deletion (epoch seconds). */
  deleted?: number;
  /** In creation order. */
  versions: Map<string, Version>;
}

/** An error answered as `{ __type, message }` with `status`. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidParameter = (message: string) => new ServiceError('InvalidParameterException', message);
const notFound = () => new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
const markedForDeletion = () => new ServiceError('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");

type Body = Record<string, unknown>;

/** Epoch seconds, as the JSON protocol carries timestamps. */
const now = (): number => Date.now() / 1000;

function optionalString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidParameter(`${key} must be a string.`);
  return v;
}

function requiredString(body: Body, key: string): string {
  const v = optionalString(body, key);
  if (v === undefined || v === '') throw invalidParameter(`You must provide a value for the ${key} parameter.`);
  return v;
}

function optionalInteger(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidParameter(`${key} must be an integer between ${min} and ${max}.`);
  return v;
}

function optionalBoolean(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidParameter(`${key} must be a boolean.`);
  return v;
}

/** The secret's value from a CreateSecret or PutSecretValue body (undefined when none is given). */
function secretString(body: Body): string | undefined {
  if (body.SecretBinary !== undefined && body.SecretBinary !== null) throw invalidParameter('SecretBinary is not supported by this local endpoint; use SecretString.');
  const value = optionalString(body, 'SecretString');
  if (value !== undefined && Buffer.byteLength(value) > MAX_SECRET_STRING_BYTES) throw invalidParameter(`SecretString must be at most ${MAX_SECRET_STRING_BYTES} bytes.`);
  return value;
}

function clientRequestToken(body: Body): string | undefined {
  const token = optionalString(body, 'ClientRequestToken');
  if (token !== undefined && !TOKEN_PATTERN.test(token)) throw invalidParameter('ClientRequestToken must be 32 to 64 letters, digits or hyphens.');
  return token;
}

function tags(body: Body): { Key: string; Value: string }[] {
  const v = body.Tags;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidParameter('Tags must be a list.');
  return v.map((t: unknown) => {
    if (typeof t !== 'object' || t === null) throw invalidParameter('Each tag must be an object with Key and Value.');
    const tag = t as Body;
    return { Key: requiredString(tag, 'Key'), Value: optionalString(tag, 'Value') ?? '' };
  });
}

function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
}

/** A {@link Secret} as the data file keeps it (version stages as arrays). */
type StoredSecret = Omit<Secret, 'versions'> & { versions: Array<Omit<Version, 'stages'> & { stages: string[] }> };

/** The service: one method per operation, each taking the request body and returning the answer; kept in `dataFile` when given. */
class SecretsManagerState {
  /** By name. */
  private readonly secrets = new Map<string, Secret>();

  constructor(private readonly dataFile?: string) {
    if (!dataFile || !existsSync(dataFile)) return;
    let stored: { secrets: StoredSecret[] };
    try {
      stored = JSON.parse(readFileSync(dataFile, 'utf8')) as { secrets: StoredSecret[] };
      if (!Array.isArray(stored.secrets)) throw new Error('no "secrets" list');
    } catch (err) {
      // Never started over an unreadable file (a later write would replace what it holds).
      throw new Error(`${dataFile} is not a local Secrets Manager data file (${(err as Error).message}); move it away or fix it`);
    }
    for (const secret of stored.secrets) {
      this.secrets.set(secret.name, { ...secret, versions: new Map(secret.versions.map((v) => [v.id, { ...v, stages: new Set(v.stages) }])) });
    }
  }

  /** Writes every secret to the data file: a temporary file (mode 0600) renamed over it, so a crash leaves the old file or the new one, never half of one. */
  private persist(): void {
    if (!this.dataFile) return;
    const stored: StoredSecret[] = [...this.secrets.values()].map((secret) => ({ ...secret, versions: [...secret.versions.values()].map((v) => ({ ...v, stages: [...v.stages] })) }));
    const temporary = `${this.dataFile}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ secrets: stored }), { mode: 0o600 });
    renameSync(temporary, this.dataFile);
  }

  /** Runs a change, then keeps it. */
  private changing<T>(change: () => T): T {
    const result = change();
    this.persist();
    return result;
  }

  readonly operations: Record<string, (body: Body) => Body> = {
    CreateSecret: (b) => this.changing(() => this.createSecret(b)),
    GetSecretValue: (b) => this.getSecretValue(b),
    PutSecretValue: (b) => this.changing(() => this.putSecretValue(b)),
    DescribeSecret: (b) => this.describeSecret(b),
    DeleteSecret: (b) => this.changing(() => this.deleteSecret(b)),
  };

  /** Finds a secret by name, ARN or partial ARN. @throws ResourceNotFoundException */
  private find(secretId: string): Secret {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    if (secretId.startsWith(ARN_PREFIX)) {
      for (const secret of this.secrets.values()) if (secret.arn === secretId || `${ARN_PREFIX}${secret.name}` === secretId) return secret;
    }
    throw notFound();
  }

  private findLive(body: Body): Secret {
    const secret = this.find(requiredString(body, 'SecretId'));
    if (secret.deleted !== undefined) throw markedForDeletion();
    return secret;
  }

  /** Adds a version that takes `AWSCURRENT` (and moves `AWSPREVIOUS`); idempotent on the token. */
  private addVersion(secret: Secret, value: string, token: string | undefined): Version {
    const existing = token === undefined ? undefined : secret.versions.get(token);
    if (existing) {
      if (existing.value !== value) throw new ServiceError('ResourceExistsException', `A version with the ClientRequestToken ${token} already exists with a different value.`);
      return existing;
    }
    const current = [...secret.versions.values()].find((v) => v.stages.has(CURRENT));
    for (const v of secret.versions.values()) v.stages.delete(PREVIOUS);
    if (current) {
      current.stages.delete(CURRENT);
      current.stages.add(PREVIOUS);
    }
    for (const [id, v] of secret.versions) if (v.stages.size === 0) secret.versions.delete(id);
    const version: Version = { id: token ?? randomUUID(), value, created: now(), stages: new Set([CURRENT]) };
    secret.versions.set(version.id, version);
    secret.lastChanged = version.created;
    return version;
  }

  private createSecret(body: Body): Body {
    const name = requiredString(body, 'Name');
    if (!NAME_PATTERN.test(name)) throw invalidParameter('Name must be 1 to 512 letters, digits or /_+=.@- characters.');
    const value = secretString(body);
    const token = clientRequestToken(body);
    const description = optionalString(body, 'Description');
    const secretTags = tags(body);
    const existing = this.secrets.get(name);
    if (existing?.deleted !== undefined) throw new ServiceError('InvalidRequestException', "You can't create this secret because a secret with this name is already scheduled for deletion.");
    if (existing) throw new ServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    const created = now();
    const secret: Secret = { name, arn: `${ARN_PREFIX}${name}-${randomSuffix()}`, tags: secretTags, created, lastChanged: created, versions: new Map() };
    if (description !== undefined) secret.description = description;
    const version = value === undefined ? undefined : this.addVersion(secret, value, token);
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, ...(version ? { VersionId: version.id } : {}) };
  }

  private getSecretValue(body: Body): Body {
    const secret = this.findLive(body);
    const versionId = optionalString(body, 'VersionId');
    const stage = optionalString(body, 'VersionStage');
    const version = versionId !== undefined ? secret.versions.get(versionId) : [...secret.versions.values()].find((v) => v.stages.has(stage ?? CURRENT));
    if (!version || (stage !== undefined && !version.stages.has(stage))) {
      throw new ServiceError(
        'ResourceNotFoundException',
        versionId !== undefined ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}` : `Secrets Manager can't find the specified secret value for staging label: ${stage ?? CURRENT}`,
      );
    }
    secret.lastAccessed = Math.floor(now() / 86400) * 86400;
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, SecretString: version.value, VersionStages: [...version.stages], CreatedDate: version.created };
  }

  private putSecretValue(body: Body): Body {
    const secret = this.findLive(body);
    const value = secretString(body);
    if (value === undefined) throw invalidParameter('You must provide either SecretString or SecretBinary.');
    if (body.VersionStages !== undefined) throw invalidParameter('VersionStages is not supported by this local endpoint.');
    const version = this.addVersion(secret, value, clientRequestToken(body));
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private describe(secret: Secret): Body {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      CreatedDate: secret.created,
      LastChangedDate: secret.lastChanged,
      ...(secret.lastAccessed !== undefined ? { LastAccessedDate: secret.lastAccessed } : {}),
      ...(secret.deleted !== undefined ? { DeletedDate: secret.deleted } : {}),
      ...(secret.tags.length ? { Tags: secret.tags } : {}),
    };
  }

  private describeSecret(body: Body): Body {
    const secret = this.find(requiredString(body, 'SecretId'));
    return { ...this.describe(secret), VersionIdsToStages: Object.fromEntries([...secret.versions.values()].map((v) => [v.id, [...v.stages]])) };
  }

  private deleteSecret(body: Body): Body {
    const secret = this.find(requiredString(body, 'SecretId'));
    const force = optionalBoolean(body, 'ForceDeleteWithoutRecovery') ?? false;
    const window = optionalInteger(body, 'RecoveryWindowInDays', 7, 30);
    if (force && window !== undefined) throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    const at = now();
    if (force) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: at };
    }
    if (secret.deleted !== undefined) throw markedForDeletion();
    secret.deleted = at;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: at + (window ?? 30) * 86400 };
  }
}

function send(res: ServerResponse, status: number, body: Body, extraHeaders: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_11, 'content-length': String(Buffer.byteLength(text)), 'x-amzn-requestid': randomUUID(), ...extraHeaders });
  res.end(text);
}

function sendError(res: ServerResponse, err: ServiceError, extraHeaders: Record<string, string> = {}): void {
  send(res, err.status, { __type: err.type, message: err.message }, { 'x-amzn-errortype': err.type, ...extraHeaders });
}

/** Answers one complete request. */
function answer(state: SecretsManagerState, req: IncomingMessage, text: string): Body {
  const target = req.headers['x-amz-target'];
  const operation = typeof target === 'string' && target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : undefined;
  const handler = req.method === 'POST' && operation !== undefined && Object.hasOwn(state.operations, operation) ? state.operations[operation] : undefined;
  if (!handler) throw new ServiceError('UnknownOperationException', `Unknown operation ${typeof target === 'string' ? target : '(no X-Amz-Target)'}.`);
  let body: unknown;
  try {
    body = parseUntrustedJson(text.trim() === '' ? '{}' : text);
  } catch {
    throw new ServiceError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ServiceError('SerializationException', 'The request body must be a JSON object.');
  return handler(body as Body);
}

/** Starts a local Secrets Manager, empty, on 127.0.0.1. */
export async function startSecretsManagerLocal(options: SecretsManagerLocalOptions = {}): Promise<SecretsManagerLocal> {
  const state = new SecretsManagerState(options.dataFile);
  const server: Server = createServer((req, res) => {
    const tooLarge = () => {
      sendError(res, new ServiceError('RequestEntityTooLargeException', `The request body is larger than ${MAX_SECRETS_REQUEST_BYTES} bytes.`, 413), { connection: 'close' });
      // Discard the rest of the body without keeping it.
      req.removeAllListeners('data');
      req.resume();
    };
    if (Number(req.headers['content-length'] ?? 0) > MAX_SECRETS_REQUEST_BYTES) return tooLarge();
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_SECRETS_REQUEST_BYTES) chunks.push(c);
      else if (!refused) {
        refused = true;
        chunks.length = 0;
        tooLarge();
      }
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (refused) return;
      try {
        send(res, 200, answer(state, req, Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        sendError(res, err instanceof ServiceError ? err : new ServiceError('InternalServiceError', 'An error occurred on the server side.', 500));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
