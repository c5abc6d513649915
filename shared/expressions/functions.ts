/**
 * The whitelisted functions an expression may call (README.md, "Flow format"). Nothing else is
 * callable: there is no method call on values, no `eval`, no `Function`.
 *
 * Every function is total: bad input gives `null` (or `false` for predicates), never an
 * exception, so a malformed caller input routes the flow instead of crashing it. The one
 * exception is the value budget: a result that would pass 64 KiB throws BudgetExceededError,
 * checked before the string is built where its size can be predicted (`replaceAll`, `join`).
 */
import { createRequire } from 'node:module';
import { decodeJwt as joseDecodeJwt } from 'jose';
import type { CountryCode } from 'libphonenumber-js';
import { checkStringLength, MAX_JSONPATH_LENGTH } from '../budgets';
import { parseUntrustedJson } from '../json';
import { queryJsonPath } from './jsonpath';

/** What a function may read besides its arguments. `now()` is epoch milliseconds from the injected clock. */
export interface FunctionContext {
  now(): number;
}

/** A function an expression may call: the context, then the call's arguments; returns `null` (or `false` for a predicate) for bad input rather than throwing. */
export type ExpressionFunction = (ctx: FunctionContext, ...args: unknown[]) => unknown;

/** Renders a value as template text: null/undefined → '', objects → JSON, others → String(). */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- what is left is a number, boolean or bigint: values come from JSON and expressions, never functions
  return String(value);
}

