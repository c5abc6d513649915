/**
 * How a flow test compares what it expects with what ran: exact values, and deep subsets (every
 * key the expectation names must match; other keys are ignored; arrays match element by element
 * and must have the same length). Each mismatch is one {@link Mismatch} at a readable path.
 */

/** One difference: where (`variables.customer.tier`), what was expected and what ran (`undefined`: absent). */
export interface Mismatch {
  path: string;
  expected: unknown;
  actual: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Exact equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a)) return isObject(b) && Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  return Object.is(a, b) || (a === 0 && b === 0);
}

/**
 * The mismatches of `actual` against the deep subset `expected`, at `path`.
 * @param caseInsensitiveKeys compare object keys ignoring case (HTTP header names)
 */
export function subsetMismatches(expected: unknown, actual: unknown, path: string, caseInsensitiveKeys = false): Mismatch[] {
  if (isObject(expected)) {
    if (!isObject(actual)) return [{ path, expected, actual }];
    const out: Mismatch[] = [];
    for (const [key, value] of Object.entries(expected)) {
      const found = caseInsensitiveKeys ? Object.keys(actual).find((k) => k.toLowerCase() === key.toLowerCase()) : Object.hasOwn(actual, key) ? key : undefined;
      out.push(...subsetMismatches(value, found === undefined ? undefined : actual[found], child(path, key)));
    }
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [{ path, expected, actual }];
    return expected.flatMap((value, i) => subsetMismatches(value, actual[i], child(path, i)));
  }
  return jsonEqual(expected, actual) ? [] : [{ path, expected, actual }];
}

/** A value for a diff line: JSON, cut at 200 characters; `(absent)` for undefined. */
export function shown(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
