/**
 * Suspended executions in the State table (DynamoDB Local): a WAITING snapshot is stored whole,
 * exactly one of many concurrent claims wins, a stale revision is refused, and the execution
 * continues from the stored JSON to its end.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExecutionService } from '#shared/api/execution-service';
import { FakeClock, type Randomness } from '#shared/clock';
import { VersionConflictError } from '#shared/errors';
import { advance, resume, startExecution, type ExecutorDeps } from '#shared/executor/executor';
import type { Flow } from '#shared/flow/schema';
import type { HttpClient } from '#shared/http/client';
import { ensureTables } from '#shared/local/dynamodb-local';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import type { FlowStore } from '#shared/stores/ports';
import { parsed } from '../support/flows';
import { countingClient, uniqueTables } from '../support/local';
import { withTestWait } from '../support/wait-step';

let store: DynamoStateStore;
let client: DynamoDBClient;
let stateTable: string;
let calls: string[];
let resetCalls: () => void;
let flow: Flow;
const clock = new FakeClock(1_700_000_000_000);
let ids = 0;
const randomness: Randomness = { id: () => `id-${++ids}`, random: () => 0.5 };
const http: HttpClient = { send: () => Promise.reject(new Error('no HTTP in these flows')) };
/** A flow store holding one flow, refusing writes. */
const readOnlyFlows = (only: Flow): FlowStore => ({
  getFlow: (id) => Promise.resolve(id === only.id ? only : undefined),
  putFlowVersion: () => Promise.reject(new Error('read-only')),
  getLatestVersion: () => Promise.resolve(1),
  listFlows: () => Promise.resolve({ items: [] }),
  listVersions: () => Promise.resolve({ items: [] }),
  deleteFlow: () => Promise.resolve(false),
});
const deps = (): ExecutorDeps => ({ clock, randomness, http, resolveFlow: (id) => Promise.resolve(id === flow.id ? flow : undefined) });

beforeAll(async () => {
  const counting = countingClient();
  calls = counting.calls;
  resetCalls = counting.reset;
  const tables = uniqueTables();
  await ensureTables(counting.client, tables);
  store = new DynamoStateStore({ tableName: tables.stateTable, client: counting.client, now: () => clock.now() });
  client = counting.client;
  stateTable = tables.stateTable;
  flow = withTestWait(
    await parsed(
      [
        { id: 'hold', type: 'HTTPRequest', configuration: { url: 'http://placeholder.example.com/' }, next: 'done', branches: { OnTimeout: 'late' } },
        { id: 'done', type: 'End', configuration: { outcome: 'Answered', outputs: { answer: '{{payload.answer}}' } } },
        { id: 'late', type: 'End', configuration: { outcome: 'Fallback' } },
      ],
      { id: 'hold-flow', outputs: ['answer'] },
    ),
    'hold',
  );
});

async function suspended(executionId: string) {
  const snapshot = await advance(startExecution(flow, { executionId }, deps()), deps(), { flows: [flow] });
  expect(snapshot.status).toBe('WAITING');
  return snapshot;
}

describe('the TTL attribute', () => {
  it("a record carries DynamoDB's TTL as `ttl` in epoch seconds (the table's TTL attribute); no item has a seconds-valued expiresAt", async () => {
    const result = { executionId: 'ttl-check', flowId: 'f', flowVersion: 1, status: 'SUCCEEDED' as const, branch: 'Done', variables: {}, trace: [], startedAt: new Date(clock.now()).toISOString(), durationMs: 1 };
    await store.putExecution(result, 3600);
    const item = (await client.send(new GetItemCommand({ TableName: stateTable, Key: { pk: { S: 'EXEC#ttl-check' }, sk: { S: 'EXEC' } } }))).Item!;
    expect(Number(item['ttl']!.N)).toBe(Math.ceil(clock.now() / 1000) + 3600);
    expect(item['expiresAt']).toBeUndefined();
  });
});

