/**
 * Deploy-time validation of flow definitions (docs/architecture.md, "Validation"). The Flow API and
 * `ivrflow validate` run this same code. Every problem is reported, each as
 * `{ code, path, message }`; the message names the offending value (`unknown step type 'Teleport'`,
 * `timeout 999999 is too big: must be <= 30000`, `got "abc"`: a JSON preview of at most 60
 * characters), except where the value may be a secret (passwords, API keys, credentials), whose
 * type only is named.
 *
 * | code | problem |
 * | --- | --- |
 * | INVALID_JSON | the file is not JSON |
 * | INVALID_VALUE | wrong type or format |
 * | MISSING_FIELD | a required key is absent |
 * | UNKNOWN_KEY | a key the schema does not define |
 * | UNKNOWN_STEP_TYPE | `type` is not a registered step type |
 * | UNKNOWN_BRANCH | a branch the step type cannot take |
 * | OUT_OF_BOUNDS | a number outside its range (timeouts, retries, deadline...) |
 * | DUPLICATE_STEP_ID | two steps share an id |
 * | MISSING_STEP | a transition or `startStepId` names no step |
 * | MISSING_FLOW | a SubFlow names a flow that does not exist |
 * | INVALID_SUBFLOW | a SubFlow names a flow that exists but cannot be used (e.g. its file is invalid; see {@link ValidateOptions.flowExists}) |
 * | BAD_EXPRESSION | an expression or `{{ }}` template does not parse |
 * | BAD_BODY_TEMPLATE | a string `body` template that cannot render to JSON (checked with placeholder values) |
 * | BAD_SCHEMA | a DataAPI `validate` JSON Schema that does not compile (e.g. a `pattern` the linear-time regex engine cannot run) |
 * | BAD_JSONPATH | a response mapping JSONPath does not parse |
 * | BAD_URL | a URL that cannot become an absolute http(s) URL |
 * | LITERAL_SECRET | a literal where a secret reference belongs: a credential field or header, or an `api_key`, `apikey`, `access_token`, `client_secret` or `password` query parameter or body field, or a body `Authorization` (shared/http/credential-literals.ts) |
 * | PRIVATE_HOST | a loopback, private or link-local host (unless allowed) |
 * | HOST_NOT_ALLOWED | a host outside `allowedHosts`, or outside the hosts of the connection the step uses |
 * | SECRET_MISUSE | a variable bound to a secret read outside authentication fields and headers |
 * | SECRET_VARIABLE_CONFLICT | a variable bound to a secret that is also an input, an output, a session variable or set by a step |
 * | UNBOUND_SECRET | an inline oauth2 `clientSecret` that is not a `{{ reference }}` to a variable bound in `secrets` |
 * | MISSING_CONNECTION | a step names a connection that does not exist (see {@link ValidateOptions.connection}) |
 * | UNKNOWN_REQUEST | an IntegrationHubExecute `requestName` the connection does not define |
 *
 * Warnings:
 *
 * | code | problem |
 * | --- | --- |
 * | UNREACHABLE_STEP | no transition leads to the step |
 * | UNSET_VARIABLE | a variable is read but never set nor declared in `inputs` |
 * | POSSIBLE_LITERAL_SECRET | a `token`, `key`, `sig` or `signature` query parameter or body field with a literal value of 16 characters or more |
 * | UNRESTRICTED_HOST | an HTTPRequest URL takes its host from a value (`{{base_url}}/x`, `https://{{host}}/x`) and the flow sets no `allowedHosts`: a caller or backend can then send the request, with its credentials, to any public host |
 *
 * `validateFlow` never throws for any input: whatever the value (not an object, steps that are
 * not objects, huge or deeply nested values), the answer is a list of diagnostics.
 */
