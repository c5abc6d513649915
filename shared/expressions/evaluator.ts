/**
 * The expression language (README.md, "Flow format"): a small JavaScript-like language parsed with
 * jsep and interpreted here. Supported: literals, arrays, variables and dotted/indexed paths
 * (`customer_profile.id`, `$.data[0]`), `.length`, `! - +` (unary), `+ - * / %`, comparisons,
 * `== != === !==`, `&& || ??`, `?:`, and calls to the whitelisted {@link FUNCTIONS}.
 *
 * Safety: no `eval`/`Function`, no method calls on values, no `this`, no assignment; reading
 * `constructor`, `__proto__` or `prototype` is an error, and only own properties are visible.
 * Null-safety (the empty-array case: `$.data[0]` on `{"data": []}` is null): a missing variable, a
 * missing field or an out-of-range index is `null`, never an exception; `<`/`>`/`<=`/`>=` with a
 * null side are false, so a timed-out call (status null) never looks like `status < 500`.
 *
 * `{{ x }}` inside an expression is a reference to `x`, never text pasted into code: outside
 * quotes it is the value of `x`; inside a quoted string (`'{{dtmf_input}}'`) it is its text.
 */
import jsep from 'jsep';
import { checkStringLength, checkValue } from '../budgets';
import { ExpressionError } from '../errors';
import { FUNCTIONS, TEXT_FUNCTION, toText, type FunctionContext } from './functions';
import { setJsonPathScriptEvaluator } from './jsonpath';

type Node = jsep.Expression;

/** A parsed, checked expression; `variables` are the root names it reads (for validation). */
export interface CompiledExpression {
  readonly source: string;
  readonly ast: Node;
  readonly variables: ReadonlySet<string>;
}

/** Where variables come from. Only own properties are read. */
export type Scope = Readonly<Record<string, unknown>>;

const FORBIDDEN_PROPERTIES = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
const ALLOWED_BINARY = new Set(['||', '??', '&&', '==', '!=', '===', '!==', '<', '>', '<=', '>=', '+', '-', '*', '/', '%']);
const ALLOWED_UNARY = new Set(['-', '!', '+']);
const MAX_SOURCE_LENGTH = 4096;
const MAX_DEPTH = 64;

/** Splits `text` on `{{ … }}`, quote-aware inside the braces. Returns literal/expression parts. */
export function splitTemplate(text: string): Array<{ literal: string } | { expr: string; start: number }> {
  const parts: Array<{ literal: string } | { expr: string; start: number }> = [];
  let i = 0;
  let literal = '';
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open === -1) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, open);
    const close = findClose(text, open);
    if (literal) parts.push({ literal });
    literal = '';
    const expr = text.slice(open + 2, close).trim();
    if (expr === '') throw new ExpressionError(`empty '{{ }}' at character ${open}`);
    parts.push({ expr, start: open });
    i = close + 2;
  }
  if (literal) parts.push({ literal });
  return parts;
}

