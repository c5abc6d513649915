/**
 * The structure of a flow definition (docs/architecture.md, "Validation"): the schema's problems
 * (zod issues) as diagnostics (INVALID_VALUE, MISSING_FIELD, UNKNOWN_KEY, UNKNOWN_STEP_TYPE,
 * UNKNOWN_BRANCH, OUT_OF_BOUNDS), the flow's shell parsed apart from its steps and each step parsed
 * alone, so one bad step does not hide the problems of the others.
 */
import * as z from 'zod';
import type { Diagnostic } from '../../errors';
import { getStepDefinition } from '../../steps/registry';
import { FlowSchema, StepSchema, type Step } from '../schema';
import type { ValidationResult } from './context';
import { fieldName, formatPath, got, kindOf, own, preview, quoted, SECRET_KEY } from './messages';

/** Context for messages about one definition or step. */
interface IssueContext {
  /** The step's `type`, when it is a registered one. */
  stepType?: string;
  /** The schema the issues' paths start at, the value it parsed, and the length of the prefix before it (2 for `steps[i]`): an unknown key's message then lists the keys valid there. */
  schema?: { type: z.ZodType; input: unknown; prefix?: number };
}

/**
 * zod issues of any definition (a connection...) as diagnostics, with the same messages as a
 * flow's (values under secret-like keys never shown). Given the schema and the value it parsed,
 * an unknown key's message names the keys valid at its place (and the closest one).
 */
export function diagnosticsOf(issues: readonly z.core.$ZodIssue[], schema?: { type: z.ZodType; input: unknown }): Diagnostic[] {
  return issues.flatMap((i) => mapIssue(i, [], schema ? { schema } : {}));
}

/** The schema a `z.lazy` stands for, built once (zod caches it; `unwrap()` would build another). */
function builtOf(type: z.ZodLazy): z.ZodType {
  return type._zod.innerType as z.ZodType;
}

/**
 * The keys an object may have at `path` of `input` parsed by `schema`, or undefined when the
 * schema there is not one object (a union whose form the input does not pick, a record...).
 * Optional, default, nullable and lazy wrappers are looked through; records and arrays step into their
 * value; a discriminated union takes the form the input's discriminator names.
 */
export function validKeysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] | undefined {
  let type: z.ZodType | undefined = schema;
  let value = input;
  for (let i = 0; ; i++) {
    for (;;) {
      if (type instanceof z.ZodOptional || type instanceof z.ZodNullable || type instanceof z.ZodDefault) type = type.unwrap() as z.ZodType;
      else if (type instanceof z.ZodLazy) type = builtOf(type);
      else if (type instanceof z.ZodPipe) type = type.in as z.ZodType;
      else if (type instanceof z.ZodUnion) {
        const discriminator: unknown = (type.def as { discriminator?: unknown }).discriminator;
        const tag: unknown = typeof discriminator === 'string' ? own(value, discriminator) : undefined;
        const options: z.ZodType[] = (type.options as z.ZodType[]).map((o) => (o instanceof z.ZodLazy ? builtOf(o) : o));
        type = tag === undefined ? undefined : options.find((o) => o instanceof z.ZodObject && (o.shape as Record<string, z.ZodType>)[discriminator as string]?.safeParse(tag).success);
        if (!type) return undefined;
      } else break;
    }
    if (i === path.length) return type instanceof z.ZodObject ? Object.keys(type.shape) : undefined;
    const key = path[i]!;
    if (type instanceof z.ZodObject) type = (type.shape as Record<string, z.ZodType | undefined>)[String(key)];
    else if (type instanceof z.ZodRecord) type = type.valueType as z.ZodType;
    else if (type instanceof z.ZodArray) type = type.element as z.ZodType;
    else return undefined;
    if (!type) return undefined;
    value = typeof key === 'symbol' ? undefined : own(value, String(key));
  }
}

/** The valid key closest to `key` by edit distance (Levenshtein), when it is close enough to be a typo (at most a third of its length). */
function closestKey(key: string, valid: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of valid) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.max(1, Math.floor(Math.max(key.length, best.key.length) / 3)) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.abs(a.length - b.length) + 64;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

function mapIssue(issue: z.core.$ZodIssue, prefix: ReadonlyArray<PropertyKey>, context: IssueContext = {}): Diagnostic[] {
  const path = [...prefix, ...(Array.isArray(issue.path) ? issue.path : [])];
  const at = formatPath(path);
  try {
    return describeIssue(issue, path, at, context);
  } catch {
    return [{ code: 'INVALID_VALUE', path: at, message: typeof issue.message === 'string' ? issue.message : 'invalid value' }];
  }
}

