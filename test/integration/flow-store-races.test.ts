/**
 * Deploys racing deletes on DynamoDB Local: whatever the interleaving, a flow is either fully
 * absent or a consistent chain of versions 1..L under its LATEST pointer, and the next deploy
 * always succeeds (no wedge). Also: a delete that crashed after writing its tombstone.
 */
import { DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { VersionConflictError } from '#shared/errors';
import type { Flow } from '#shared/flow/schema';
import { ensureTables } from '#shared/local/dynamodb-local';
import { documentClient } from '#shared/stores/dynamodb/document-client';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { countingClient, uniqueTables } from '../support/local';

const ITERATIONS = 30;
const NOW = '2026-01-01T00:00:00.000Z';

let store: DynamoFlowStore;
let doc: DynamoDBDocumentClient;
let table: string;

beforeAll(async () => {
  const { client } = countingClient();
  const tables = uniqueTables();
  await ensureTables(client, tables);
  table = tables.definitionsTable;
  store = new DynamoFlowStore({ tableName: table, client });
  doc = documentClient(client);
});

const flowAt = (id: string, version: number, name = `${id} v${version}`) => ({ id, name, flowType: 'IVR', version, steps: [{ id: 'end', type: 'End', configuration: {} }] }) as unknown as Flow & { version: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = () => sleep(Math.floor(Math.random() * 12));

/** Every item of the flow's partition, read consistently. */
async function partition(flowId: string): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `FLOW#${flowId}` }, ConsistentRead: true, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * The invariant: nothing under the partition, or a live LATEST at L with exactly V#1..V#L.
 * @returns L (0 when absent); fails the test otherwise.
 */
async function expectConsistent(flowId: string, context: string): Promise<number> {
  const items = await partition(flowId);
  if (items.length === 0) return 0;
  const latest = items.find((i) => i['sk'] === 'LATEST');
  const versions = items
    .filter((i) => i['sk'] !== 'LATEST')
    .map((i) => i['version'] as number)
    .sort((a, b) => a - b);
  const state = `${context}: LATEST=${latest ? JSON.stringify({ version: latest['version'], deleting: latest['deleting'], kind: latest['kind'] }) : 'absent'}, versions=[${versions.join(',')}]`;
  expect(latest, state).toBeDefined();
  expect(latest!['deleting'], state).toBeUndefined();
  expect(latest!['kind'], state).toBe('FLOW');
  const l = latest!['version'] as number;
  expect(versions, state).toEqual(Array.from({ length: l }, (_, i) => i + 1));
  expect(await store.getLatestVersion(flowId), state).toBe(l);
  expect((await store.getFlow(flowId))?.version, state).toBe(l);
  return l;
}

/** Runs `op` after a small random delay; a lost race (409) is a legitimate outcome, anything else is not. */
async function raced(op: () => Promise<unknown>): Promise<string> {
  await jitter();
  try {
    await op();
    return 'ok';
  } catch (err) {
    if (err instanceof VersionConflictError) return '409';
    throw err;
  }
}

describe('DynamoFlowStore: deploys racing deletes', () => {
  it(`${ITERATIONS} random interleavings of PUTs and DELETEs never leave a wedged or partial flow`, async () => {
    for (let i = 0; i < ITERATIONS; i++) {
      const flowId = `race-${i}`;
      const initial = i % 3; // start absent, at 1, or at 2
      for (let v = 1; v <= initial; v++) await store.putFlowVersion(flowAt(flowId, v), NOW);
      const ops: Array<() => Promise<unknown>> = [
        () => store.putFlowVersion(flowAt(flowId, initial + 1, 'explicit'), NOW),
        ...Array.from({ length: 3 }, () => async () => store.putFlowVersion(flowAt(flowId, (await store.getLatestVersion(flowId)) + 1, 'version-less'), NOW)),
        () => store.deleteFlow(flowId),
        ...(i % 2 === 0 ? [() => store.deleteFlow(flowId)] : []),
      ];
      await Promise.all(ops.map((op) => raced(op)));

      const l = await expectConsistent(flowId, `iteration ${i} after the race`);
      await store.putFlowVersion(flowAt(flowId, l + 1, 'after'), NOW);
      expect(await expectConsistent(flowId, `iteration ${i} after the next deploy`)).toBe(l + 1);
    }
  }, 120_000);

  it('two concurrent deletes: exactly one finds the flow, nothing is left', async () => {
    for (let v = 1; v <= 3; v++) await store.putFlowVersion(flowAt('twice', v), NOW);
    const results = await Promise.all([store.deleteFlow('twice'), store.deleteFlow('twice')]);
    expect(results.sort()).toEqual([false, true]);
    expect(await partition('twice')).toEqual([]);
    expect(await store.deleteFlow('twice')).toBe(false);
  });

  it('a delete that crashed after its tombstone: reads see no flow, the next deploy finishes the delete and stores version 1', async () => {
    for (let v = 1; v <= 3; v++) await store.putFlowVersion(flowAt('crashed', v), NOW);
    // Step 1 of a delete only (the process died before removing anything else).
    await doc.send(new UpdateCommand({ TableName: table, Key: { pk: 'FLOW#crashed', sk: 'LATEST' }, UpdateExpression: 'SET deleting = :true REMOVE kind', ExpressionAttributeValues: { ':true': true } }));
    expect(await store.getFlow('crashed')).toBeUndefined();
    expect(await store.getLatestVersion('crashed')).toBe(0);
    expect((await store.listFlows(100)).items.map((f) => f.id)).not.toContain('crashed');
    // A stale explicit version is refused, and still does not wedge the flow.
    await expect(store.putFlowVersion(flowAt('crashed', 4), NOW)).rejects.toMatchObject({ code: 'VERSION_CONFLICT', details: { currentVersion: 0 } });

    await store.putFlowVersion(flowAt('crashed', 1, 'reborn'), NOW);
    expect(await expectConsistent('crashed', 'after the deploy')).toBe(1);
    expect((await store.getFlow('crashed'))?.name).toBe('reborn');
    expect(await store.getFlow('crashed', 2)).toBeUndefined();
    expect(await store.getFlow('crashed', 3)).toBeUndefined();
  });

  it('a tombstone is finished by the next delete too (reported as not found: the flow was already gone)', async () => {
    for (let v = 1; v <= 2; v++) await store.putFlowVersion(flowAt('crashed-twice', v), NOW);
    await doc.send(new UpdateCommand({ TableName: table, Key: { pk: 'FLOW#crashed-twice', sk: 'LATEST' }, UpdateExpression: 'SET deleting = :true REMOVE kind', ExpressionAttributeValues: { ':true': true } }));
    expect(await store.deleteFlow('crashed-twice')).toBe(false);
    expect(await partition('crashed-twice')).toEqual([]);
  });

  it('a stray version item left by the old delete (V#2 with LATEST at 1) is removed by the next deploy', async () => {
    await store.putFlowVersion(flowAt('stray', 1), NOW);
    await doc.send(new PutCommand({ TableName: table, Item: { pk: 'FLOW#stray', sk: `V#${'2'.padStart(10, '0')}`, version: 2, definition: JSON.stringify(flowAt('stray', 2, 'orphan')), createdAt: NOW } }));
    await store.putFlowVersion(flowAt('stray', 2, 'fresh'), NOW);
    expect(await expectConsistent('stray', 'after the deploy')).toBe(2);
    expect((await store.getFlow('stray', 2))?.name).toBe('fresh');
  });

  it('deletes a flow with more versions than one transaction holds', async () => {
    for (let v = 1; v <= 130; v++) await store.putFlowVersion(flowAt('many', v), NOW);
    expect(await store.deleteFlow('many')).toBe(true);
    expect(await partition('many')).toEqual([]);
    await store.putFlowVersion(flowAt('many', 1), NOW);
    expect(await expectConsistent('many', 'after the redeploy')).toBe(1);
  });

  it('the latest read stays one DynamoDB request', async () => {
    const counting = countingClient();
    const counted = new DynamoFlowStore({ tableName: table, client: counting.client });
    await store.putFlowVersion(flowAt('one-read', 1), NOW);
    counting.reset();
    expect((await counted.getFlow('one-read'))?.version).toBe(1);
    expect(counting.calls).toEqual(['GetItemCommand']);
  });
});
