/**
 * `{{ expr }}` templates inside strings (DESIGN §2), rendered for the position they land in:
 * - text (headers, variables): values as text (`null` → empty);
 * - URL: values percent-encoded (`encodeURIComponent`) in path, query and fragment; a value in
 *   the scheme/host position (e.g. `{{base_url}}/x`) is inserted as is and the host is checked
 *   by the HTTP client's allow-list;
 * - JSON string body: a value inside a JSON string literal is JSON-escaped, a value outside one
 *   is written as a JSON value; the result must parse, else {@link TemplateError} before sending;
 * - JSON object body: rendered leaf by leaf, a leaf that is exactly `{{ expr }}` keeps its type.
 */
import { TemplateError } from '../errors';
import { compileExpression, evaluate, splitTemplate, type CompiledExpression, type Scope } from './evaluator';
import { toText, type FunctionContext } from './functions';

/** A parsed template. `exact` is set when the whole string is one `{{ expr }}`. */
export interface CompiledTemplate {
  readonly parts: ReadonlyArray<string | CompiledExpression>;
  readonly exact: CompiledExpression | undefined;
  readonly variables: ReadonlySet<string>;
}

const cache = new Map<string, CompiledTemplate>();

/**
 * Parses a template string.
 * @throws ExpressionError when a `{{ }}` is unclosed or its expression does not compile.
 */
export function compileTemplate(text: string): CompiledTemplate {
  const hit = cache.get(text);
  if (hit) return hit;
  const parts = splitTemplate(text).map((p) => ('literal' in p ? p.literal : compileExpression(p.expr)));
  const variables = new Set<string>();
  for (const p of parts) if (typeof p !== 'string') for (const v of p.variables) variables.add(v);
  const only = parts.length === 1 ? parts[0] : undefined;
  const compiled: CompiledTemplate = { parts, exact: only !== undefined && typeof only !== 'string' ? only : undefined, variables };
  if (cache.size > 5000) cache.clear();
  cache.set(text, compiled);
  return compiled;
}

/** True when the string contains a `{{`. */
export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

/** Renders as text. */
export function renderText(text: string, scope: Scope, ctx?: FunctionContext): string {
  if (!hasTemplate(text)) return text;
  return compileTemplate(text)
    .parts.map((p) => (typeof p === 'string' ? p : toText(evaluate(p, scope, ctx))))
    .join('');
}

/** Renders a template; a string that is exactly `{{ expr }}` returns the value with its type. */
export function renderValue(text: string, scope: Scope, ctx?: FunctionContext): unknown {
  if (!hasTemplate(text)) return text;
  const t = compileTemplate(text);
  return t.exact ? evaluate(t.exact, scope, ctx) : renderText(text, scope, ctx);
}

const ORIGIN_PREFIX = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?$/i;

/**
 * Renders a URL template, percent-encoding values in path, query and fragment.
 * @throws TemplateError when the result is not an absolute http(s) URL.
 */
export function renderUrl(text: string, scope: Scope, ctx?: FunctionContext): URL {
  let out = text;
  if (hasTemplate(text)) {
    let literalPrefix = '';
    out = '';
    for (const p of compileTemplate(text).parts) {
      if (typeof p === 'string') {
        literalPrefix += p;
        out += p;
        continue;
      }
      const value = toText(evaluate(p, scope, ctx));
      out += ORIGIN_PREFIX.test(literalPrefix) ? value : encodeURIComponent(value);
    }
  }
  let url: URL;
  try {
    url = new URL(out);
  } catch {
    throw new TemplateError(`URL is not valid after rendering: ${JSON.stringify(out.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TemplateError(`URL scheme must be http or https, got ${url.protocol}`);
  if (url.username || url.password) throw new TemplateError('URL must not carry credentials; use authentication');
  return url;
}

/** Renders a header value; line breaks and NUL are refused (header injection). */
export function renderHeader(name: string, text: string, scope: Scope, ctx?: FunctionContext): string {
  const value = renderText(text, scope, ctx);
  if (/[\r\n\0]/.test(value)) throw new TemplateError(`header ${name} contains a line break or NUL after rendering`);
  return value;
}

/**
 * Renders a JSON body given as a string. Values inside JSON string literals are escaped, values
 * elsewhere become JSON values.
 * @returns the body text, guaranteed to parse as JSON.
 * @throws TemplateError naming the parse problem when the rendered text is not JSON.
 */
export function renderJsonText(text: string, scope: Scope, ctx?: FunctionContext): string {
  let out = text;
  if (hasTemplate(text)) {
    out = '';
    let inString = false;
    for (const p of compileTemplate(text).parts) {
      if (typeof p === 'string') {
        for (let i = 0; i < p.length; i++) {
          if (p[i] === '\\') i++;
          else if (p[i] === '"') inString = !inString;
        }
        out += p;
        continue;
      }
      const value = evaluate(p, scope, ctx);
      out += inString ? JSON.stringify(toText(value)).slice(1, -1) : JSON.stringify(value ?? null);
    }
  }
  try {
    JSON.parse(out);
  } catch (cause) {
    throw new TemplateError(`body is not valid JSON after rendering: ${(cause as Error).message}`, { cause });
  }
  return out;
}

/** Renders a JSON value (object body, assign values) leaf by leaf; keys are not templated. */
export function renderJsonValue(value: unknown, scope: Scope, ctx?: FunctionContext): unknown {
  if (typeof value === 'string') return renderValue(value, scope, ctx);
  if (Array.isArray(value)) return value.map((v) => renderJsonValue(v, scope, ctx));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = renderJsonValue(v, scope, ctx);
    return out;
  }
  return value;
}

/** Lists every template string inside a JSON value, with its path suffix (for validation). */
export function templatesIn(value: unknown, path: string): Array<{ path: string; text: string }> {
  if (typeof value === 'string') return hasTemplate(value) ? [{ path, text: value }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => templatesIn(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => templatesIn(v, `${path}.${k}`));
  return [];
}
