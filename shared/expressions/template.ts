/**
 * `{{ expr }}` templates inside strings (docs/architecture.md, "Templates"), rendered for the
 * position they land in:
 * - text (headers, variables): values as text (`null` → empty);
 * - URL: values percent-encoded (`encodeURIComponent`) in path, query and fragment; a value that
 *   supplies the whole origin (e.g. `{{base_url}}/x`) is inserted as is, and the host actually
 *   requested is checked against the flow's `allowedHosts` and the network policy;
 * - JSON string body: a value inside a JSON string literal is JSON-escaped, a value outside one
 *   is written as a JSON value; the result must parse, else {@link TemplateError} before sending;
 * - JSON object body: rendered leaf by leaf, a leaf that is exactly `{{ expr }}` keeps its type.
 * Every rendering stays within the 64 KiB value budget (BudgetExceededError past it).
 */
import { checkStringLength, jsonSizeWithin, MAX_JSON_DEPTH, MAX_VALUE_BYTES } from '../budgets';
import { BudgetExceededError, TemplateError } from '../errors';
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

/**
 * Renders as text.
 * @throws BudgetExceededError when the text would pass the 64 KiB value budget (checked as parts are added).
 */
export function renderText(text: string, scope: Scope, ctx?: FunctionContext): string {
  if (!hasTemplate(text)) return text;
  let out = '';
  for (const p of compileTemplate(text).parts) {
    out += typeof p === 'string' ? p : toText(evaluate(p, scope, ctx));
    checkStringLength(out.length, 'a rendered template');
  }
  return out;
}

/** Renders a template; a string that is exactly `{{ expr }}` returns the value with its type. */
export function renderValue(text: string, scope: Scope, ctx?: FunctionContext): unknown {
  if (!hasTemplate(text)) return text;
  const t = compileTemplate(text);
  return t.exact ? evaluate(t.exact, scope, ctx) : renderText(text, scope, ctx);
}

/** A scheme and `//` with nothing after them: the host that follows comes whole from a value. */
const SCHEME_ONLY = /^(?:[a-z][a-z0-9+.-]*:\/\/)?$/i;
/** Where the authority ends after `scheme://` (WHATWG URL treats `\` as `/` in http(s) URLs). */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*/i;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/** A rendered URL and the shape of its path, for a circuit key no variable can steer. */
export interface RenderedUrl {
  url: URL;
  /**
   * The path actually requested, with every run of characters that came from a value replaced
   * by `{}` (`/v2/accounts/{}` for `/v2/accounts/{{id}}`); query and fragment left out.
   */
  pathShape: string;
}

/**
 * Renders a URL template. Values are percent-encoded (`encodeURIComponent`) everywhere except
 * where a value supplies the whole origin (`{{base_url}}/x`, `https://{{host}}/x`). A value that
 * ends a partly literal host (`https://api.example.com{{path}}`) is refused: it could only extend
 * the host (`.evil.example`). Dot segments (`.`, `..`, `%2e`) are refused: the URL parser would
 * remove them and send the request to another path than the template names. The host actually
 * requested is checked against `allowedHosts` by the HTTP step.
 * @throws TemplateError when the result is not an absolute http(s) URL without credentials.
 */