import * as z from 'zod';
import type { Diagnostic } from '../errors';
import { ExpressionError, FlowValidationError, IvrflowError } from '../errors';
import { compileExpression } from '../expressions/evaluator';
import { compileMapping } from '../expressions/response-mapping';
import { compileTemplate, jsonTemplateProblem } from '../expressions/template';
import { POSSIBLE_SECRET_MIN_LENGTH } from '../http/credential-literals';
import { hostAllowed, isPrivateHost } from '../http/network-policy';
import { compileJsonSchema } from '../steps/data-api';
import { getStepDefinition } from '../steps/registry';
import type { StepAnalysis } from '../steps/types';
import { SYSTEM_VARIABLES } from './inputs';
import { FlowSchema, StepSchema, type Flow, type Step } from './schema';

export interface ValidateOptions {
  /**
   * Answers whether a sub-flow target exists; when absent, sub-flow references are not checked.
   * `true`: it exists; `false`: it does not (`MISSING_FLOW`); a string: it exists but cannot be
   * used, and the string says why; it becomes the message of an `INVALID_SUBFLOW` error as is,
   * so name the flow in it (`flow 'x' (file flows/x.json) is invalid: BAD_URL steps[0]...: ...`).
   * Whatever it throws is thrown by {@link validateFlow} (a store failure is not a flow problem).
   */
  flowExists?: (flowId: string, version?: number) => boolean | string | Promise<boolean | string>;
  /** Accept loopback/private hosts (local development). @default false */
  allowPrivateHosts?: boolean;
  /**
   * The connection a step names: its hosts and request names, or undefined when it does not exist
   * (`MISSING_CONNECTION`). When absent, connection references are not checked. Whatever it throws
   * is thrown by {@link validateFlow}.
   */
  connection?: (name: string) => Promise<{ hosts: string[]; requests: string[] } | undefined>;
}

export interface ValidationResult {
  valid: boolean;
  /** The parsed flow with defaults applied, when valid. */
  flow?: Flow;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Longest preview of a value in a message, in characters. */
const PREVIEW_CHARS = 60;

/** Keys whose values may be credentials: messages name their type, never their value. */
const SECRET_KEY = /password|passwd|secret|token|authorization|api[-_]?key|headervalue|credential|cookie/i;

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** The message of anything thrown. */
function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return 'unknown error';
  }
}

/**
 * A short preview of a value for messages: its JSON (NaN, Infinity, undefined and bigints as
 * written in JavaScript), at most `max` characters, ending with … when cut. Built with a budget,
 * so a huge or deeply nested value costs no more than a small one. Never throws.
 */
export function preview(value: unknown, max = PREVIEW_CHARS): string {
  let out = '';
  const full = () => out.length > max;
  const str = (s: string) => JSON.stringify(s.length > max ? s.slice(0, max + 1) : s);
  const walk = (v: unknown): void => {
    if (full()) return;
    switch (typeof v) {
      case 'string':
        out += str(v);
        return;
      case 'number':
        out += Object.is(v, -0) ? '-0' : String(v);
        return;
      case 'bigint':
        out += `${v}n`;
        return;
      case 'boolean':
        out += String(v);
        return;
      case 'undefined':
        out += 'undefined';
        return;
      case 'symbol':
        out += 'a symbol';
        return;
      case 'function':
        out += 'a function';
        return;
    }
    if (v === null) {
      out += 'null';
      return;
    }
    if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length && !full(); i++) {
        if (i > 0) out += ',';
        walk(v[i]);
      }
      out += ']';
      return;
    }
    out += '{';
    let first = true;
    for (const key of Object.keys(v as object)) {
      if (full()) break;
      if (!first) out += ',';
      first = false;
      out += `${str(key)}:`;
      walk((v as Record<string, unknown>)[key]);
    }
    out += '}';
  };
  try {
    walk(value);
  } catch {
    return `a value of type ${typeof value}`;
  }
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}