/** Rewrites `{{ x }}` references inside an expression's source into plain references. */
function rewriteReferences(source: string): string {
  if (!source.includes('{{')) return source;
  let out = '';
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === '\\' ? 2 : 1;
      if (j >= source.length) throw new ExpressionError(`unterminated string starting at character ${i}`);
      const body = source.slice(i + 1, j);
      if (body.includes('{{')) {
        const pieces = splitTemplate(body).map((p) => ('literal' in p ? `${ch}${p.literal}${ch}` : `${TEXT_FUNCTION}((${p.expr}))`));
        out += `(${ch}${ch} + ${pieces.join(' + ')})`;
      } else out += source.slice(i, j + 1);
      i = j + 1;
    } else if (ch === '{' && source[i + 1] === '{') {
      const end = findClose(source, i);
      out += `(${source.slice(i + 2, end).trim()})`;
      i = end + 2;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function findClose(source: string, open: number): number {
  let quote: string | null = null;
  for (let j = open + 2; j < source.length; j++) {
    const ch = source[j];
    if (quote) {
      if (ch === '\\') j++;
      else if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '}' && source[j + 1] === '}') return j;
  }
  throw new ExpressionError(`unclosed '{{' at character ${open}`);
}

function check(node: Node, vars: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH) throw new ExpressionError('expression is nested too deeply');
  switch (node.type) {
    case 'Literal':
      if (node.value instanceof RegExp) throw new ExpressionError('regular expressions are not supported');
      return;
    case 'Identifier': {
      const name = node.name as string;
      if (FORBIDDEN_PROPERTIES.has(name)) throw new ExpressionError(`'${name}' is not accessible`);
      if (name !== 'undefined') vars.add(name);
      return;
    }
    case 'MemberExpression': {
      check(node.object as Node, vars, depth + 1);
      const property = node.property as Node;
      if (node.computed) check(property, vars, depth + 1);
      else if (FORBIDDEN_PROPERTIES.has(property.name as string)) throw new ExpressionError(`'${property.name as string}' is not accessible`);
      return;
    }
    case 'CallExpression': {
      const callee = node.callee as Node;
      if (callee.type !== 'Identifier') throw new ExpressionError('only whitelisted functions can be called (no method calls)');
      const name = callee.name as string;
      if (name !== TEXT_FUNCTION && !Object.hasOwn(FUNCTIONS, name)) {
        throw new ExpressionError(`unknown function '${name}'; available: ${Object.keys(FUNCTIONS).join(', ')}`);
      }
      for (const arg of node.arguments as Node[]) check(arg, vars, depth + 1);
      return;
    }
    case 'UnaryExpression':
      if (!ALLOWED_UNARY.has(node.operator as string)) throw new ExpressionError(`operator '${node.operator as string}' is not supported`);
      check(node.argument as Node, vars, depth + 1);
      return;
    case 'BinaryExpression':
      if (!ALLOWED_BINARY.has(node.operator as string)) throw new ExpressionError(`operator '${node.operator as string}' is not supported`);
      check(node.left as Node, vars, depth + 1);
      check(node.right as Node, vars, depth + 1);
      return;
    case 'ConditionalExpression':
      check(node.test as Node, vars, depth + 1);
      check(node.consequent as Node, vars, depth + 1);
      check(node.alternate as Node, vars, depth + 1);
      return;
    case 'ArrayExpression':
      for (const el of node.elements as Array<Node | null>) if (el) check(el, vars, depth + 1);
      return;
    case 'Compound':
      throw new ExpressionError('only one expression is allowed (no ; or ,)');
    case 'ThisExpression':
      throw new ExpressionError("'this' is not accessible");
    default:
      throw new ExpressionError(`unsupported syntax: ${node.type}`);
  }
}

const cache = new Map<string, CompiledExpression>();
const CACHE_LIMIT = 5000;

/**
 * Parses and checks an expression (cached by source).
 * @throws ExpressionError with the reason and position, for syntax errors, unknown functions,
 *   forbidden properties or unsupported operators.
 * @example compileExpression("{{http_status_code}} >= 500")
 */
export function compileExpression(source: string): CompiledExpression {
  const hit = cache.get(source);
  if (hit) return hit;
  if (typeof source !== 'string' || source.trim() === '') throw new ExpressionError('expression is empty');
  if (source.length > MAX_SOURCE_LENGTH) throw new ExpressionError(`expression is longer than ${MAX_SOURCE_LENGTH} characters`);
  let ast: Node;
  try {
    ast = jsep(rewriteReferences(source));
  } catch (cause) {
    if (cause instanceof ExpressionError) throw new ExpressionError(`${cause.message} in ${JSON.stringify(source)}`);
    throw new ExpressionError(`does not parse: ${(cause as Error).message} in ${JSON.stringify(source)}`, { cause });
  }
  const variables = new Set<string>();
  try {
    check(ast, variables, 0);
  } catch (cause) {
    throw new ExpressionError(`${(cause as Error).message} in ${JSON.stringify(source)}`);
  }
  const compiled: CompiledExpression = { source, ast, variables };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(source, compiled);
  return compiled;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `key` of `target` with the language's null-safe, own-property-only rules. */
export function getMember(target: unknown, key: unknown): unknown {
  if (target === null || target === undefined) return null;
  if (typeof key === 'string' && FORBIDDEN_PROPERTIES.has(key)) throw new ExpressionError(`'${key}' is not accessible`);
  if (Array.isArray(target) || typeof target === 'string') {
    if (key === 'length') return target.length;
    const index = typeof key === 'number' ? key : typeof key === 'string' && /^\d+$/.test(key) ? Number(key) : NaN;
    if (!Number.isInteger(index) || index < 0 || index >= target.length) return null;
    return (target as ArrayLike<unknown>)[index] ?? null;
  }
  if (isPlainObject(target)) {
    const k = typeof key === 'number' ? String(key) : key;
    if (typeof k !== 'string' || !Object.hasOwn(target, k)) return null;
    return target[k] ?? null;
  }
  return null;
}

function truthy(v: unknown): boolean {
  return Boolean(v);
}

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === null || v === undefined) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v.trim() === '' ? 0 : Number(v);
  return NaN;
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function looseEquals(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined) return b === null || b === undefined;
  if (b === null || b === undefined) return false;
  if (typeof a === 'number' && typeof b === 'string') return b.trim() !== '' && Number(b) === a;
  if (typeof a === 'string' && typeof b === 'number') return a.trim() !== '' && Number(a) === b;
  return a === b;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return false;
  let x: number | string;
  let y: number | string;
  if (typeof a === 'string' && typeof b === 'string') {
    x = a;
    y = b;
  } else {
    x = num(a);
    y = num(b);
    if (Number.isNaN(x) || Number.isNaN(y)) return false;
  }
  switch (op) {
    case '<':
      return x < y;
    case '>':
      return x > y;
    case '<=':
      return x <= y;
    default:
      return x >= y;
  }
}

