import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { flowJsonSchema } from '#shared/flow/json-schema';

const committed = JSON.parse(readFileSync(new URL('../../../flow.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('flow.schema.json', () => {
  it('is the schema generated from the code (run `npm run schema` after changing a step schema)', () => {
    expect(committed).toEqual(flowJsonSchema());
  });

  it('accepts the example flows and rejects a broken one, as an editor would', () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(committed);
    for (const name of ['customer-lookup-ivr', 'crm-integration']) {
      const flow = JSON.parse(readFileSync(new URL(`../../../examples/flows/${name}.json`, import.meta.url), 'utf8')) as unknown;
      expect(validate(flow), JSON.stringify(validate.errors)).toBe(true);
    }
    expect(validate({ id: 'x', name: 'x', steps: [{ id: 'a', type: 'SendFax', configuration: {} }] })).toBe(false);
    // Typed inputs beside plain names.
    const end = [{ id: 'a', type: 'End', configuration: {} }];
    expect(validate({ id: 'x', name: 'x', inputs: ['note', { name: 'dtmf_input', type: 'string', required: true }], steps: end }), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ id: 'x', name: 'x', inputs: [{ name: 'dtmf_input', type: 'date' }], steps: end })).toBe(false);
  });
});