/** A string for messages, quoted with '', cut to the preview length. */
function quoted(s: string): string {
  return `'${s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS - 1)}…` : s}'`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/** A URL's user information (`https://user:password@host`) is never repeated in a message. */
function hideUserinfo(text: string): string {
  return text.replace(/\/\/[^/?#\s"]*@/g, '//***@');
}

/** `got <preview>`, or only the kind of value where the key may hold a secret. */
function got(value: unknown, path: ReadonlyArray<PropertyKey>): string {
  const secret = path.some((k) => typeof k === 'string' && SECRET_KEY.test(k));
  return secret ? `got ${kindOf(value)} (not shown: it may be a secret)` : `got ${hideUserinfo(preview(value))}`;
}

/** The name of a field for messages: its last key, with the indexes after it (`allowedHosts[0]`). */
function fieldName(path: ReadonlyArray<PropertyKey>): string {
  let i = path.length;
  while (i > 0 && typeof path[i - 1] === 'number') i--;
  return i === 0 ? (path.length === 0 ? 'the flow' : formatPath(path)) : formatPath(path.slice(i - 1));
}

/** Context for messages about one step. */
interface IssueContext {
  /** The step's `type`, when it is a registered one. */
  stepType?: string;
}

/** zod issues of any definition (a connection...) as diagnostics, with the same messages as a flow's (values under secret-like keys never shown). */
export function diagnosticsOf(issues: readonly z.core.$ZodIssue[]): Diagnostic[] {
  return issues.flatMap((i) => mapIssue(i, []));
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
      return issue.keys.map((key) => ({
        code: inBranches ? 'UNKNOWN_BRANCH' : 'UNKNOWN_KEY',
        path: formatPath([...path, key]),
        message: inBranches ? `unknown branch ${quoted(key)}${allowed}` : `unknown key ${quoted(key)}`,
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

const FlowShell = FlowSchema.extend({ steps: z.array(z.unknown()).min(1).max(1000) });
const PARSE = { reportInput: true } as const;

/** Carries an error thrown by a caller's callback through the safety net of {@link validateFlow}. */
class CallbackFailure extends Error {
  constructor(readonly error: unknown) {
    super('a validateFlow callback failed');
  }
}

/** Reads an own property of a value of unknown shape; undefined for anything else. Never throws. */
function own(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Validates a flow definition (already parsed from JSON). Never throws for any `raw` value.
 * @returns every error and warning; `flow` (defaults applied) when there is no error.
 * @throws only what `options.flowExists` throws.
 * @example const { valid, errors } = await validateFlow(JSON.parse(text), { allowPrivateHosts: true });
 */
export async function validateFlow(raw: unknown, options: ValidateOptions = {}): Promise<ValidationResult> {
  try {
    return await check(raw, options);
  } catch (err) {
    if (err instanceof CallbackFailure) throw err.error;
    // A safety net: a bug here must not become a 500 or a crashed CLI; the flow is refused.
    return { valid: false, errors: [{ code: 'INVALID_VALUE', path: '', message: `the flow could not be checked: ${messageOf(err)}` }], warnings: [] };
  }
}

async function check(raw: unknown, options: ValidateOptions): Promise<ValidationResult> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const shell = FlowShell.safeParse(raw, PARSE);
  if (!shell.success) errors.push(...shell.error.issues.flatMap((i) => mapIssue(i, [])));
  else if (shell.data.finishReserveMs !== undefined && shell.data.finishReserveMs >= shell.data.deadlineMs) {
    errors.push({ code: 'INVALID_VALUE', path: 'finishReserveMs', message: `finishReserveMs (${shell.data.finishReserveMs}) must be below deadlineMs (${shell.data.deadlineMs}): the reserve is kept back from the run's own time` });
  }

  const stepsValue = own(raw, 'steps');
  const rawSteps: unknown[] = Array.isArray(stepsValue) ? stepsValue : [];
  const steps: Array<{ step: Step; index: number }> = [];
  rawSteps.forEach((s, index) => {
    const parsed = StepSchema.safeParse(s, PARSE);
    if (parsed.success) return void steps.push({ step: parsed.data, index });
    const type = own(s, 'type');
    const context: IssueContext = typeof type === 'string' && getStepDefinition(type) ? { stepType: type } : {};
    errors.push(...parsed.error.issues.flatMap((i) => mapIssue(i, ['steps', index], context)));
    // Drop the offending keys and try again, so the rest of the step is still checked.
    const repaired = StepSchema.safeParse(withoutIssues(s, parsed.error.issues));
    if (repaired.success) steps.push({ step: repaired.data, index });
  });

  // Step ids, including those of steps that failed the schema, so one bad step does not cascade.
  const ids = new Map<string, number>();
  rawSteps.forEach((s, index) => {
    const id = own(s, 'id');
    if (typeof id !== 'string') return;
    if (ids.has(id)) errors.push({ code: 'DUPLICATE_STEP_ID', path: `steps[${index}].id`, message: `step id ${quoted(id)} is already used by steps[${ids.get(id)}]` });
    else ids.set(id, index);
  });
  const missingStep = (path: string, target: string) => {
    if (!ids.has(target)) errors.push({ code: 'MISSING_STEP', path, message: `no step has id ${quoted(target)}` });
  };
  // Transitions are checked on every step, parsed or not.
  rawSteps.forEach((s, index) => {
    const next = own(s, 'next');
    const branches = own(s, 'branches');
    if (typeof next === 'string') missingStep(`steps[${index}].next`, next);
    if (branches && typeof branches === 'object' && !Array.isArray(branches)) {
      for (const [branch, target] of Object.entries(branches)) if (typeof target === 'string') missingStep(`steps[${index}].branches.${branch}`, target);
    }
  });
  const startStepId = own(raw, 'startStepId');
  if (typeof startStepId === 'string') missingStep('startStepId', startStepId);
  const hostsValue = own(raw, 'allowedHosts');
  const allowedHosts = Array.isArray(hostsValue) ? (hostsValue as unknown[]).filter((h): h is string => typeof h === 'string') : undefined;

  const reads = new Map<string, string>();
  const sets = new Set<string>(SYSTEM_VARIABLES);
  const inputsValue = own(raw, 'inputs');
  // Entries are names or { name, ... }; what is neither was reported by the schema.
  const inputs = Array.isArray(inputsValue) ? (inputsValue as unknown[]).map((e) => (typeof e === 'string' ? e : own(e, 'name'))) : [];
  const sessionVariables = own(own(raw, 'session'), 'variables');
  for (const v of [...inputs, ...(Array.isArray(sessionVariables) ? (sessionVariables as unknown[]) : [])]) {
    if (typeof v === 'string') sets.add(v);
  }
  const edges = new Map<string, string[]>();
  const secretBindings = own(raw, 'secrets');
  const secretNames = new Set(secretBindings && typeof secretBindings === 'object' && !Array.isArray(secretBindings) ? Object.keys(secretBindings) : []);
  const outputs = own(raw, 'outputs');
  for (const v of [...inputs, ...(Array.isArray(outputs) ? (outputs as unknown[]) : []), ...(Array.isArray(sessionVariables) ? (sessionVariables as unknown[]) : []), ...SYSTEM_VARIABLES]) {
    if (typeof v === 'string' && secretNames.has(v))
      errors.push({ code: 'SECRET_VARIABLE_CONFLICT', path: `secrets.${v}`, message: `variable ${quoted(v)} is bound to a secret, so it cannot also be a built-in variable, an input, an output or a session variable` });
  }

  for (const { step, index } of steps) {
    const base = `steps[${index}]`;
    const targets: string[] = [...(step.next ? [step.next] : []), ...Object.values(step.branches ?? {}).filter((t): t is string => typeof t === 'string')];
    edges.set(step.id, targets);
    const cfg = `${base}.configuration`;
    let analysis: StepAnalysis;
    try {
      analysis = getStepDefinition(step.type)!.analyze(step.configuration);
    } catch (err) {
      // e.g. a body nested so deep that walking it overflows the stack.
      errors.push({ code: 'INVALID_VALUE', path: cfg, message: `the configuration cannot be analyzed: ${messageOf(err)}` });
      continue;
    }
    for (const ref of analysis.stepRefs ?? []) {
      missingStep(`${cfg}.${ref.path}`, ref.stepId);
      targets.push(ref.stepId);
    }
    const localTo = new Map((analysis.locals ?? []).map((l) => [l.name, l.paths.map((p) => `${cfg}.${p}`)]));
    const note = (names: Iterable<string>, path: string, credential = false) => {
      for (const n of names) {
        if (localTo.get(n)?.some((p) => path === p || path.startsWith(`${p}.`))) continue;
        if (!reads.has(n)) reads.set(n, path);
        if (!credential && secretNames.has(n)) errors.push({ code: 'SECRET_MISUSE', path, message: `variable ${quoted(n)} is bound to a secret: it may be used only in authentication fields and headers` });
      }
    };
    /** A compile error's message, with the source when the message does not quote it. */
    const sourceProblem = (err: unknown, source: string) => {
      const message = messageOf(err);
      return message.includes(source) ? message : `${message}; in ${preview(source)}`;
    };
    const badTemplates = new Set<string>();
    for (const e of analysis.expressions ?? []) {
      try {
        note(compileExpression(e.source).variables, `${cfg}.${e.path}`);
      } catch (err) {
        errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${e.path}`, message: sourceProblem(err, e.source) });
      }
    }
    for (const t of [...(analysis.templates ?? []), ...(analysis.urls ?? [])]) {
      try {
        note(compileTemplate(t.text).variables, `${cfg}.${t.path}`, 'credential' in t && t.credential === true);
      } catch (err) {
        badTemplates.add(t.path);
        errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${t.path}`, message: sourceProblem(err, t.text) });
      }
    }
    for (const t of analysis.jsonTemplates ?? []) {
      if (badTemplates.has(t.path)) continue; // already reported as BAD_EXPRESSION
      let problem: string | undefined;
      try {
        problem = jsonTemplateProblem(t.text);
      } catch (err) {
        if (err instanceof ExpressionError) {
          errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${t.path}`, message: sourceProblem(err, t.text) });
          continue;
        }
        problem = messageOf(err); // e.g. a body over the length budget
      }
      if (problem !== undefined) {
        errors.push({ code: 'BAD_BODY_TEMPLATE', path: `${cfg}.${t.path}`, message: `${t.path} must render to JSON but does not (checked with placeholder values): ${problem}; in ${preview(t.text)}` });
      }
    }
    for (const s of analysis.jsonSchemas ?? []) {
      try {
        compileJsonSchema(s.schema);
      } catch (err) {
        const message = err instanceof IvrflowError && err.code === 'BAD_SCHEMA' ? err.message : `JSON Schema does not compile: ${messageOf(err)}`;
        errors.push({ code: 'BAD_SCHEMA', path: `${cfg}.${s.path}`, message });
      }
    }
    for (const m of analysis.mappings ?? []) {
      try {
        compileMapping(m.source);
      } catch (err) {
        errors.push({ code: m.source.trim().startsWith('$') ? 'BAD_JSONPATH' : 'BAD_EXPRESSION', path: `${cfg}.${m.path}`, message: sourceProblem(err, m.source) });
      }
    }
    for (const u of analysis.urls ?? []) checkUrl(u.text, `${cfg}.${u.path}`, options, allowedHosts, errors, warnings);
    for (const s of analysis.secrets ?? []) {
      if (s.value.trim() !== '' && !s.value.includes('{{')) {
        // The value itself is never repeated: it is a secret.
        errors.push({ code: 'LITERAL_SECRET', path: `${cfg}.${s.path}`, message: 'a literal secret is not allowed here (its value is not shown); reference a variable or connection with {{ }}' });
      }
    }
    for (const l of analysis.credentialLiterals ?? []) {
      if (l.certain) errors.push({ code: 'LITERAL_SECRET', path: `${cfg}.${l.path}`, message: `${l.where} has a literal credential (its value is not shown): bind it in the flow's secrets and reference it with {{ }}, or use a connection` });
      else
        warnings.push({
          code: 'POSSIBLE_LITERAL_SECRET',
          path: `${cfg}.${l.path}`,
          message: `${l.where} has a literal value of ${POSSIBLE_SECRET_MIN_LENGTH} characters or more (not shown): if it is a credential, bind it in the flow's secrets and reference it with {{ }}`,
        });
    }
    for (const b of analysis.boundSecrets ?? []) {
      const name = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(b.value)?.[1];
      if (name === undefined || !secretNames.has(name)) {
        errors.push({
          code: 'UNBOUND_SECRET',
          path: `${cfg}.${b.path}`,
          message: `must be a {{ reference }} to a variable bound in the flow's secrets (e.g. "secrets": { "oauth_client_secret": { "secretId": "crm-oauth", "key": "clientSecret" } })`,
        });
      }
    }
    for (const c of analysis.connectionRefs ?? []) {
      if (!options.connection) continue;
      let connection: { hosts: string[]; requests: string[] } | undefined;
      try {
        connection = await options.connection(c.name);
      } catch (err) {
        throw new CallbackFailure(err);
      }
      if (!connection) {
        errors.push({ code: 'MISSING_CONNECTION', path: `${cfg}.${c.path}`, message: `connection ${quoted(c.name)} does not exist` });
        continue;
      }
      if (c.requestName && !connection.requests.includes(c.requestName.name)) {
        const known = connection.requests.length ? `; its requests: ${connection.requests.slice(0, 10).map(quoted).join(', ')}` : '; it defines no requests';
        errors.push({ code: 'UNKNOWN_REQUEST', path: `${cfg}.${c.requestName.path}`, message: `connection ${quoted(c.name)} has no request ${quoted(c.requestName.name)}${known}` });
      }
      const host = c.url ? literalHost(c.url.text) : undefined;
      if (c.url && host !== undefined && !hostAllowed(host, connection.hosts)) {
        errors.push({ code: 'HOST_NOT_ALLOWED', path: `${cfg}.${c.url.path}`, message: `host ${host} is not one of connection ${quoted(c.name)} hosts: ${connection.hosts.slice(0, 5).map(quoted).join(', ')}` });
      }
    }
    for (const f of analysis.flowRefs ?? []) {
      if (!options.flowExists) continue;
      let answer: boolean | string;
      try {
        answer = await options.flowExists(f.flowId, f.version);
      } catch (err) {
        throw new CallbackFailure(err);
      }
      const flow = `flow ${quoted(f.flowId)}${f.version ? ` version ${f.version}` : ''}`;
      if (typeof answer === 'string') errors.push({ code: 'INVALID_SUBFLOW', path: `${cfg}.${f.path}`, message: answer || `${flow} exists but is invalid` });
      else if (!answer) errors.push({ code: 'MISSING_FLOW', path: `${cfg}.${f.path}`, message: `${flow} does not exist` });
    }
    for (const v of analysis.sets ?? []) {
      if (secretNames.has(v)) errors.push({ code: 'SECRET_VARIABLE_CONFLICT', path: cfg, message: `the step sets ${quoted(v)}, a variable bound to a secret` });
      sets.add(v);
    }
  }
  for (const name of secretNames) sets.add(name);

  if (steps.length === rawSteps.length && steps.length > 0) {
    const start = typeof startStepId === 'string' ? startStepId : steps[0]!.step.id;
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length) {
      const id = queue.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(...(edges.get(id) ?? []));
    }
    for (const { step, index } of steps) {
      if (!seen.has(step.id)) warnings.push({ code: 'UNREACHABLE_STEP', path: `steps[${index}]`, message: `step ${quoted(step.id)} cannot be reached from ${quoted(start)}` });
    }
    for (const [name, path] of reads) {
      if (!sets.has(name)) warnings.push({ code: 'UNSET_VARIABLE', path, message: `variable ${quoted(name)} is read but never set; declare it in inputs` });
    }
  }

  if (errors.length > 0 || !shell.success) return { valid: false, errors, warnings };
  const full = FlowSchema.safeParse(raw, PARSE);
  if (!full.success) return { valid: false, errors: full.error.issues.flatMap((i) => mapIssue(i, [])), warnings };
  return { valid: true, flow: full.data, errors, warnings };
}

/** The host of a URL template whose origin is literal (`https://crm.example.com/x/{{id}}`); undefined when a value chooses it. */
function literalHost(text: string): string | undefined {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/([^/?#{]*)(?=[/?#]|$)/i.exec(text);
  if (!origin) return undefined;
  try {
    return new URL(`http://${origin[1]}`).hostname;
  } catch {
    return undefined;
  }
}

function checkUrl(text: string, path: string, options: ValidateOptions, allowedHosts: string[] | undefined, errors: Diagnostic[], warnings: Diagnostic[]): void {
  const templateAt = text.indexOf('{{');
  const origin = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(text);
  if (!origin && templateAt !== 0) {
    errors.push({ code: 'BAD_URL', path, message: `URL must be absolute (http:// or https://) or start with a {{ reference }}; got ${hideUserinfo(preview(text))}` });
    return;
  }
  // `{{` before the end of the authority: the host (or port, or user) comes from a value, so it is
  // checked at run time only, against allowedHosts when the flow sets them.
  if (templateAt !== -1 && (!origin || templateAt < origin[0].length)) {
    if (!allowedHosts) {
      warnings.push({
        code: 'UNRESTRICTED_HOST',
        path,
        message: `URL ${hideUserinfo(preview(text))} takes its host from a value and the flow sets no allowedHosts: a caller or backend can then send this request, and its credentials, to any public host; set allowedHosts to the hosts this flow may call`,
      });
    }
    return;
  }
  let url: URL;
  try {
    url = new URL(text.replace(/\{\{[\s\S]*?\}\}/g, 'x'));
  } catch {
    errors.push({ code: 'BAD_URL', path, message: `not a valid URL: got ${hideUserinfo(preview(text))}` });
    return;
  }
  if (url.username !== '' || url.password !== '') {
    errors.push({ code: 'BAD_URL', path, message: 'a URL must not carry credentials (user:password@); use authentication' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({ code: 'BAD_URL', path, message: `scheme must be http or https, got ${url.protocol}` });
    return;
  }
  if (!options.allowPrivateHosts && isPrivateHost(url.hostname)) {
    errors.push({ code: 'PRIVATE_HOST', path, message: `host ${url.hostname} is loopback, private or link-local` });
  }
  if (allowedHosts && !hostAllowed(url.hostname, allowedHosts)) {
    errors.push({ code: 'HOST_NOT_ALLOWED', path, message: `host ${url.hostname} is not in allowedHosts: ${allowedHosts.slice(0, 5).map(quoted).join(', ')}${allowedHosts.length > 5 ? ', …' : ''}` });
  }
}

/**
 * Validates and returns the flow.
 * @throws FlowValidationError (422) listing every problem.
 */
export async function parseFlow(raw: unknown, options: ValidateOptions = {}): Promise<Flow> {
  const result = await validateFlow(raw, options);
  if (!result.flow) throw new FlowValidationError(result.errors);
  return result.flow;
}
