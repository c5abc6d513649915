import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { checkTestFile, testFileJsonSchema } from '#shared/testing/test-file';

const committed = JSON.parse(readFileSync(new URL('../../../flow-test.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** A file with every key at once, as the format's reference example. */
const EVERYTHING = {
  flow: 'customer-lookup-ivr.json',
  flows: '.',
  connections: '../connections',
  workflowConfigurations: '../workflow-configurations',
  secrets: { 'crm-oauth': { clientId: 'test-id', clientSecret: 'test-secret' } },
  now: '2026-01-01T09:00:00Z',
  seed: 1,
  cases: [
    {
      name: 'platinum caller goes to the priority queue',
      variables: { dtmf_input: '4155550100' },
      deadlineMs: 3000,
      agents: { 'A-17': { joined: true } },
      circuits: { 'subflow-integration/http-customer-lookup': 'open' },
      tokens: { crm: { status: 200, body: { access_token: 't', expires_in: 3600 } } },
      mocks: {
        'subflow-integration/http-customer-lookup': { status: 200, body: { status: 'FOUND', data: [] } },
        'subflow-integration/http-ticket': [{ timeout: true }, { status: 201, delayMs: 400, body: {} }],
        'payment-job': { status: 202, callback: { afterMs: 1500, body: { result: 'done' } } },
        refused: { error: 'ECONNREFUSED' },
        never: { status: 202, callback: null },
      },
      expect: {
        status: 'SUCCEEDED',
        branch: 'PriorityQueue',
        path: ['subflow-integration', 'subflow-integration/transform-payload', 'route-caller', 'priority-queue'],
        variables: { route: 'priority-agent' },
        error: { code: 'BUDGET_EXCEEDED' },
        maxElapsedMs: 2500,
        requests: { 'subflow-integration/http-customer-lookup': [{ method: 'GET', url: 'https://crm.example.com/v2/accounts?phone=%2B14155550100', headers: { 'x-api-key': 'k' } }] },
        trace: { 'subflow-integration/http-ticket': { attempts: 2 } },
      },
    },
  ],
};

describe('the flow test file format', () => {
  it('flow-test.schema.json is the schema generated from the code (run `npm run schema` after changing it)', () => {
    expect(committed).toEqual(testFileJsonSchema());
  });

  it('accepts a file with every key, in the checker and in an editor (the shipped JSON Schema)', () => {
    expect(checkTestFile(EVERYTHING).errors).toEqual([]);
    const validate = new Ajv2020({ strict: false }).compile(committed);
    expect(validate(EVERYTHING), JSON.stringify(validate.errors)).toBe(true);
    expect(checkTestFile({ flow: 'f.json', cases: [{ name: 'minimal' }] }).errors).toEqual([]);
  });

  it('refuses unknown keys at every level, naming the JSON path', () => {
    const r = checkTestFile({ flow: 'f.json', colour: 1, cases: [{ name: 'a', mock: {}, expect: { stauts: 'SUCCEEDED' } }] });
    expect(r.errors.map((e) => `${e.code} ${e.path}`).sort()).toEqual(['UNKNOWN_KEY cases[0].expect.stauts', 'UNKNOWN_KEY cases[0].mock', 'UNKNOWN_KEY colour']);
  });

  it('refuses what is missing or malformed: flow, cases, names, mock answers, step paths, timestamps; never throws', () => {
    const codes = (raw: unknown) => checkTestFile(raw).errors.map((e) => `${e.code} ${e.path}`);
    expect(codes({ cases: [] })).toEqual(expect.arrayContaining(['MISSING_FIELD flow', expect.stringMatching(/ cases$/)]));
    expect(codes({ flow: 'f.json', cases: [{ name: 'same' }, { name: 'same' }] })).toEqual(['INVALID_VALUE cases[1].name']);
    expect(codes({ flow: 'f.json', cases: [{ name: 'x', mocks: { a: { status: 999 }, 'b//c': { status: 200 }, d: { timeout: false }, e: { error: 'EPIPE' }, f: [] } }] }).sort()).toEqual(
      ['OUT_OF_BOUNDS cases[0].mocks.a.status', 'INVALID_VALUE cases[0].mocks.b//c', 'INVALID_VALUE cases[0].mocks.d', 'INVALID_VALUE cases[0].mocks.e', 'INVALID_VALUE cases[0].mocks.f'].sort(),
    );
    expect(codes({ flow: 'f.json', now: 'yesterday', cases: [{ name: 'x' }] })).toEqual(['INVALID_VALUE now']);
    for (const raw of [null, 42, 'text', [], { flow: {}, cases: {} }]) expect(checkTestFile(raw).errors.length).toBeGreaterThan(0);
  });
});
