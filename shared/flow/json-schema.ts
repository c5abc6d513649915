/** JSON Schema of flow files, generated from {@link FlowSchema} (zod 4 `toJSONSchema`). */
import * as z from 'zod';
import { FlowSchema } from './schema';

/** The JSON Schema (draft 2020-12) of a flow file, as input (defaults are optional). */
export function flowJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(FlowSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://ivrflow.dev/schemas/flow.schema.json', title: 'ivrflow flow definition' };
}