function describeIssue(issue: z.core.$ZodIssue, path: PropertyKey[], at: string, context: IssueContext): Diagnostic[] {
  const hasInput = 'input' in issue && issue.input !== undefined;
  const input: unknown = hasInput ? issue.input : undefined;
  const name = fieldName(path);
  const gotInput = hasInput ? `; ${got(input, path)}` : '';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const inBranches = path[path.length - 1] === 'branches';
      const definition = context.stepType === undefined ? undefined : getStepDefinition(context.stepType);
      const allowed = definition ? `; ${definition.type} steps take ${[...definition.branches, 'Default'].join(', ')}` : ': not one this step type can take';
      const valid = inBranches || !context.schema ? undefined : validKeysAt(context.schema.type, path.slice(context.schema.prefix ?? 0), context.schema.input);
      const keysHint = (key: string) => {
        if (!valid) return '';
        const closest = closestKey(key, valid);
        return `${closest ? ` (did you mean ${quoted(closest)}?)` : ''}; valid keys here: ${valid.join(', ')}`;
      };
      return issue.keys.map((key) => ({
        code: inBranches ? 'UNKNOWN_BRANCH' : 'UNKNOWN_KEY',
        path: formatPath([...path, key]),
        message: inBranches ? `unknown branch ${quoted(key)}${allowed}` : `unknown key ${quoted(key)}${keysHint(key)}`,
      }));
    }
    case 'invalid_union': {
      const discriminator = 'discriminator' in issue && typeof issue.discriminator === 'string' ? issue.discriminator : undefined;
      const options = 'options' in issue && Array.isArray(issue.options) ? issue.options.map(String).join(', ') : '';
      if (discriminator !== undefined) {
        const holder = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : undefined;
        const value = holder && Object.hasOwn(holder, discriminator) ? holder[discriminator] : undefined;
        // A step's own `type` (path steps[i].type, or `type` of a lone step).
        if (discriminator === 'type' && isStepTypePath(path)) {
          const what = value === undefined ? 'step type is missing' : typeof value === 'string' ? `unknown step type ${quoted(value)}` : `step type must be a string, ${got(value, path)}`;
          return [{ code: 'UNKNOWN_STEP_TYPE', path: at, message: `${what}; known types: ${options}` }];
        }
        const what = value === undefined ? 'is missing' : typeof value === 'string' ? `${quoted(value)} is not allowed` : got(value, path);
        return [{ code: 'INVALID_VALUE', path: at, message: `${discriminator} must be one of ${options}; ${what}` }];
      }
      // A plain union (a string body or a JSON value...): name the types it takes.
      const branches = 'errors' in issue && Array.isArray(issue.errors) ? (issue.errors as z.core.$ZodIssue[][]) : [];
      // An object matching the keys of exactly one form (e.g. `{ type: ... }` or `{ connection }`): that form's problems.
      const fitting = typeof input === 'object' && input !== null ? branches.filter((b) => !b.some((i) => i.code === 'unrecognized_keys')) : [];
      if (fitting.length === 1) return fitting[0]!.flatMap((i) => mapIssue(i, path, context));
      const expected = [...new Set(branches.flat().flatMap((i) => (i.code === 'invalid_type' && i.path.length === 0 ? [i.expected] : [])))];
      if (expected.length > 0 && expected.length === branches.length) {
        return [{ code: 'INVALID_VALUE', path: at, message: `${name} must be ${expected.map(article).join(' or ')}${hasInput ? `, ${got(input, path)}` : ''}` }];
      }
      // Only the kind of an object is named: one that fits no form may still hold a secret.
      return [{ code: 'INVALID_VALUE', path: at, message: `${name} fits none of its allowed forms${hasInput ? `; got ${kindOf(input)}` : ''}` }];
    }
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const limit = big ? (issue as { maximum?: unknown }).maximum : (issue as { minimum?: unknown }).minimum;
      const inclusive = (issue as { inclusive?: boolean }).inclusive !== false;
      const op = big ? (inclusive ? '<=' : '<') : inclusive ? '>=' : '>';
      const bound = typeof limit === 'bigint' || typeof limit === 'number' ? String(limit) : '?';
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') {
        const shown = path.some((k) => typeof k === 'string' && SECRET_KEY.test(k)) ? '' : ` ${preview(input)}`;
        return [{ code: 'OUT_OF_BOUNDS', path: at, message: `${name}${shown} is too ${big ? 'big' : 'small'}: must be ${op} ${bound}` }];
      }
      if (issue.origin === 'string' && typeof input === 'string') {
        return [{ code: 'INVALID_VALUE', path: at, message: `${name} is too ${big ? 'long' : 'short'}: ${input.length} characters, ${big ? 'at most' : 'at least'} ${bound} allowed; ${got(input, path)}` }];
      }
      if (issue.origin === 'array' && Array.isArray(input)) {
        return [{ code: 'INVALID_VALUE', path: at, message: `${name} has too ${big ? 'many' : 'few'} items: ${input.length}, ${big ? 'at most' : 'at least'} ${bound} allowed` }];
      }
      return [{ code: 'INVALID_VALUE', path: at, message: `${issue.message}${gotInput}` }];
    }
    case 'invalid_type':
      if (!hasInput && issue.message.includes('received undefined')) {
        return [{ code: 'MISSING_FIELD', path: at, message: `required (${issue.expected})` }];
      }
      return [{ code: 'INVALID_VALUE', path: at, message: `${name} must be ${article(issue.expected)}, ${got(input, path)}` }];
    case 'invalid_value': {
      const values = Array.isArray(issue.values) ? issue.values.map((v) => preview(v, 40)) : [];
      const expected = values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(', ')}`;
      return [{ code: 'INVALID_VALUE', path: at, message: `${name} ${expected}${gotInput}` }];
    }
    default:
      return [{ code: 'INVALID_VALUE', path: at, message: `${issue.message}${gotInput}` }];
  }
}

/** `steps[i].type` or, for a step validated alone, `type`: where a step's own type sits. */
function isStepTypePath(path: ReadonlyArray<PropertyKey>): boolean {
  return (path.length === 3 && path[0] === 'steps' && typeof path[1] === 'number' && path[2] === 'type') || (path.length === 1 && path[0] === 'type');
}

/** `a string`, `an object` (zod's `record` is a JSON object). */
function article(expected: string): string {
  const noun = expected === 'record' ? 'object' : expected;
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : `a ${noun}`;
}

/**
 * A copy of `value` without the keys the issues point at (unknown keys, bad values). Only the
 * containers on those paths are copied (each once), so it costs little on large values and never
 * throws (no structuredClone: functions, symbols and other values are kept as they are).
 */
function withoutIssues(value: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  const copies = new WeakSet<object>();
  const copyOf = (v: object): Record<PropertyKey, unknown> => {
    const c = (Array.isArray(v) ? v.slice() : { ...v }) as Record<PropertyKey, unknown>;
    copies.add(c);
    return c;
  };
  const root = copyOf(value);
  for (const issue of issues) {
    const issuePath = Array.isArray(issue.path) ? issue.path : [];
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issuePath, k]) : [issuePath];
    for (const path of paths) {
      if (path.length === 0) continue;
      let target = root;
      let reached = true;
      for (const key of path.slice(0, -1)) {
        const child = Object.hasOwn(target, key) ? target[key] : undefined;
        if (child === null || typeof child !== 'object') {
          reached = false;
          break;
        }
        if (copies.has(child)) target = child as Record<PropertyKey, unknown>;
        else {
          const copy = copyOf(child);
          Object.defineProperty(target, key, { value: copy, writable: true, enumerable: true, configurable: true });
          target = copy;
        }
      }
      if (reached) delete target[path[path.length - 1] as PropertyKey];
    }
  }
  return root;
}

const FlowShell = z.lazy(() => FlowSchema._zod.innerType.extend({ steps: z.array(z.unknown()).min(1).max(1000) }));
const PARSE = { reportInput: true } as const;

/** A step that parsed (maybe once the keys with problems were dropped), with its index in `steps`. */
export interface ParsedStep {
  step: Step;
  index: number;
}

/** Parses the flow without its steps; pushes its problems. @returns whether it parsed. */
export function checkShell(raw: unknown, errors: Diagnostic[]): boolean {
  const shell = FlowShell.safeParse(raw, PARSE);
  if (!shell.success) errors.push(...shell.error.issues.flatMap((i) => mapIssue(i, [], { schema: { type: FlowShell, input: raw } })));
  else if (shell.data.finishReserveMs !== undefined && shell.data.finishReserveMs >= shell.data.deadlineMs) {
    errors.push({ code: 'INVALID_VALUE', path: 'finishReserveMs', message: `finishReserveMs (${shell.data.finishReserveMs}) must be below deadlineMs (${shell.data.deadlineMs}): the reserve is kept back from the run's own time` });
  }
  return shell.success;
}