describe('suspended executions on DynamoDB Local', () => {
  it('a WAITING snapshot is stored with one conditional write and read back as WAITING', async () => {
    const snapshot = await suspended('exec-store');
    resetCalls();
    await store.saveSnapshot(snapshot, 3600);
    // With the wait listed for the sweeper, in one request.
    expect(calls).toEqual(['TransactWriteItemsCommand']);
    expect(snapshot.rev).toBe(1);
    expect(await store.getExecution('exec-store')).toMatchObject({ executionId: 'exec-store', status: 'WAITING', branch: 'Waiting' });
    // A second first write of the same execution is refused.
    const again = await suspended('exec-store');
    await expect(store.saveSnapshot(again, 3600)).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('20 concurrent claims of one waiting execution: exactly one wins, every time (30 iterations)', async () => {
    for (let i = 0; i < 30; i++) {
      const executionId = `exec-race-${i}`;
      const snapshot = await suspended(executionId);
      await store.saveSnapshot(snapshot, 3600);
      const claims = await Promise.all(Array.from({ length: 20 }, () => store.claimWait(executionId, snapshot.wait!.waitId, 'payload')));
      const winners = claims.filter((c) => c.claimed);
      expect(winners).toHaveLength(1);
      // The losers learn who won from the failed write itself.
      expect(claims.filter((c) => !c.claimed).every((c) => c.status === 'RUNNING')).toBe(true);
    }
  });

  it('a claim with another wait id, or of an execution that does not exist, does not win', async () => {
    const snapshot = await suspended('exec-wrong-wait');
    await store.saveSnapshot(snapshot, 3600);
    expect(await store.claimWait('exec-wrong-wait', 'not-the-wait', 'payload')).toMatchObject({ claimed: false, status: 'WAITING' });
    expect(await store.claimWait('exec-nobody', 'w', 'payload')).toEqual({ claimed: false });
  });

  it('the winner resumes from the stored JSON to the end; a stale revision is refused', async () => {
    const snapshot = await suspended('exec-resume');
    await store.saveSnapshot(snapshot, 3600);
    const claim = await store.claimWait('exec-resume', snapshot.wait!.waitId, 'payload');
    if (!claim.claimed) throw new Error('the claim should win');
    const stale = structuredClone(claim.snapshot);
    const done = await resume(claim.snapshot, { waitId: snapshot.wait!.waitId, payload: { answer: 42 } }, deps());
    await store.saveSnapshot(done, 3600);
    expect(await store.getExecution('exec-resume')).toMatchObject({ status: 'SUCCEEDED', branch: 'Answered', variables: { answer: 42 } });
    stale.status = 'FAILED';
    await expect(store.saveSnapshot(stale, 3600)).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store.getExecution('exec-resume')).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('through ExecutionService: a run straight through ends once, through the lifecycle (onEnded "run"), its record stored', async () => {
    const plain = await parsed([{ id: 'done', type: 'End', configuration: { outcome: 'Done' } }], { id: 'plain' });
    const flows = readOnlyFlows(plain);
    const ended: string[] = [];
    const service = new ExecutionService({ flows, state: store, http, clock, randomness, onEnded: (result, how) => ended.push(`${how} ${result.status} ${result.branch}`) });
    const result = await service.start('plain', { variables: {} });
    expect(ended).toEqual(['run SUCCEEDED Done']);
    expect(await store.getExecution(result.executionId)).toMatchObject({ status: 'SUCCEEDED', branch: 'Done' });
  });

  it('through ExecutionService: a run that suspends answers WAITING; of racing resumers exactly one continues', async () => {
    const flows = readOnlyFlows(flow);
    const ended: string[] = [];
    const service = new ExecutionService({ flows, state: store, http, clock, randomness, onEnded: (result, how) => ended.push(`${how} ${result.status} ${result.executionId}`) });
    const started = await service.start(flow.id, { variables: {} });
    // The lifecycle's one end point is told nothing while the execution waits.
    expect(ended).toEqual([]);
    expect(started).toMatchObject({ status: 'WAITING' });
    const record = await store.getExecution(started.executionId);
    expect(record?.status).toBe('WAITING');
    const stored = (await store.getSnapshot(started.executionId))!.wait!.waitId;
    expect(stored.startsWith(`${started.executionId}:hold:`)).toBe(true);
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => service.continueWait(started.executionId, { waitId: stored, payload: { answer: n } })));
    expect(answers.filter((a) => a.resumed)).toHaveLength(1);
    expect(await service.get(started.executionId)).toMatchObject({ status: 'SUCCEEDED', branch: 'Answered' });
    const timedOut = await service.continueWait(started.executionId, { waitId: stored, timedOut: true });
    expect(timedOut).toMatchObject({ resumed: false, status: 'SUCCEEDED', settledBy: 'payload' });
    // Exactly once, by the resumer that won.
    expect(ended).toEqual([`continued SUCCEEDED ${started.executionId}`]);
  });
});
