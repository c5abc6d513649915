/**
 * Response mapping (an `HTTPRequest`'s `responseMapping`; README.md, "Flow format"): each value
 * maps the parsed response body `$` to a variable. A plain JSONPath (`$.data[0]`, `$..id`, filters)
 * goes to jsonpath-plus (see {@link queryJsonPath}); anything else
 * (`$.data[0].attributes.support_tickets > 0`, `$.data && $.data.length > 0 ? $.data[0] : null`) is
 * an expression over `$`. Missing fields and out-of-range indexes give null (the empty-array case:
 * `$.data[0]` on `{"data": []}` is null, not an exception).
 */
import { ExpressionError } from '../errors';
import { compileExpression, evaluate, type CompiledExpression } from './evaluator';
import type { FunctionContext } from './functions';
import { checkJsonPath, queryJsonPath } from './jsonpath';

/** A mapping value, classified: a plain JSONPath (for jsonpath-plus), or a compiled expression over `$`. */
export type MappingRule = { kind: 'jsonpath'; path: string } | { kind: 'expression'; compiled: CompiledExpression };

function isPlainPath(node: CompiledExpression['ast']): boolean {
  if (node.type === 'Identifier') return node.name === '$';
  if (node.type !== 'MemberExpression') return false;
  const property = node.property as CompiledExpression['ast'];
  if (node.computed && property.type !== 'Literal') return false;
  return isPlainPath(node.object as CompiledExpression['ast']);
}

/**
 * Classifies and checks one mapping value.
 * @throws ExpressionError when it is neither a valid JSONPath nor a valid expression.
 */
export function compileMapping(source: string): MappingRule {
  const hit = rules.get(source);
  if (hit) return hit;
  const rule = classify(source);
  if (rules.size > 5000) rules.clear();
  rules.set(source, rule);
  return rule;
}

const rules = new Map<string, MappingRule>();

function classify(source: string): MappingRule {
  if (typeof source !== 'string' || source.trim() === '') throw new ExpressionError('mapping is empty');
  let compiled: CompiledExpression | undefined;
  try {
    compiled = compileExpression(source);
  } catch (err) {
    if (!source.trim().startsWith('$')) throw err;
  }
  if (compiled && !isPlainPath(compiled.ast)) return { kind: 'expression', compiled };
  const path = source.trim();
  checkJsonPath(path, (code) => compileExpression(code));
  return { kind: 'jsonpath', path };
}

/**
 * Maps a response body to variables.
 * @param mapping `{ variable: "$.path" | "expression over $" }`
 * @param body the parsed JSON body (or `defaultResponse`), or undefined when there is none
 * @returns the variables, each `null` when missing
 */
export function applyResponseMapping(mapping: Readonly<Record<string, string>>, body: unknown, ctx?: FunctionContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const scope = { $: body ?? null };
  for (const [name, source] of Object.entries(mapping)) {
    const rule = compileMapping(source);
    out[name] = rule.kind === 'jsonpath' ? queryJsonPath(body, rule.path) : evaluate(rule.compiled, scope, ctx);
  }
  return out;
}
