/**
 * Parsing untrusted JSON (callers' request bodies, backends' responses, `parseJson()`): a depth
 * limit checked before parsing, so a body nested thousands of levels deep is refused before
 * anything recursive (stringify, mapping, the evaluator) can overflow the stack; and, where asked,
 * the prototype-poisoning keys `__proto__` and `constructor.prototype` refused as middy's
 * `jsonParseProtectProto` does.
 */
import { MAX_JSON_DEPTH } from './budgets';

/** Why a text was refused. */
export class UnsafeJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeJsonError';
  }
}

/**
 * The deepest nesting of arrays and objects in a JSON text, scanning outside string literals;
 * stops counting once past `limit`. Linear in the text, no recursion.
 */
export function jsonTextDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

const POISON = /"(?:__proto__|constructor)"\s*:/;

function hasPoisonKeys(value: unknown, depth = 0): boolean {
  if (typeof value !== 'object' || value === null || depth > MAX_JSON_DEPTH) return false;
  if (Array.isArray(value)) return value.some((v) => hasPoisonKeys(v, depth + 1));
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === '__proto__') return true;
    if (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype')) return true;
    if (hasPoisonKeys(v, depth + 1)) return true;
  }
  return false;
}

/**
 * `JSON.parse` for untrusted text.
 * @param options.maxDepth deepest nesting allowed (default 64 levels)
 * @param options.protectProto refuse `__proto__` keys and `constructor.prototype` (default true)
 * @throws SyntaxError when the text is not JSON; UnsafeJsonError when too deep or poisoned.
 */
export function parseUntrustedJson(text: string, options: { maxDepth?: number; protectProto?: boolean } = {}): unknown {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  // Each level takes an opening and a closing bracket: a text shorter than 2 * (maxDepth + 1) cannot nest deeper.
  if (text.length >= 2 * (maxDepth + 1) && jsonTextDepth(text, maxDepth) > maxDepth) throw new UnsafeJsonError(`JSON nests deeper than ${maxDepth} levels`);
  const value = JSON.parse(text) as unknown;
  if ((options.protectProto ?? true) && POISON.test(text) && hasPoisonKeys(value)) throw new UnsafeJsonError('JSON has a __proto__ or constructor.prototype key');
  return value;
}