function toNumberOrNull(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/**
 * libphonenumber-js with its metadata (about 120 KB minified), required on the first call of a
 * phone function, synchronously as expressions run: a flow without one never loads it. The
 * functions ship it beside their bundle (`lazyModules` in functions/manifest.ts).
 */
let phoneNumbers: typeof import('libphonenumber-js') | undefined;

function phone(value: unknown, region: unknown) {
  const text = toText(value).trim();
  if (text === '' || text.length > 64) return undefined;
  const country = (typeof region === 'string' && /^[A-Z]{2}$/.test(region) ? region : 'US') as CountryCode;
  phoneNumbers ??= createRequire(import.meta.url)('libphonenumber-js') as typeof import('libphonenumber-js');
  try {
    return phoneNumbers.parsePhoneNumberFromString(text, country);
  } catch {
    return undefined;
  }
}

/** How many separators `text.split(needle)` cuts at, counted without allocating the pieces. */
function occurrences(text: string, needle: string): number {
  if (needle === '') return text.length - 1;
  let count = 0;
  for (let i = text.indexOf(needle); i !== -1; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

function str(value: unknown): string | null {
  return value === null || value === undefined ? null : toText(value);
}

const table: Record<string, ExpressionFunction> = {
  /**
   * `formatPhoneNumber(value, region = 'US')` → the E.164 form (`+12125551234`) of a DTMF or
   * free-form number, or null when it is not a valid number for the region (libphonenumber-js).
   */
  formatPhoneNumber: (_ctx, value, region) => {
    const p = phone(value, region);
    return p && p.isValid() ? p.number : null;
  },
  /**
   * `validateE164(value, region = 'US')` → true when the value is, or formats to, a valid E.164
   * number (a flow validates raw DTMF input this way before its HTTP step, as
   * `examples/flows/crm-integration.json` does).
   */
  validateE164: (_ctx, value, region) => {
    const p = phone(value, region);
    return Boolean(p && p.isValid() && /^\+[1-9]\d{1,14}$/.test(p.number));
  },
  encodeUriComponent: (_ctx, value) => encodeURIComponent(toText(value)),
  encodeURIComponent: (_ctx, value) => encodeURIComponent(toText(value)),
  /** `parseJson(text)` → the parsed value, or null when the text is not JSON or nests deeper than 64 levels. */
  parseJson: (_ctx, value) => {
    if (typeof value !== 'string') return value ?? null;
    try {
      return parseUntrustedJson(value, { protectProto: false });
    } catch {
      return null;
    }
  },
  toJson: (_ctx, value) => JSON.stringify(value ?? null),
  /** `decodeJwt(token)` → the JWT's claims (not verified; for expiry checks), or null (jose). */
  decodeJwt: (_ctx, token) => {
    if (typeof token !== 'string') return null;
    try {
      return joseDecodeJwt(token);
    } catch {
      return null;
    }
  },
  /** `currentTimestamp()` → now, in epoch milliseconds (injected clock). */
  currentTimestamp: (ctx) => ctx.now(),
  /** `jsonPath(value, path)` → JSONPath query (jsonpath-plus, no script evaluation); see {@link queryJsonPath}. */
  jsonPath: (_ctx, value, path) => (typeof path === 'string' && path.length <= MAX_JSONPATH_LENGTH ? queryJsonPath(value, path) : null),
  // string helpers
  toUpperCase: (_ctx, v) => str(v)?.toUpperCase() ?? null,
  toLowerCase: (_ctx, v) => str(v)?.toLowerCase() ?? null,
  trim: (_ctx, v) => str(v)?.trim() ?? null,
  /** `digitsOnly(value)` → the value with every non-digit removed (DTMF sanitising). */
  digitsOnly: (_ctx, v) => str(v)?.replace(/\D+/g, '') ?? null,
  substring: (_ctx, v, start, end) => {
    const s = str(v);
    if (s === null) return null;
    return s.substring(toNumberOrNull(start) ?? 0, end === undefined || end === null ? undefined : (toNumberOrNull(end) ?? s.length));
  },
  replaceAll: (_ctx, v, search, replacement) => {
    const s = str(v);
    if (s === null) return null;
    const needle = toText(search);
    const glue = toText(replacement);
    checkStringLength(s.length + Math.max(0, occurrences(s, needle)) * (glue.length - needle.length), 'the result of replaceAll()');
    return s.split(needle).join(glue);
  },
  startsWith: (_ctx, v, prefix) => str(v)?.startsWith(toText(prefix)) ?? false,
  endsWith: (_ctx, v, suffix) => str(v)?.endsWith(toText(suffix)) ?? false,
  includes: (_ctx, v, item) => (Array.isArray(v) ? v.includes(item) : (str(v)?.includes(toText(item)) ?? false)),
  split: (_ctx, v, sep) => str(v)?.split(toText(sep)) ?? null,
  join: (_ctx, v, sep) => {
    if (!Array.isArray(v)) return null;
    const glue = sep === undefined ? ',' : toText(sep);
    let length = Math.max(0, v.length - 1) * glue.length;
    const texts = v.map((item) => {
      const text = toText(item);
      length += text.length;
      return text;
    });
    checkStringLength(length, 'the result of join()');
    return texts.join(glue);
  },
  padStart: (_ctx, v, len, fill) => str(v)?.padStart(Math.min(toNumberOrNull(len) ?? 0, 1024), fill === undefined ? ' ' : toText(fill)) ?? null,
  length: (_ctx, v) => (typeof v === 'string' || Array.isArray(v) ? v.length : null),
  isEmpty: (_ctx, v) => v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v).length === 0),
  toNumber: (_ctx, v) => toNumberOrNull(v),
  toString: (_ctx: FunctionContext, v: unknown) => toText(v),
  round: (_ctx, v) => {
    const n = toNumberOrNull(v);
    return n === null ? null : Math.round(n);
  },
};

/** The function table, keyed by the names usable in expressions (null prototype: no inherited names). */
export const FUNCTIONS: Readonly<Record<string, ExpressionFunction>> = Object.freeze(Object.assign(Object.create(null) as Record<string, ExpressionFunction>, table));

/** Internal: renders a `{{ }}` reference inside a quoted string of an expression as text. */
export const TEXT_FUNCTION = '__text';
