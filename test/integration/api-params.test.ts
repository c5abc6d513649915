/**
 * Path parameters and pagination cursors are checked at the edge: a malformed one is a 400 naming
 * it, never a DynamoDB ValidationException surfacing as a 500.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCircuitStore } from '#shared/stores/dynamodb/circuit-store';
import { api, startTestStack, type ApiBody } from '../support/local';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
let base: string;
beforeAll(async () => {
  stack = await startTestStack();
  base = stack.api.url;
});
afterAll(async () => stack.close());

const flow = (id: string) => ({ id, name: `Flow ${id}`, steps: [{ id: 'end', type: 'End', configuration: { outcome: 'done' } }] });
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const longId = 'a'.repeat(3000);
/** base64url of a well-formed FLOW key, padded with trailing JSON whitespace to `length` characters. */
function paddedCursor(length: number): string {
  const json = JSON.stringify({ pk: 'FLOW#a', sk: 'LATEST', kind: 'FLOW', id: 'a' });
  const cursor = b64(json.padEnd((length / 4) * 3, ' '));
  if (cursor.length !== length) throw new Error(`padded cursor has ${cursor.length} characters`);
  return cursor;
}

function expectInvalid(r: { status: number; body: ApiBody }, name: string) {
  expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(400);
  expect(r.body.error.code).toBe('INVALID_PARAMETER');
  expect(r.body.error.message).toContain(name);
  expect(r.body.error.message.length).toBeLessThan(300);
}

describe('path parameters', () => {
  it('a 3,000-character flow id is a 400 INVALID_PARAMETER on every flow route', async () => {
    expectInvalid(await api(base, 'GET', `/flows/${longId}`), 'flowId');
    expectInvalid(await api(base, 'GET', `/flows/${longId}?version=1`), 'flowId');
    expectInvalid(await api(base, 'PUT', `/flows/${longId}`, flow('x')), 'flowId');
    expectInvalid(await api(base, 'PUT', `/flows/${longId}`, { name: 'no id in the body', steps: [] }), 'flowId');
    expectInvalid(await api(base, 'DELETE', `/flows/${longId}`), 'flowId');
    expectInvalid(await api(base, 'POST', `/flows/${longId}/executions`, {}), 'flowId');
  });

  it('a flow id outside [A-Za-z0-9_.-] is a 400, and the message shows only its start', async () => {
    const r = await api(base, 'GET', `/flows/${encodeURIComponent('has space')}`);
    expectInvalid(r, 'flowId');
    expect(r.body.error.message).toContain("got 'has space'");
    const long = await api(base, 'GET', `/flows/${'b'.repeat(200)}`);
    expect(long.body.error.message).toContain(`got '${'b'.repeat(40)}…'`);
    expectInvalid(await api(base, 'POST', `/flows/${encodeURIComponent('a/b')}/executions`, {}), 'flowId');
  });

  it('valid flow ids still work (128 characters, dots, dashes, underscores)', async () => {
    const id = `A.b-c_${'9'.repeat(122)}`;
    expect(id).toHaveLength(128);
    expect((await api(base, 'PUT', `/flows/${id}`, flow(id))).status).toBe(201);
    expect((await api(base, 'GET', `/flows/${id}`)).body).toMatchObject({ id, version: 1 });
    const run = await api(base, 'POST', `/flows/${id}/executions`, {});
    expect(run.status).toBe(200);
    expect((await api(base, 'GET', `/executions/${run.body.executionId}`)).body).toMatchObject({ executionId: run.body.executionId, flowId: id });
    expect((await api(base, 'DELETE', `/flows/${id}`)).status).toBe(204);
    expect((await api(base, 'GET', `/flows/${'x'.repeat(129)}`)).status).toBe(400);
  });

  it('execution ids: 3,000 characters or odd characters are a 400; an unknown UUID a 404', async () => {
    expectInvalid(await api(base, 'GET', `/executions/${longId}`), 'executionId');
    expectInvalid(await api(base, 'GET', `/executions/${encodeURIComponent('a\nb')}`), 'executionId');
    expectInvalid(await api(base, 'GET', `/executions/${encodeURIComponent('a b')}`), 'executionId');
    expect((await api(base, 'GET', `/executions/${randomUUID()}`)).status).toBe(404);
  });

  it('circuit keys: 5,000 characters or control characters are a 400; a default key (spaces, slashes, braces) is looked up', async () => {
    expectInvalid(await api(base, 'GET', `/circuits/${'k'.repeat(5000)}`), 'key');
    expectInvalid(await api(base, 'DELETE', `/circuits/${'k'.repeat(5000)}`), 'key');
    expectInvalid(await api(base, 'GET', `/circuits/${encodeURIComponent('a\u0000b')}`), 'key');
    expect((await api(base, 'GET', `/circuits/${'k'.repeat(1024)}`)).status).toBe(404);
    expect((await api(base, 'GET', `/circuits/${encodeURIComponent('GET crm.example.com/v2/accounts/{{id}}')}`)).status).toBe(404);
  });
});

