/**
 * The wording of validation messages (docs/architecture.md, "Validation"): paths, previews of
 * values (a JSON preview of at most 60 characters), quoted names, and the rule that a value under a
 * key that may hold a secret is never shown, only its type; with `own`, the never-throwing reader of
 * a value of unknown shape the checks use.
 */

/** Longest preview of a value in a message, in characters. */
export const PREVIEW_CHARS = 60;

/** Keys whose values may be credentials: messages name their type, never their value. */
export const SECRET_KEY = /password|passwd|secret|token|authorization|api[-_]?key|headervalue|credential|cookie/i;

/** A path for messages: keys joined with `.`, indexes as `[n]` (`steps[0].config.url`). */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
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
export function quoted(s: string): string {
  return `'${s.length > PREVIEW_CHARS ? `${s.slice(0, PREVIEW_CHARS - 1)}…` : s}'`;
}

/** The kind of a value for messages: `null`, `an array`, `an object`, `a string`, `a number`... */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/** A URL's user information (`https://user:password@host`) is never repeated in a message. */
export function hideUserinfo(text: string): string {
  return text.replace(/\/\/[^/?#\s"]*@/g, '//***@');
}

/** `got <preview>`, or only the kind of value where the key may hold a secret. */
export function got(value: unknown, path: ReadonlyArray<PropertyKey>): string {
  const secret = path.some((k) => typeof k === 'string' && SECRET_KEY.test(k));
  return secret ? `got ${kindOf(value)} (not shown: it may be a secret)` : `got ${hideUserinfo(preview(value))}`;
}

/** The name of a field for messages: its last key, with the indexes after it (`allowedHosts[0]`). */
export function fieldName(path: ReadonlyArray<PropertyKey>): string {
  let i = path.length;
  while (i > 0 && typeof path[i - 1] === 'number') i--;
  return i === 0 ? (path.length === 0 ? 'the flow' : formatPath(path)) : formatPath(path.slice(i - 1));
}

/** Reads an own property of a value of unknown shape; undefined for anything else. Never throws. */
export function own(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    return Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  } catch {
    return undefined;
  }
}
