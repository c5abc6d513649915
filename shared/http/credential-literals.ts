/**
 * Literal credentials in a request's URL query and body, found at deploy time. A flow or a
 * connection is stored and returned by the API as it was written, so a credential written into it
 * as text is readable by everyone who can read flows; it belongs in a secret (a flow's `secrets`
 * binding or a connection's authentication), referenced with `{{ }}`.
 *
 * - Certain: `api_key`, `apikey`, `access_token`, `client_secret`, `password` query parameters and
 *   `Authorization` body fields with a literal value (the names of RFC 6750 §2.3 and of common
 *   vendor APIs).
 * - Possible: `token`, `key`, `sig`, `signature` with a literal value of 16 characters or more
 *   (a short value is usually an id or a flag).
 *
 * A value with a `{{ }}` anywhere is a template and always allowed. Values are never returned:
 * a finding names the parameter or field, never what it holds.
 */

const CERTAIN = new Set(['api_key', 'apikey', 'access_token', 'client_secret', 'password']);
const CERTAIN_IN_BODY = new Set(['authorization']);
const POSSIBLE = new Set(['token', 'key', 'sig', 'signature']);
/** Shortest literal value of a "possible" name that is reported. */
export const POSSIBLE_SECRET_MIN_LENGTH = 16;

/** One literal found: `where` is a readable place (`query parameter 'api_key'`, `body field 'Authorization'`). */
export interface CredentialLiteral {
  /** Path relative to the configuration (`url`, `body`, `body.auth.Authorization`). */
  path: string;
  where: string;
  /** True for the certain names, false for a possible one. */
  certain: boolean;
}

const isLiteral = (value: string) => value.trim() !== '' && !value.includes('{{');

function classify(name: string, value: string, certain: Set<string>): boolean | undefined {
  const n = name.toLowerCase();
  if (!isLiteral(value)) return undefined;
  if (certain.has(n)) return true;
  if (POSSIBLE.has(n) && value.length >= POSSIBLE_SECRET_MIN_LENGTH) return false;
  return undefined;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** Literal credentials in the query of `url` (a URL or a path; templates may appear anywhere). */
export function queryCredentialLiterals(url: string, path: string): CredentialLiteral[] {
  const start = url.indexOf('?');
  if (start === -1) return [];
  const end = url.indexOf('#', start);
  const found: CredentialLiteral[] = [];
  for (const pair of url.slice(start + 1, end === -1 ? undefined : end).split('&')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = decode(pair.slice(0, eq));
    const certain = classify(name, decode(pair.slice(eq + 1)), CERTAIN);
    if (certain !== undefined) found.push({ path, where: `query parameter '${name}'`, certain });
  }
  return found;
}

/**
 * Literal credentials among the fields of a body: a JSON value (walked, each finding at its own
 * path) or a JSON template string (its `"name": "value"` pairs, found at `path`).
 */
export function bodyCredentialLiterals(body: unknown, path: string): CredentialLiteral[] {
  const names = new Set([...CERTAIN, ...CERTAIN_IN_BODY]);
  const found: CredentialLiteral[] = [];
  if (typeof body === 'string') {
    for (const m of body.matchAll(/"((?:[^"\\]|\\.){1,64})"\s*:\s*"((?:[^"\\]|\\.)*)"/g)) {
      const certain = classify(m[1]!, m[2]!, names);
      if (certain !== undefined) found.push({ path, where: `body field '${m[1]!}'`, certain });
    }
    return found;
  }
  const walk = (value: unknown, at: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`));
    else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (typeof v === 'string') {
          const certain = classify(k, v, names);
          if (certain !== undefined) found.push({ path: `${at}.${k}`, where: `body field '${k}'`, certain });
        } else walk(v, `${at}.${k}`);
      }
    }
  };
  walk(body, path);
  return found;
}
