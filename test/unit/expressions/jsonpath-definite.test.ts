/** Definite JSONPaths are walked directly; they must find exactly what jsonpath-plus finds. */
import { JSONPath } from 'jsonpath-plus';
import { describe, expect, it } from 'vitest';
import { queryJsonPath } from '#shared/expressions/jsonpath';

const docs: unknown[] = [
  { data: [{ id: 'ACC-1', attributes: { loyalty_tier: 'GOLD', support_tickets: 0, none: null } }], 'a b': { c: 1 }, '0': 'zero' },
  [{ id: 1 }, [2, 3]],
  { data: 'text', n: 5, nested: { list: [] } },
  Object.assign(Object.create(null) as object, { own: 1 }),
  { e: '', z: 0, f: false, data: 'text' },
];
const paths = [
  '$',
  '$.data',
  '$.data[0].id',
  '$.data[0].attributes.loyalty_tier',
  '$.data[0].attributes.support_tickets',
  '$.data[0].attributes.none',
  '$.data[1].id',
  '$.data.length',
  '$.data[0].attributes.missing',
  "$['a b'].c",
  '$["a b"]',
  '$[0]',
  '$[0].id',
  '$[1][1]',
  '$[2]',
  '$.length',
  '$.n.toFixed',
  '$.data.length',
  '$.nested.list.length',
  '$.own',
  '$.toString',
  '$.constructor',
  '$.__proto__',
  '$.e.length',
  '$.z.toFixed',
  '$.f',
  '$.data[0]',
];

describe('definite JSONPaths', () => {
  it('give what jsonpath-plus gives (its first match, or null), for objects, arrays, strings, numbers and inherited names', () => {
    for (const json of docs) {
      for (const path of paths) {
        const expected = (JSONPath({ path, json: json as object, wrap: true, eval: false }) as unknown[])[0] ?? null;
        expect(queryJsonPath(json, path), `${path} over ${JSON.stringify(json)}`).toEqual(expected);
      }
    }
  });
});
