/**
 * JSONPath queries with jsonpath-plus 11.x, never with its script evaluator.
 *
 * jsonpath-plus's own "safe" evaluator has had code-execution bypasses (CVE-2024-21534,
 * CVE-2025-1302), so it is never used: filter scripts (`[?(@.x > 1)]`) are handed to ivrflow's
 * own expression evaluator through jsonpath-plus's `eval` callback, where `@` is `_$_v` and only
 * the expression language of {@link evaluate} is available.
 *
 * A definite path (only names and numeric indexes, e.g. `$.data[0].id`) yields one value or null;
 * an indefinite path (`..`, `*`, filters, unions, slices) yields an array of every match (the
 * Jayway JsonPath convention).
 *
 * jsonpath-plus caches every path it ever parsed, without bound; paths can come from callers
 * (`jsonPath(value, path)`), so the paths seen are tracked in a bounded LRU and jsonpath-plus's
 * cache is cleared whenever one is evicted: its size stays bounded by {@link PATH_CACHE_SIZE}.
 */
import { JSONPath } from 'jsonpath-plus';
import { LRUCache } from 'lru-cache';
import { ExpressionError } from '../errors';

/** Distinct JSONPaths kept parsed at once. */
export const PATH_CACHE_SIZE = 1000;
const seenPaths = new LRUCache<string, true>({ max: PATH_CACHE_SIZE, dispose: () => JSONPath.clearCache() });

type ScriptEvaluator = (code: string, context: Record<string, unknown>) => unknown;
let scriptEvaluator: ScriptEvaluator | undefined;

/** Installed by evaluator.ts (avoids an import cycle). */
export function setJsonPathScriptEvaluator(fn: ScriptEvaluator): void {
  scriptEvaluator = fn;
}

const DEFINITE = /^\$(?:\.[A-Za-z_$][\w$]*|\[\d+\]|\['[^'\]]*'\]|\["[^"\]]*"\])*$/;

/** True when the path can match at most one node. */
export function isDefinitePath(path: string): boolean {
  return DEFINITE.test(path);
}

/** The property names of a definite path, parsed once (a definite path is most of a flow's mappings: `$.data[0].id`). */
const segmentsByPath = new LRUCache<string, readonly string[]>({ max: PATH_CACHE_SIZE });
const SEGMENT = /\.([A-Za-z_$][\w$]*)|\[(\d+)\]|\['([^'\]]*)'\]|\["([^"\]]*)"\]/g;

/** The names along a definite path (`$.data[0]['a b']` → data, 0, a b), or undefined for an indefinite one. */
function definiteSegments(path: string): readonly string[] | undefined {
  const known = segmentsByPath.get(path);
  if (known) return known;
  if (!isDefinitePath(path)) return undefined;
  const segments = [...path.slice(1).matchAll(SEGMENT)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]!);
  segmentsByPath.set(path, segments);
  return segments;
}

/**
 * A definite path's one node, found directly as jsonpath-plus finds it: an own property of a
 * truthy value (an array's index or `length`, a string's too), else null.
 */
function walk(json: unknown, segments: readonly string[]): unknown {
  let node = json;
  for (const name of segments) {
    if (!node || !Object.hasOwn(node, name)) return null;
    node = (node as Record<string, unknown>)[name];
  }
  return node ?? null;
}

const FILTER = /\[\?\((.*?)\)\]/g;

/**
 * Checks that a JSONPath parses and that its filter scripts are valid expressions.
 * @throws ExpressionError naming the problem.
 */
export function checkJsonPath(path: string, checkScript: (code: string) => void): void {
  if (!path.startsWith('$')) throw new ExpressionError(`JSONPath must start with '$': ${path}`);
  let depth = 0;
  for (const ch of path) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (depth < 0) break;
  }
  if (depth !== 0) throw new ExpressionError(`unbalanced brackets in JSONPath ${path}`);
  try {
    JSONPath.toPathArray(path);
  } catch (cause) {
    throw new ExpressionError(`JSONPath does not parse: ${path}`, { cause });
  }
  for (const m of path.matchAll(FILTER)) checkScript((m[1] ?? '').replace(/@/g, '_$_v'));
}

/**
 * Runs a JSONPath over a value. Missing paths give null (definite) or [] (indefinite);
 * a malformed path gives null rather than an exception (it was rejected at deploy time).
 */
export function queryJsonPath(json: unknown, path: string): unknown {
  if (json === null || json === undefined || typeof json !== 'object') return isDefinitePath(path) ? null : [];
  const definite = definiteSegments(path);
  if (definite) return walk(json, definite);
  let result: unknown[];
  if (!seenPaths.get(path)) seenPaths.set(path, true);
  try {
    result = JSONPath({
      path,
      json,
      wrap: true,
      eval: (code: string, context: Record<string, unknown>) => {
        if (!scriptEvaluator) throw new ExpressionError('JSONPath filters are not available');
        return scriptEvaluator(code, context);
      },
      ignoreEvalErrors: true,
    }) as unknown[];
  } catch {
    return isDefinitePath(path) ? null : [];
  }
  if (isDefinitePath(path)) return result[0] ?? null;
  return result ?? [];
}
