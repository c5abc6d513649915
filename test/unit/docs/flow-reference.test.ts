/**
 * docs/flow-reference.md against the code: every step type with each configuration key and branch,
 * every top-level flow key, the session block, every expression function (each example run and its
 * result compared), every connection key, the credentials marked write-only.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { ConnectionInput, ConnectionRequest, CREDENTIAL_FIELDS } from '#shared/connections/connection';
import { evaluate } from '#shared/expressions/evaluator';
import { FUNCTIONS } from '#shared/expressions/functions';
import { FlowSchema, SessionConfig } from '#shared/flow/schema';
import { STEP_DEFINITIONS } from '#shared/steps/registry';

const doc = readFileSync('docs/flow-reference.md', 'utf8');

/** The text of a `## ` or `### ` section, up to the next heading of its level or above. */
function section(title: string): string {
  const start = doc.indexOf(`\n${title}\n`);
  expect(start, `section ${title}`).toBeGreaterThan(-1);
  const level = title.split(' ')[0]!;
  const rest = doc.slice(start + title.length + 2);
  const next = rest.search(new RegExp(`\\n#{2,${level.length}} `));
  return next === -1 ? rest : rest.slice(0, next);
}

/** The keys of an object schema, or of every form of a discriminated union. */
function keysOf(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodLazy) return keysOf(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodUnion) return [...new Set((schema.options as z.ZodType[]).flatMap(keysOf))];
  throw new Error('not an object schema');
}

/** A table's rows as cells (the header and its rule left out). */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| ---'))
    .slice(1)
    .map((l) =>
      l
        .slice(2, -2)
        .split(' | ')
        .map((c) => c.trim()),
    );
}

describe('docs/flow-reference.md', () => {
  it('names every key of the flow', () => {
    const flowKeys = rows(section('## The flow')).map((r) => r[0]);
    expect(flowKeys.sort()).toEqual(
      keysOf(FlowSchema)
        .map((k) => `\`${k}\``)
        .sort(),
    );
  });

  it.each(STEP_DEFINITIONS.map((d) => [d.type, d] as const))('%s: every configuration key in its table, every branch named', (type, definition) => {
    const text = section(`### ${type}`);
    expect(rows(text).map((r) => r[0])).toEqual(keysOf(definition.configSchema).map((k) => `\`${k}\``));
    for (const branch of definition.branches) expect(text).toContain(`\`${branch}\``);
  });

  it('the session block: every key', () => {
    expect(rows(section('## The session block')).map((r) => r[0])).toEqual(keysOf(SessionConfig).map((k) => `\`${k}\``));
  });

  it('every expression function, with an example that gives the result shown', () => {
    const text = section('## Templates and expressions');
    const variables = JSON.parse(/```json\n([\s\S]*?)\n```/.exec(text)![1]!) as Record<string, unknown>;
    const table = rows(text);
    const names = table.map((r) => /^`(\w+)\(/.exec(r[0]!)![1]);
    expect([...names].sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const [signature, , example, result] of table) {
      const expression = example!.slice(1, -1);
      expect(expression.startsWith(`${/^`(\w+)\(/.exec(signature!)![1]}(`), `${signature} is its own example`).toBe(true);
      expect(evaluate(expression, variables, { now: () => 1767225600000 }), expression).toEqual(JSON.parse(result!.slice(1, -1)));
    }
  });

  it('every connection key, authentication form and request key; the credentials marked write-only', () => {
    const text = section('## Connections');
    const [connection, forms, request] = text.split('\n\n').filter((p) => p.startsWith('| '));
    expect(rows(connection!).map((r) => r[0])).toEqual(keysOf(ConnectionInput).map((k) => `\`${k}\``));
    expect(rows(request!).map((r) => r[0])).toEqual(keysOf(ConnectionRequest).map((k) => `\`${k}\``));
    const authentication = ConnectionInput.unwrap().shape.authentication.options.map((o) => o.unwrap());
    expect(rows(forms!).map((r) => r[0])).toEqual(authentication.map((o) => `\`${String(o.shape.type.value)}\``));
    for (const form of authentication) {
      const row = rows(forms!).find((r) => r[0] === `\`${String(form.shape.type.value)}\``)!;
      for (const key of Object.keys(form.shape).filter((k) => k !== 'type')) expect(row[1], `${form.shape.type.value}.${key}`).toContain(`\`${key}\``);
    }
    for (const field of Object.keys(CREDENTIAL_FIELDS)) {
      const key = field.split('.').pop()!;
      // `clientSecret` (**write-only**…, or a table row `webhookSigningSecret` | | **write-only**…
      expect(text, field).toMatch(new RegExp(`\`${key}\`( \\(| \\| \\| )\\*\\*write-only\\*\\*`));
    }
  });
});
