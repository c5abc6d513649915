/** DeferredSecretStore: the adapter is loaded once, on the first call, and every call passes through to it; a failed load fails every call. */
import { describe, expect, it } from 'vitest';
import { DeferredSecretStore } from '#shared/stores/secrets/deferred-secret-store';
import { MemorySecretStore } from '#shared/stores/secrets/memory-secret-store';

describe('DeferredSecretStore', () => {
  it('loads nothing until called, then once, and passes every call through', async () => {
    const target = new MemorySecretStore();
    let loads = 0;
    const store = new DeferredSecretStore(() => {
      loads++;
      return Promise.resolve(target);
    });
    expect(loads).toBe(0);
    const [missing, absent] = await Promise.all([store.getSecretJson('ivrflow/a'), store.describe('ivrflow/a')]);
    expect([missing, absent]).toEqual([undefined, undefined]);
    await store.putSecretJson('ivrflow/a', { apiKey: 'k1' });
    expect(await target.getSecretJson('ivrflow/a')).toEqual({ apiKey: 'k1' });
    expect(await store.getSecretJson('ivrflow/a', { fresh: true })).toEqual({ apiKey: 'k1' });
    expect(await store.describe('ivrflow/a')).toEqual({ secretId: 'ivrflow/a', keys: ['apiKey'] });
    expect(await store.deleteSecret('ivrflow/a')).toBe(true);
    expect(await store.deleteSecret('ivrflow/a')).toBe(false);
    expect(loads).toBe(1);
  });

  it('answers every call with the error of a failed load, and loads once', async () => {
    let loads = 0;
    const store = new DeferredSecretStore(() => {
      loads++;
      return Promise.reject(new Error('module not found'));
    });
    await expect(store.getSecretJson('ivrflow/b')).rejects.toThrow('module not found');
    await expect(store.putSecretJson('ivrflow/b', { token: 't' })).rejects.toThrow('module not found');
    expect(loads).toBe(1);
  });
});
