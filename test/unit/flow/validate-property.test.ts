import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '#shared/errors';
import { validateFlow, type ValidateOptions, type ValidationResult } from '#shared/flow/validate';
import { STEP_DEFINITIONS } from '#shared/steps/registry';
import { flowOf } from '../../support/flows';

const NUM_RUNS = 200;

/** The shape every answer has, whatever the input; and no input reaches validateFlow's safety net. */
function expectWellFormed(r: ValidationResult): void {
  expect(Array.isArray(r.errors)).toBe(true);
  expect(Array.isArray(r.warnings)).toBe(true);
  for (const d of [...r.errors, ...r.warnings] as Diagnostic[]) {
    expect(typeof d.code).toBe('string');
    expect(typeof d.path).toBe('string');
    expect(typeof d.message).toBe('string');
    expect(d.message).not.toMatch(/^the flow could not be checked/);
  }
  expect(r.valid).toBe(r.errors.length === 0);
  expect(r.flow !== undefined).toBe(r.valid);
}

const weird = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** Values JSON cannot hold (functions, symbols, -0, NaN) inside otherwise ordinary values. */
const exotic = fc.anything({
  values: [fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.constant(undefined), fc.func(fc.integer()), fc.constant(Symbol.for('s')), fc.bigInt()],
});

/** Flow-shaped values: known and unknown step types with arbitrary configurations, so the step schemas are reached. */
const stepTypes = fc.constantFrom(...STEP_DEFINITIONS.map((d) => d.type), 'Teleport');
const flowShaped = fc.record(
  {
    id: fc.oneof(fc.constant('f'), fc.anything()),
    name: fc.oneof(fc.constant('n'), fc.anything()),
    steps: fc.array(
      fc.oneof(
        fc.record(
          { id: fc.oneof(fc.constantFrom('a', 'b'), fc.anything()), type: stepTypes, configuration: fc.oneof(fc.anything(), exotic), next: fc.constantFrom('a', 'b', 'zz'), branches: fc.oneof(fc.anything(), exotic) },
          { requiredKeys: ['type'] },
        ),
        fc.anything(),
      ),
      { maxLength: 4 },
    ),
    allowedHosts: fc.anything(),
    inputs: fc.anything(),
    session: fc.anything(),
    startStepId: fc.anything(),
  },
  { requiredKeys: ['steps'] },
);

describe('validateFlow never throws (property)', () => {
  it('answers any value with well-formed diagnostics', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), weird, exotic, flowShaped), async (raw) => {
        expectWellFormed(await validateFlow(raw));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers huge and deeply nested values', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 50_000; i++) deep = i % 2 ? { a: deep } : [deep];
    const huge = 'y'.repeat(1_000_000);
    for (const raw of [
      deep,
      { ...flowOf([{ id: 'a', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', method: 'POST', body: { deep } } }]) },
      { ...flowOf([{ id: 'a', type: 'DataAPI', configuration: { operation: 'validate', schema: { deep } } }]) },
      { ...flowOf([{ id: 'a', type: 'DataAPI', configuration: { operation: 'assign', variables: { v: deep } } }]) },
      { ...flowOf([{ id: huge, type: huge, configuration: huge, [huge]: 1 }]), name: huge },
      flowOf([{ id: 'a', type: 'HTTPRequest', configuration: { url: `https://${huge}.com/x`, body: huge } }]),
    ]) {
      const r = await validateFlow(raw);
      expect(r.valid).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
      for (const d of r.errors) expect(d.message.length).toBeLessThan(2000);
    }
  });
});

/** Paths of every value inside `root` (root excluded). */
function pathsIn(root: unknown): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [];
  const walk = (v: unknown, path: Array<string | number>) => {
    if (Array.isArray(v)) v.forEach((item, i) => (out.push([...path, i]), walk(item, [...path, i])));
    else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        out.push([...path, k]);
        walk(item, [...path, k]);
      }
    }
  };
  walk(root, []);
  return out;
}

type Mutation = { kind: 'set'; at: number; value: unknown } | { kind: 'delete'; at: number } | { kind: 'add'; at: number; key: string; value: unknown };

/** Applies the mutations in turn; `at` picks a path among those present at that moment. */
function mutate(base: unknown, mutations: Mutation[]): unknown {
  const root = structuredClone(base) as Record<string, unknown>;
  for (const m of mutations) {
    const paths = pathsIn(root);
    if (paths.length === 0) return root;
    const path = paths[m.at % paths.length]!;
    const parent = path.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>;
    const key = path[path.length - 1]!;
    if (m.kind === 'set') parent[key] = m.value;
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else {
      const target = parent[key];
      if (Array.isArray(target)) target.push(m.value);
      else if (target !== null && typeof target === 'object') Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      else parent[key] = { [m.key]: m.value };
    }
  }
  return root;
}

const readFlow = (name: string) => JSON.parse(readFileSync(new URL(`../../../examples/flows/${name}.json`, import.meta.url), 'utf8')) as unknown;
const small = flowOf(
  [
    { id: 'lookup', type: 'HTTPRequest', configuration: { url: 'https://api.example.com/v1/{{id}}', method: 'POST', body: '{"id": "{{id}}", "n": {{n}}}', timeout: 2000 }, branches: { OnSuccess: 'check', OnError: 'done' } },
    { id: 'check', type: 'DataAPI', configuration: { operation: 'validate', input: 'id', schema: { type: 'string', pattern: '^[0-9]+$' } }, next: 'route' },
    { id: 'route', type: 'Condition', configuration: { conditions: [{ expression: 'is_valid', nextStepId: 'child' }], defaultStepId: 'done' } },
    { id: 'child', type: 'SubFlow', configuration: { flowId: 'crm-integration', returnVariables: ['x'] }, next: 'done' },
    { id: 'done', type: 'End', configuration: { outcome: 'Done', outputs: { x: '{{x}}' } } },
  ],
  { inputs: ['id', 'n'], allowedHosts: ['api.example.com'] },
);
const bases: Array<[string, unknown]> = [
  ['customer-lookup-ivr', readFlow('customer-lookup-ivr')],
  ['crm-integration', readFlow('crm-integration')],
  ['small', small],
];
const options: ValidateOptions = { allowPrivateHosts: true, flowExists: (id) => (id === 'crm-integration' ? true : id === 'broken' ? "flow 'broken' (file broken.json) is invalid: X y: z" : false) };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.oneof(fc.anything(), fc.constantFrom('broken', '{{x}}', '{{', 'https://{{h}}/x', 'OnFoo', 999999, -1, '', null)) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.string(), fc.constantFrom('foo', 'OnFoo', '__proto__', 'constructor', 'next', 'branches')), value: fc.anything() }),
);

describe('mutations of valid flows (property)', () => {
  it.each(bases)('%s is valid before mutation', async (_name, base) => {
    expect((await validateFlow(base, options)).errors).toEqual([]);
  });

  it('never throw, and an invalid mutant lists at least one error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...bases.map(([, b]) => b)), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (base, mutations) => {
        const r = await validateFlow(mutate(base, mutations), options);
        expectWellFormed(r);
        if (!r.valid) expect(r.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