function binary(op: string, left: unknown, right: () => unknown): unknown {
  switch (op) {
    case '&&':
      return truthy(left) ? right() : left;
    case '||':
      return truthy(left) ? left : right();
    case '??':
      return left === null || left === undefined ? right() : left;
  }
  const r = right();
  switch (op) {
    case '==':
      return looseEquals(left, r);
    case '!=':
      return !looseEquals(left, r);
    case '===':
      return left === r;
    case '!==':
      return left !== r;
    case '<':
    case '>':
    case '<=':
    case '>=':
      return compare(op, left, r);
    case '+':
      if (typeof left === 'string' || typeof r === 'string') {
        const a = toText(left);
        const b = toText(r);
        checkStringLength(a.length + b.length, "the result of '+'");
        return a + b;
      }
      return finite(num(left) + num(r));
    case '-':
      return finite(num(left) - num(r));
    case '*':
      return finite(num(left) * num(r));
    case '/':
      return finite(num(left) / num(r));
    case '%':
      return finite(num(left) % num(r));
  }
  throw new ExpressionError(`operator '${op}' is not supported`);
}

function run(node: Node, scope: Scope, ctx: FunctionContext): unknown {
  switch (node.type) {
    case 'Literal':
      return node.value ?? null;
    case 'Identifier': {
      const name = node.name as string;
      return Object.hasOwn(scope, name) ? (scope[name] ?? null) : null;
    }
    case 'MemberExpression': {
      const target = run(node.object as Node, scope, ctx);
      const property = node.property as Node;
      const key = node.computed ? run(property, scope, ctx) : property.name;
      return getMember(target, key);
    }
    case 'CallExpression': {
      const name = (node.callee as Node).name as string;
      const args = (node.arguments as Node[]).map((a) => run(a, scope, ctx));
      if (name === TEXT_FUNCTION) return toText(args[0]);
      const fn = FUNCTIONS[name];
      if (!fn) throw new ExpressionError(`unknown function '${name}'`);
      const result = fn(ctx, ...args) ?? null;
      checkValue(result, `the result of ${name}()`);
      return result;
    }
    case 'UnaryExpression': {
      const v = run(node.argument as Node, scope, ctx);
      if (node.operator === '!') return !truthy(v);
      if (node.operator === '-') return finite(-num(v));
      return finite(num(v));
    }
    case 'BinaryExpression':
      return binary(node.operator as string, run(node.left as Node, scope, ctx), () => run(node.right as Node, scope, ctx));
    case 'ConditionalExpression':
      return truthy(run(node.test as Node, scope, ctx)) ? run(node.consequent as Node, scope, ctx) : run(node.alternate as Node, scope, ctx);
    case 'ArrayExpression': {
      const array = (node.elements as Array<Node | null>).map((el) => (el ? run(el, scope, ctx) : null));
      checkValue(array, 'an array literal');
      return array;
    }
    default:
      throw new ExpressionError(`unsupported syntax: ${node.type}`);
  }
}

const defaultContext: FunctionContext = { now: () => Date.now() };

/**
 * Evaluates an expression (source or compiled) against a scope of variables.
 * @returns the value; `null` for anything missing (never `undefined`).
 * @throws ExpressionError for a source that does not compile; BudgetExceededError when a value it
 *   makes would pass 64 KiB or 64 levels (checked before large strings are allocated).
 * @example evaluate("$.data && $.data.length > 0 ? $.data[0] : null", { $: { data: [] } }) // null
 */
export function evaluate(expression: string | CompiledExpression, scope: Scope, ctx: FunctionContext = defaultContext): unknown {
  const compiled = typeof expression === 'string' ? compileExpression(expression) : expression;
  return run(compiled.ast, scope, ctx);
}

setJsonPathScriptEvaluator((code, context) => evaluate(code, context));
