/**
 * Writes `flow.schema.json` and `flow-test.schema.json` (the JSON Schemas editors use for flow
 * files and flow test files) from the zod schemas the code validates with. `npm run schema`;
 * test/unit/flow/json-schema.test.ts checks they are current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { flowJsonSchema } from '#shared/flow/json-schema';
import { testFileJsonSchema } from '#shared/testing/test-file';

for (const [name, schema] of [
  ['flow.schema.json', flowJsonSchema()],
  ['flow-test.schema.json', testFileJsonSchema()],
] as const) {
  const target = fileURLToPath(new URL(`../${name}`, import.meta.url));
  writeFileSync(target, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${target}`);
}