describe('pagination cursors', () => {
  const bad: Array<[string, string]> = [
    ['not base64url', '!!not*base64!!'],
    ['base64 of text that is not JSON', b64('hello')],
    ['base64 of []', b64([])],
    ['base64 of null', b64(null)],
    ['base64 of {"pk":5}', b64({ pk: 5 })],
    ['base64 of {"pk":"x"}', b64({ pk: 'x' })],
    ['a key with an extra attribute', b64({ pk: 'FLOW#a', sk: 'LATEST', kind: 'FLOW', id: 'a', extra: 'x' })],
    ['a key with a number where a string belongs', b64({ pk: 'FLOW#a', sk: 'LATEST', kind: 'FLOW', id: 1 })],
    ['a key with a 2,000-character id', b64({ pk: 'FLOW#a', sk: 'LATEST', kind: 'FLOW', id: 'i'.repeat(2000) })],
    ['a 10,000-character cursor of garbage', 'A'.repeat(10_000)],
    ['a 10,000-character cursor of a well-formed key (padded with JSON whitespace)', paddedCursor(10_000)],
  ];

  it.each(bad)('/flows: %s → 400 BAD_CURSOR', async (_, cursor) => {
    const r = await api(base, 'GET', `/flows?cursor=${encodeURIComponent(cursor)}`);
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(400);
    expect(r.body.error.code).toBe('BAD_CURSOR');
  });

  it.each(bad)('/circuits: %s → 400 BAD_CURSOR', async (_, cursor) => {
    const r = await api(base, 'GET', `/circuits?cursor=${encodeURIComponent(cursor)}`);
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(400);
    expect(r.body.error.code).toBe('BAD_CURSOR');
  });

  it("another listing's cursor is refused: a CIRCUIT cursor on /flows, a FLOW cursor on /circuits", async () => {
    const circuit = b64({ pk: 'CIRCUIT#crm', sk: 'CIRCUIT', kind: 'CIRCUIT', id: 'crm' });
    const flowKey = b64({ pk: 'FLOW#a', sk: 'LATEST', kind: 'FLOW', id: 'a' });
    expect((await api(base, 'GET', `/flows?cursor=${circuit}`)).body.error).toMatchObject({ code: 'BAD_CURSOR' });
    expect((await api(base, 'GET', `/circuits?cursor=${flowKey}`)).body.error).toMatchObject({ code: 'BAD_CURSOR' });
  });

  it('real cursors returned by the API still page through every flow and every circuit', async () => {
    const ids = ['cur-a', 'cur-b', 'cur-c', 'cur-d', 'cur-e'];
    for (const id of ids) expect((await api(base, 'PUT', `/flows/${id}`, flow(id))).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api(base, 'GET', `/flows?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((i: { id: string }) => i.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(expect.arrayContaining(ids));
    expect(new Set(seen).size).toBe(seen.length);

    const circuits = new DynamoCircuitStore({ tableName: stack.config.stateTable, client: stack.client });
    const keys = ['GET crm.example.com/v2/accounts/{{id}}', 'k1', 'k2'];
    for (const key of keys) await circuits.addFailure(key, Date.now());
    const seenKeys: string[] = [];
    cursor = undefined;
    do {
      const page = await api(base, 'GET', `/circuits?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seenKeys.push(...page.body.items.map((i: { key: string }) => i.key));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seenKeys.sort()).toEqual([...keys].sort());
  });
});