export function renderUrl(text: string, scope: Scope, ctx?: FunctionContext): RenderedUrl {
  let out = '';
  /** [start, end) of the characters that came from values. */
  const fromValues: Array<[number, number]> = [];
  if (hasTemplate(text)) {
    let literalPrefix = '';
    const parts = compileTemplate(text).parts;
    parts.forEach((p, i) => {
      if (typeof p === 'string') {
        literalPrefix += p;
        out += p;
        return;
      }
      const value = toText(evaluate(p, scope, ctx));
      const next = parts[i + 1];
      const wholeOrigin = SCHEME_ONLY.test(literalPrefix) && (typeof next !== 'string' || /^[/?#]/.test(next));
      const piece = wholeOrigin ? value : encodeURIComponent(value);
      fromValues.push([out.length, out.length + piece.length]);
      out += piece;
      checkStringLength(out.length, 'a rendered URL');
    });
  } else out = text;
  let url: URL;
  try {
    url = new URL(out);
  } catch {
    throw new TemplateError(`URL is not valid after rendering: ${JSON.stringify(out.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TemplateError(`URL scheme must be http or https, got ${url.protocol}`);
  if (url.username || url.password) throw new TemplateError('URL must not carry credentials; use authentication');
  const pathStart = ORIGIN.exec(out)?.[0].length ?? 0;
  const hostStart = out.indexOf('//') + 2;
  const last = fromValues.find(([a, b]) => a < pathStart && b >= pathStart);
  if (last && last[0] > hostStart && out[last[0] - 1] !== ':') {
    throw new TemplateError(`a value right after a literal host would change the host: ${JSON.stringify(out.slice(0, pathStart).slice(0, 200))}; put a '/' before it`);
  }
  const rest = out.slice(pathStart);
  const pathEnd = pathStart + (/[?#]/.exec(rest)?.index ?? rest.length);
  const path = out.slice(pathStart, pathEnd);
  if (path.split(/[/\\]/).some((segment) => DOT_SEGMENT.test(segment))) {
    throw new TemplateError(`URL path has a '.' or '..' segment after rendering: ${JSON.stringify(path.slice(0, 200))}`);
  }
  let pathShape = '';
  let at = pathStart;
  for (const [a, b] of fromValues) {
    if (b <= at || a >= pathEnd) continue;
    pathShape += out.slice(at, Math.max(at, a));
    if (!pathShape.endsWith('{}')) pathShape += '{}';
    at = Math.min(b, pathEnd);
  }
  pathShape += out.slice(at, pathEnd);
  return { url, pathShape: pathShape || '/' };
}

/**
 * Renders a header value.
 * @throws TemplateError when the value has a character HTTP does not allow in a field value
 *   (RFC 9110 §5.5: visible ASCII, space, tab and obs-text 0x80–0xFF): a line break or NUL
 *   (header injection), another control character, or a character above U+00FF.
 */
export function renderHeader(name: string, text: string, scope: Scope, ctx?: FunctionContext): string {
  const value = renderText(text, scope, ctx);
  const bad = /[^\t\x20-\x7e\x80-\xff]/.exec(value);
  if (bad) throw new TemplateError(`header ${name} has a character not allowed in an HTTP header after rendering (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at ${bad.index})`);
  return value;
}

/** Writes a JSON string template, asking `valueOf` for each `{{ }}` and whether it sits inside a string literal. */
function writeJsonTemplate(text: string, valueOf: (expr: CompiledExpression, inString: boolean) => string): string {
  let out = '';
  let inString = false;
  for (const p of compileTemplate(text).parts) {
    if (typeof p === 'string') {
      for (let i = 0; i < p.length; i++) {
        if (p[i] === '\\') i++;
        else if (p[i] === '"') inString = !inString;
      }
      out += p;
    } else out += valueOf(p, inString);
    checkStringLength(out.length, 'a rendered JSON body');
  }
  return out;
}

/**
 * Renders a JSON body given as a string. Values inside JSON string literals are escaped, values
 * elsewhere become JSON values.
 * @returns the body text, guaranteed to parse as JSON.
 * @throws TemplateError naming the parse problem when the rendered text is not JSON.
 */
export function renderJsonText(text: string, scope: Scope, ctx?: FunctionContext): string {
  const out = !hasTemplate(text)
    ? text
    : writeJsonTemplate(text, (expr, inString) => {
        const value = evaluate(expr, scope, ctx);
        return inString ? JSON.stringify(toText(value)).slice(1, -1) : JSON.stringify(value ?? null);
      });
  try {
    JSON.parse(out);
  } catch (cause) {
    throw new TemplateError(`body is not valid JSON after rendering: ${(cause as Error).message}`, { cause });
  }
  return out;
}

/**
 * Checks, without values, that a JSON string template can render to JSON: every `{{ }}` is
 * replaced by a placeholder (text inside a string literal, a JSON string elsewhere, which fits
 * wherever a value or a key may stand).
 * @returns the parse problem, or undefined when the template can render to JSON.
 */
export function jsonTemplateProblem(text: string): string | undefined {
  try {
    JSON.parse(writeJsonTemplate(text, (_expr, inString) => (inString ? 'x' : '"x"')));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Renders a JSON value (object body, assign values, End outputs) leaf by leaf; keys are not templated.
 * @param limitBytes budget of the whole rendered value, as JSON (default the 64 KiB value budget;
 *   variables assigned together use the 256 KiB variables budget), charged leaf by leaf so that
 *   many large leaves fail before they are all built.
 * @throws BudgetExceededError `valueBytes` or `valueDepth`
 */
export function renderJsonValue(value: unknown, scope: Scope, ctx?: FunctionContext, limitBytes = MAX_VALUE_BYTES): unknown {
  let used = 0;
  const charge = (leaf: unknown): unknown => {
    const size = jsonSizeWithin(leaf, limitBytes - used);
    if (size === -1) throw new BudgetExceededError('valueDepth', MAX_JSON_DEPTH, `a rendered value nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (size === Infinity) throw new BudgetExceededError('valueBytes', limitBytes, `a rendered JSON value is larger than ${limitBytes} bytes`);
    used += size;
    return leaf;
  };
  const render = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return charge(renderValue(v, scope, ctx));
    if (depth > MAX_JSON_DEPTH) throw new BudgetExceededError('valueDepth', MAX_JSON_DEPTH, `a JSON value nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(v)) return v.map((item) => render(item, depth + 1));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k in v) if (Object.hasOwn(v, k)) out[k] = render((v as Record<string, unknown>)[k], depth + 1);
      return out;
    }
    return charge(v);
  };
  return render(value, 0);
}

/** Lists every template string inside a JSON value, with its path suffix (for validation). */
export function templatesIn(value: unknown, path: string): Array<{ path: string; text: string }> {
  if (typeof value === 'string') return hasTemplate(value) ? [{ path, text: value }] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => templatesIn(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => templatesIn(v, `${path}.${k}`));
  return [];
}