/**
 * Parses each step alone; pushes their problems.
 * @returns `rawSteps`, the `steps` array as given (empty when it is not an array), and `steps`, those that parsed.
 */
export function parseSteps(raw: unknown, errors: Diagnostic[]): { rawSteps: unknown[]; steps: ParsedStep[] } {
  const stepsValue = own(raw, 'steps');
  const rawSteps: unknown[] = Array.isArray(stepsValue) ? stepsValue : [];
  const steps: ParsedStep[] = [];
  rawSteps.forEach((s, index) => {
    const parsed = StepSchema.safeParse(s, PARSE);
    if (parsed.success) return void steps.push({ step: parsed.data, index });
    const type = own(s, 'type');
    const context: IssueContext = { ...(typeof type === 'string' && getStepDefinition(type) ? { stepType: type } : {}), schema: { type: StepSchema, input: s, prefix: 2 } };
    errors.push(...parsed.error.issues.flatMap((i) => mapIssue(i, ['steps', index], context)));
    // Drop the offending keys and try again, so the rest of the step is still checked.
    const repaired = StepSchema.safeParse(withoutIssues(s, parsed.error.issues));
    if (repaired.success) steps.push({ step: repaired.data, index });
  });
  return { rawSteps, steps };
}

/** The whole flow parsed, defaults applied, once no check found an error. */
export function parseWhole(raw: unknown, errors: Diagnostic[], warnings: Diagnostic[]): ValidationResult {
  const full = FlowSchema.safeParse(raw, PARSE);
  if (!full.success) return { valid: false, errors: full.error.issues.flatMap((i) => mapIssue(i, [])), warnings };
  return { valid: true, flow: full.data, errors, warnings };
}
