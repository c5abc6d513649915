/**
 * Properties of the expression evaluator over random expressions and random variables (fast-check,
 * bounded runs): it never throws anything but its own typed errors, and never returns a value past
 * the 64 KiB value budget.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonSizeWithin, MAX_VALUE_BYTES } from '#shared/budgets';
import { BudgetExceededError, ExpressionError } from '#shared/errors';
import { evaluate } from '#shared/expressions/evaluator';
import { FUNCTIONS } from '#shared/expressions/functions';

const names = ['a', 'b', 'c', 's', 'list', 'obj'];
const functionNames = Object.keys(FUNCTIONS);
const operators = ['+', '-', '*', '/', '%', '==', '!=', '===', '<', '>=', '&&', '||', '??'];

/** Source text of random expressions from the language's grammar (and a few things outside it). */
const expression: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...names),
    fc.integer({ min: -5, max: 70000 }).map(String),
    fc.string({ maxLength: 8 }).map((t) => JSON.stringify(t)),
    fc.constantFrom("''", 'null', 'true', '__proto__', 'constructor', 'this', '{{a}}', "'{{s}}'", '$'),
    fc.tuple(tie('expr'), fc.constantFrom(...operators), tie('expr')).map(([l, op, r]) => `(${l} ${op} ${r})`),
    fc.tuple(tie('expr'), fc.constantFrom('length', 'x', '0', 'constructor', '__proto__')).map(([o, p]) => `${o}.${p}`),
    fc.tuple(tie('expr'), tie('expr')).map(([o, k]) => `${o}[${k}]`),
    fc.tuple(fc.constantFrom(...functionNames), fc.array(tie('expr'), { maxLength: 3 })).map(([f, args]) => `${f}(${args.join(', ')})`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([t, c, e]) => `(${t} ? ${c} : ${e})`),
    fc.array(tie('expr'), { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
    fc.tuple(fc.constantFrom('!', '-', '+'), tie('expr')).map(([op, e]) => `${op}(${e})`),
  ),
})).expr;

const variables = fc.record({
  a: fc.jsonValue({ maxDepth: 4 }),
  b: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)),
  c: fc.string({ maxLength: 40 }),
  s: fc.integer({ min: 0, max: 40_000 }).map((n) => 'x'.repeat(n)),
  list: fc.array(fc.string({ maxLength: 2000 }), { maxLength: 40 }),
  obj: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
});

describe('evaluator properties (fast-check)', () => {
  it('random expressions over random variables: a value within the budget, or a typed error, never anything else', () => {
    fc.assert(
      fc.property(expression, variables, (source, scope) => {
        let value: unknown;
        try {
          value = evaluate(source, scope);
        } catch (err) {
          expect(err instanceof ExpressionError || err instanceof BudgetExceededError, `${source} threw ${String(err)}`).toBe(true);
          return;
        }
        expect(value).not.toBeUndefined();
        expect(jsonSizeWithin(value, MAX_VALUE_BYTES), source).not.toBe(Infinity);
      }),
      { numRuns: 1500, seed: 7 },
    );
  });
});
