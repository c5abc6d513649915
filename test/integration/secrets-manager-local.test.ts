/**
 * The local Secrets Manager driven by the real `@aws-sdk/client-secrets-manager` client, and the
 * SecretStore adapter on it (reads through Powertools' SecretsProvider, cache, invalidation).
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecretsManagerLocal, type SecretsManagerLocal } from '#shared/local/secrets-manager-local';
import { SecretStoreError } from '#shared/stores/secret-store';
import { SecretsManagerSecretStore } from '#shared/stores/secrets/secrets-manager-store';
import { recordRequests } from '../support/local';

let local: SecretsManagerLocal;
beforeAll(async () => {
  local = await startSecretsManagerLocal();
});
afterAll(async () => local.close());

/** A real SDK client on the local endpoint that records the operations it sends. */
function client(): { sm: SecretsManagerClient; calls: string[] } {
  const sm = new SecretsManagerClient({ endpoint: local.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  return { sm, calls: recordRequests(sm as unknown as Parameters<typeof recordRequests>[0]) };
}

let n = 0;
const unique = (base: string) => `${base}-${process.pid}-${++n}`;

async function raw(target: string | undefined, body: string): Promise<{ status: number; body: { __type: string; message: string } }> {
  const res = await fetch(`${local.endpoint}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-amz-json-1.1', ...(target === undefined ? {} : { 'x-amz-target': target }) },
    body,
  });
  return { status: res.status, body: (await res.json()) as { __type: string; message: string } };
}

describe('local Secrets Manager with the AWS SDK', () => {
  it('creates, reads, versions, describes and deletes a secret', async () => {
    const { sm } = client();
    const name = unique('crm/api');
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: '{"apiKey":"one"}', Description: 'CRM' }));
    expect(created.Name).toBe(name);
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[A-Za-z0-9]{6}$`));
    expect(created.VersionId).toMatch(/^[0-9a-f-]{36}$/);

    const first = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    expect(first).toMatchObject({ Name: name, ARN: created.ARN, SecretString: '{"apiKey":"one"}', VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });
    expect(first.CreatedDate).toBeInstanceOf(Date);

    const put = await sm.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: '{"apiKey":"two"}' }));
    expect(put.VersionId).not.toBe(created.VersionId);
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    // By partial ARN (without the random suffix), and the previous version by its stage.
    expect((await sm.send(new GetSecretValueCommand({ SecretId: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}` }))).SecretString).toBe('{"apiKey":"two"}');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('{"apiKey":"one"}');
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: created.VersionId! }))).SecretString).toBe('{"apiKey":"one"}');

    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described).toMatchObject({ Name: name, ARN: created.ARN, Description: 'CRM' });
    expect(described.VersionIdsToStages).toEqual({ [created.VersionId!]: ['AWSPREVIOUS'], [put.VersionId!]: ['AWSCURRENT'] });
    expect(described.LastChangedDate).toBeInstanceOf(Date);
    expect(JSON.stringify(described)).not.toContain('apiKey');

    const deleted = await sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    expect(deleted).toMatchObject({ Name: name, ARN: created.ARN });
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    // Gone at once: the name can be used again.
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: '{}' }));
  });

  it('surfaces the service errors as the SDK exception classes', async () => {
    const { sm } = client();
    const name = unique('errors');
    const missing = await sm.send(new GetSecretValueCommand({ SecretId: 'no-such-secret' })).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect((missing as ResourceNotFoundException).name).toBe('ResourceNotFoundException');
    expect((missing as ResourceNotFoundException).$metadata.httpStatusCode).toBe(400);
    await expect(sm.send(new DescribeSecretCommand({ SecretId: 'no-such-secret' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(sm.send(new PutSecretValueCommand({ SecretId: 'no-such-secret', SecretString: 'x' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(sm.send(new DeleteSecretCommand({ SecretId: 'no-such-secret', ForceDeleteWithoutRecovery: true }))).rejects.toBeInstanceOf(ResourceNotFoundException);

    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    await expect(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }))).rejects.toBeInstanceOf(ResourceExistsException);
    await expect(sm.send(new CreateSecretCommand({ Name: unique('bin'), SecretBinary: new Uint8Array([1, 2]) }))).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(sm.send(new CreateSecretCommand({ Name: 'bad name with spaces', SecretString: 'v' }))).rejects.toBeInstanceOf(InvalidParameterException);
    await expect(sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true, RecoveryWindowInDays: 7 }))).rejects.toBeInstanceOf(InvalidParameterException);

    // A secret without a value yet.
    const empty = unique('empty');
    const created = await sm.send(new CreateSecretCommand({ Name: empty }));
    expect(created.VersionId).toBeUndefined();
    await expect(sm.send(new GetSecretValueCommand({ SecretId: empty }))).rejects.toThrow(/staging label: AWSCURRENT/);

    // A scheduled deletion: the secret is still described, but refuses reads, writes and a new creation.
    const scheduled = await sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    expect(scheduled.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(6 * 86400_000);
    expect((await sm.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate).toBeInstanceOf(Date);
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toBeInstanceOf(InvalidRequestException);
    await expect(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'w' }))).rejects.toBeInstanceOf(InvalidRequestException);
    await expect(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'w' }))).rejects.toBeInstanceOf(InvalidRequestException);
  });

  it('serves only the operations the secret store sends: ListSecrets is an unknown operation', async () => {
    const { sm } = client();
    await expect(sm.send(new ListSecretsCommand({}))).rejects.toMatchObject({ name: 'UnknownOperationException' });
  });

  it('answers bad raw requests with 400 and an error type, and keeps serving', async () => {
    const notJson = await raw('secretsmanager.GetSecretValue', '{not json');
    expect(notJson).toMatchObject({ status: 400, body: { __type: 'SerializationException' } });
    const notObject = await raw('secretsmanager.GetSecretValue', '[1,2]');
    expect(notObject).toMatchObject({ status: 400, body: { __type: 'SerializationException' } });
    const unknown = await raw('secretsmanager.RotateEverything', '{}');
    expect(unknown).toMatchObject({ status: 400, body: { __type: 'UnknownOperationException' } });
    const noTarget = await raw(undefined, '{}');
    expect(noTarget).toMatchObject({ status: 400, body: { __type: 'UnknownOperationException' } });
    const inherited = await raw('secretsmanager.constructor', '{}');
    expect(inherited).toMatchObject({ status: 400, body: { __type: 'UnknownOperationException' } });
    const noSecretId = await raw('secretsmanager.GetSecretValue', '{}');
    expect(noSecretId).toMatchObject({ status: 400, body: { __type: 'InvalidParameterException' } });
    const wrongType = await raw('secretsmanager.GetSecretValue', '{"SecretId": 42}');
    expect(wrongType).toMatchObject({ status: 400, body: { __type: 'InvalidParameterException' } });
    const poisoned = await raw('secretsmanager.CreateSecret', '{"Name":"p","__proto__":{"x":1}}');
    expect(poisoned.status).toBe(400);

    const big = await fetch(`${local.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.CreateSecret' },
      body: JSON.stringify({ Name: 'big', SecretString: 'x'.repeat(1024 * 1024 + 10) }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { __type: string }).__type).toBe('RequestEntityTooLargeException');

    // Over the SecretString limit but under the body limit.
    const { sm } = client();
    await expect(sm.send(new CreateSecretCommand({ Name: unique('large'), SecretString: 'x'.repeat(65537) }))).rejects.toBeInstanceOf(InvalidParameterException);
    // Still serving.
    const name = unique('after');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'ok' }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('ok');
  });
});

