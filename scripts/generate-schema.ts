/**
 * Writes `flow.schema.json` (the JSON Schema editors use for flow files) from the zod schema the
 * code validates with. `npm run schema`; test/unit/flow/json-schema.test.ts checks it is current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { flowJsonSchema } from '#shared/flow/json-schema';

const target = fileURLToPath(new URL('../flow.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(flowJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
