/**
 * `DataAPI` (the transformation layer before an HTTP step: normalize and validate input):
 * - `evaluate`: `expression` → `outputVariable` (default `result`);
 * - `assign`: `variables` `{ name: value }`, string values rendered as templates (a value that is
 *   exactly `{{ expr }}` keeps its type), other JSON values rendered leaf by leaf;
 * - `validate`: checks `input` (an expression, default the whole variable set) against a JSON
 *   Schema (draft-07 via Ajv; `pattern`s on a linear-time engine); sets `outputVariable` (default
 *   `is_valid`) to a boolean and `validation_errors` to a list of `{ path, message }`.
 * Branches: OnSuccess, OnError (an expression that fails at run time).
 */
import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import * as z from 'zod';
import { MAX_VARIABLES_BYTES } from '../budgets';
import { IvrflowError, isFlowFailure } from '../errors';
import { failureTypeOf, stepFailure } from '../flow/failures';
import { evaluate } from '../expressions/evaluator';
import { renderJsonValue, templatesIn } from '../expressions/template';
import { Expression, VariableName } from './common';
import { defineStep, type StepContext, type StepOutcome } from './types';

/** The configuration of a `DataAPI` step, one of its operations: `evaluate`, `assign` or `validate`. */
export const DataApiConfig = z.lazy(() =>
  z.discriminatedUnion('operation', [
    z.object({ operation: z.literal('evaluate'), expression: Expression, outputVariable: VariableName.default('result') }).strict(),
    z.object({ operation: z.literal('assign'), variables: z.record(VariableName, z.unknown()) }).strict(),
    z
      .object({
        operation: z.literal('validate'),
        schema: z.record(z.string(), z.unknown()).describe('A JSON Schema'),
        input: Expression.optional().describe('What to validate; default: all variables'),
        outputVariable: VariableName.default('is_valid'),
      })
      .strict(),
  ]),
);
/** The configuration of a `DataAPI` step, defaults applied. */
export type DataApiConfig = z.infer<typeof DataApiConfig>;

/**
 * Ajv and re2js, loaded on first use: only a DataAPI `validate` needs them, so they stay out of
 * every function's bundle and cold start (about 270 KB minified; shipped beside the bundle:
 * `lazyModules` in functions/manifest.ts).
 */
let schemaLibraries: Promise<{ Ajv: typeof import('ajv').Ajv; re2: ((pattern: string, flags: string) => { test(text: string): boolean }) & { code: string } }> | undefined;
function loadSchemaLibraries(): NonNullable<typeof schemaLibraries> {
  return (schemaLibraries ??= Promise.all([import('ajv'), import('re2js')]).then(([{ Ajv }, { RE2JS }]) => {
    /**
     * JSON Schema `pattern`s come from flows, so they run on RE2's linear-time engine (re2js, a pure
     * JavaScript port of RE2, through Ajv's `code.regExp` option): no pattern can backtrack
     * catastrophically. Patterns RE2 does not support (back-references, look-around) fail to compile.
     */
    const re2 = (pattern: string, flags: string) => {
      const re = RE2JS.compile(pattern, flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
      return { test: (text: string) => re.test(text) };
    };
    return { Ajv, re2: Object.assign(re2, { code: 'RE2JS' }) };
  }));
}

/** Compiled validators by schema text: a schema with an `$id` compiled again (e.g. after the flow cache refreshed) reuses its validator. */
const validators = new LRUCache<string, ValidateFunction>({ max: 500 });
/** The same by schema object, so that running a step does not serialise its schema every time. */
const bySchemaObject = new WeakMap<object, ValidateFunction>();

/**
 * Compiles a JSON Schema (cached by its JSON text). Each schema gets an Ajv instance of its own,
 * so two flows' schemas with the same `$id` never collide.
 * @throws IvrflowError `BAD_SCHEMA` when Ajv rejects the schema or RE2 a `pattern` in it.
 */
export async function compileJsonSchema(schema: object): Promise<ValidateFunction> {
  const known = bySchemaObject.get(schema);
  if (known) return known;
  const key = JSON.stringify(schema);
  let fn = validators.get(key);
  if (!fn) {
    const { Ajv, re2 } = await loadSchemaLibraries();
    try {
      fn = new Ajv({ allErrors: true, strict: false, code: { regExp: re2 } }).compile(schema);
    } catch (cause) {
      throw new IvrflowError('BAD_SCHEMA', `JSON Schema does not compile: ${(cause as Error).message}`, { cause });
    }
    validators.set(key, fn);
  }
  bySchemaObject.set(schema, fn);
  return fn;
}

/** The `DataAPI` step type: evaluates, assigns or validates variables; branches OnSuccess, OnError. */
export const dataApiStep = defineStep<DataApiConfig>({
  type: 'DataAPI',
  configSchema: DataApiConfig,
  branches: ['OnSuccess', 'OnError'],
  analyze(c) {
    switch (c.operation) {
      case 'evaluate':
        return { expressions: [{ path: 'expression', source: c.expression }], sets: [c.outputVariable] };
      case 'assign':
        return { templates: templatesIn(c.variables, 'variables'), sets: Object.keys(c.variables) };
      case 'validate':
        return { expressions: c.input ? [{ path: 'input', source: c.input }] : [], jsonSchemas: [{ path: 'schema', schema: c.schema }], sets: [c.outputVariable, 'validation_errors'] };
    }
  },

  execute(step, ctx): StepOutcome | Promise<StepOutcome> {
    const c = step.configuration;
    try {
      switch (c.operation) {
        case 'evaluate':
          return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: { [c.outputVariable]: evaluate(c.expression, ctx.variables, ctx.functions) } };
        case 'assign':
          return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: renderJsonValue(c.variables, ctx.variables, ctx.functions, MAX_VARIABLES_BYTES) as Record<string, unknown> };
        case 'validate':
          return validateStep(c, ctx).catch(failedOutcome);
      }
    } catch (err) {
      return failedOutcome(err);
    }
  },
});

/** A DataAPI `validate`: the input checked against the step's JSON Schema (compiled on first use). */
async function validateStep(c: Extract<DataApiConfig, { operation: 'validate' }>, ctx: StepContext): Promise<StepOutcome> {
  const input = c.input ? evaluate(c.input, ctx.variables, ctx.functions) : { ...ctx.variables };
  const validate = await compileJsonSchema(c.schema);
  const ok = validate(input);
  const errors = ok ? [] : (validate.errors ?? []).map((e) => ({ path: e.instancePath || '/', message: e.message ?? 'invalid' }));
  return { branch: 'OnSuccess', status: 'SUCCEEDED', variables: { [c.outputVariable]: ok, validation_errors: errors } };
}

/** A flow failure (an expression failing at run time) as the step's OnError; an engine fault is rethrown. */
function failedOutcome(err: unknown): StepOutcome {
  if (!isFlowFailure(err)) throw err;
  return { branch: 'OnError', status: 'FAILED', trace: { error: stepFailure(failureTypeOf(err), err.message) } };
}