describe('SecretsManagerSecretStore on the local endpoint', () => {
  it('puts then gets a JSON secret, creating then adding a version', async () => {
    const { sm, calls } = client();
    const store = new SecretsManagerSecretStore({ client: sm });
    const id = unique('conn/crm');
    await store.putSecretJson(id, { apiKey: 'k1', user: 'u' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1', user: 'u' });
    await store.putSecretJson(id, { apiKey: 'k2' });
    expect(calls.filter((c) => c !== 'GetSecretValueCommand')).toEqual(['CreateSecretCommand', 'CreateSecretCommand', 'PutSecretValueCommand']);
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k2' });
    expect(await store.getSecretJson(unique('missing'))).toBeUndefined();
  });

  it('reads once within maxAge, again after it, and a write invalidates the cache', async () => {
    const { sm, calls } = client();
    const store = new SecretsManagerSecretStore({ client: sm });
    const id = unique('cached');
    await store.putSecretJson(id, { apiKey: 'k1' });
    const reads = () => calls.filter((c) => c === 'GetSecretValueCommand').length;
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1' });
    expect(reads()).toBe(1);

    // A write elsewhere is not seen within maxAge...
    await sm.send(new PutSecretValueCommand({ SecretId: id, SecretString: '{"apiKey":"outside"}' }));
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1' });
    expect(reads()).toBe(1);
    // ...a write through the store is, and the fresh value is cached again.
    await store.putSecretJson(id, { apiKey: 'k2' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k2' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k2' });
    expect(reads()).toBe(2);

    // A short maxAge expires.
    const short = new SecretsManagerSecretStore({ client: sm, maxAgeSeconds: 1 });
    expect(await short.getSecretJson(id)).toEqual({ apiKey: 'k2' });
    await sm.send(new PutSecretValueCommand({ SecretId: id, SecretString: '{"apiKey":"k3"}' }));
    expect(await short.getSecretJson(id)).toEqual({ apiKey: 'k2' });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await short.getSecretJson(id)).toEqual({ apiKey: 'k3' });
  });

  it('refuses a value that is not a JSON object of strings without revealing it', async () => {
    const { sm } = client();
    const store = new SecretsManagerSecretStore({ client: sm });
    const cases: [string, string][] = [
      [unique('not-json'), 'hunter2-plain-text'],
      [unique('array'), '["hunter2-in-array"]'],
      [unique('nested'), '{"apiKey":{"deep":"hunter2-nested"}}'],
      [unique('number'), '{"pin":424242}'],
    ];
    for (const [id, value] of cases) {
      await sm.send(new CreateSecretCommand({ Name: id, SecretString: value }));
      const err = await store.getSecretJson(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretStoreError);
      const e = err as SecretStoreError;
      expect(e.code).toBe('SECRET_STORE_ERROR');
      expect(e.reason).toBe('NOT_JSON_OBJECT');
      expect(e.message).toContain(id);
      expect(e.message).not.toMatch(/hunter2|424242/);
      expect(JSON.stringify(e.details)).not.toMatch(/hunter2|424242/);
    }
    await expect(store.putSecretJson(unique('bad-put'), { a: 1 } as unknown as Record<string, string>)).rejects.toBeInstanceOf(SecretStoreError);
  });

  it('describes the keys, never the values', async () => {
    const { sm } = client();
    const store = new SecretsManagerSecretStore({ client: sm });
    const id = unique('described');
    await store.putSecretJson(id, { user: 'alice-secret-value', apiKey: 'key-secret-value' });
    const description = await store.describe(id);
    expect(description).toEqual({ secretId: id, keys: ['apiKey', 'user'] });
    expect(JSON.stringify(description)).not.toContain('secret-value');
    expect(await store.describe(unique('nothing'))).toBeUndefined();
  });

  it('deletes, then the secret reads as absent and can be created again', async () => {
    const { sm } = client();
    const store = new SecretsManagerSecretStore({ client: sm });
    const id = unique('deleted');
    await store.putSecretJson(id, { apiKey: 'k1' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k1' });
    expect(await store.deleteSecret(id)).toBe(true);
    expect(await store.getSecretJson(id)).toBeUndefined();
    // The old value, still in the provider's cache, never comes back.
    expect(await store.getSecretJson(id)).toBeUndefined();
    expect(await store.deleteSecret(id)).toBe(false);
    expect(await store.getSecretJson(id)).toBeUndefined();
    await store.putSecretJson(id, { apiKey: 'k2' });
    expect(await store.getSecretJson(id)).toEqual({ apiKey: 'k2' });

    // With a recovery window, the scheduled secret reads as absent too; writing it fails with a typed error.
    const recoverable = new SecretsManagerSecretStore({ client: sm, recoveryWindowInDays: 7 });
    expect(await recoverable.deleteSecret(id)).toBe(true);
    expect(await recoverable.getSecretJson(id)).toBeUndefined();
    const err = await recoverable.putSecretJson(id, { apiKey: 'k3' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretStoreError);
    expect((err as SecretStoreError).message).toContain('InvalidRequestException');
    expect((err as SecretStoreError).message).not.toContain('k3');
  });
});

describe('local Secrets Manager kept in a data file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ivrflow-sm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const sdk = (endpoint: string) => new SecretsManagerClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });

  it('a restart on the same file keeps every secret, its versions and deletions; the file is mode 0600 and never left half-written', async () => {
    const dataFile = join(dir, 'secrets.json');
    const first = await startSecretsManagerLocal({ dataFile });
    try {
      const sm = sdk(first.endpoint);
      await sm.send(new CreateSecretCommand({ Name: 'ivrflow/connections/crm', SecretString: '{"apiKey":"v1"}' }));
      await sm.send(new PutSecretValueCommand({ SecretId: 'ivrflow/connections/crm', SecretString: '{"apiKey":"v2"}' }));
      await sm.send(new CreateSecretCommand({ Name: 'ivrflow/tokens/abc', SecretString: '{"accessToken":"t"}' }));
      await sm.send(new DeleteSecretCommand({ SecretId: 'ivrflow/tokens/abc', ForceDeleteWithoutRecovery: true }));
    } finally {
      await first.close();
    }
    expect(statSync(dataFile).mode & 0o777).toBe(0o600);
    expect(() => JSON.parse(readFileSync(dataFile, 'utf8')) as unknown).not.toThrow();
    const second = await startSecretsManagerLocal({ dataFile });
    try {
      const sm = sdk(second.endpoint);
      expect((await sm.send(new GetSecretValueCommand({ SecretId: 'ivrflow/connections/crm' }))).SecretString).toBe('{"apiKey":"v2"}');
      expect((await sm.send(new GetSecretValueCommand({ SecretId: 'ivrflow/connections/crm', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('{"apiKey":"v1"}');
      await expect(sm.send(new GetSecretValueCommand({ SecretId: 'ivrflow/tokens/abc' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    } finally {
      await second.close();
    }
  });

  it('refuses to start over a file that is not its own, naming it, and leaves the file as it was', async () => {
    const dataFile = join(dir, 'corrupt.json');
    writeFileSync(dataFile, '{"secrets": [', { mode: 0o600 });
    await expect(startSecretsManagerLocal({ dataFile })).rejects.toThrow(`${dataFile} is not a local Secrets Manager data file`);
    writeFileSync(dataFile, '{"other": 1}');
    await expect(startSecretsManagerLocal({ dataFile })).rejects.toThrow(/no "secrets" list/);
    expect(readFileSync(dataFile, 'utf8')).toBe('{"other": 1}');
  });
});
