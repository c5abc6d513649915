/**
 * The budgets every execution runs under, whatever its flow (docs/architecture.md, "Budgets").
 * One shared engine runs many flows for many callers, so no flow, caller or backend may take
 * the process down: each budget is checked where values are made, before a large allocation
 * when the size can be predicted, and a budget that runs out throws {@link BudgetExceededError}
 * (the execution ends FAILED with `BUDGET_EXCEEDED`; its record is still written).
 */
import { BudgetExceededError } from './errors';

/** Steps counted across all sub-flows of one execution: a flow's `maxSteps` may not exceed this. */
export const MAX_STEPS_CEILING = 10_000;
/** Sub-flows may nest this deep (a flow calling itself is allowed, but bounded). */
export const MAX_SUBFLOW_DEPTH = 8;
/** Largest value an expression, template, mapping or step may produce, as JSON: 64 KiB. */
export const MAX_VALUE_BYTES = 64 * 1024;
/** Deepest nesting of a value or of a JSON body read from a caller or a backend: 64 levels. */
export const MAX_JSON_DEPTH = 64;
/** All variables of one frame together, as JSON: 256 KiB. */
export const MAX_VARIABLES_BYTES = 256 * 1024;
/**
 * Largest stored execution record, as JSON: 350 KiB, under DynamoDB's 400 KB item limit with room
 * for keys and attributes. A larger record is shrunk (the trace first), never refused.
 */
export const MAX_RECORD_BYTES = 350 * 1024;
/**
 * The default finish reserve, ms: time kept back from every outbound call for what runs after a
 * failure (the fallback branch, the End step, the record write), so a flow with a fallback reaches
 * it before the caller's deadline (docs/architecture.md, "The deadline is the caller's").
 */
export const DEFAULT_FINISH_RESERVE_MS = 300;
/** The smallest finish reserve, and the shortest call started: with less time left, a call fails at once (`deadline`), ms. */
export const MIN_CALL_MS = 50;
/** Longest JSONPath accepted by `jsonPath()` at run time, characters (parsing cost grows with length). */
export const MAX_JSONPATH_LENGTH = 1024;

/** The JSON size of a value that is not an object, bytes: a string's UTF-8 length and quotes, a number's or boolean's text, 4 for anything else (`null`). */
function leafSize(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v) + 2;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v).length;
  return 4;
}

/**
 * Size of `value` as JSON text, in UTF-8 bytes (string escapes aside), stopping as soon as it
 * passes `limitBytes` or nests deeper than `maxDepth`: the cost is bounded by the limit, not by
 * the value, so a huge value is refused as cheaply as a small one is measured.
 * @returns the size, or `Infinity` when over `limitBytes`, or `-1` when deeper than `maxDepth`.
 */
export function jsonSizeWithin(value: unknown, limitBytes: number, maxDepth = MAX_JSON_DEPTH): number {
  if (typeof value !== 'object' || value === null) {
    const size = leafSize(value);
    return size > limitBytes ? Infinity : size;
  }
  let total = 0;
  let tooDeep = false;
  const visit = (v: unknown, depth: number): boolean => {
    if (typeof v === 'object' && v !== null) {
      if (depth >= maxDepth) {
        tooDeep = true;
        return false;
      }
      total += 2;
      if (Array.isArray(v)) {
        for (const item of v) {
          total += 1;
          if (!visit(item, depth + 1)) return false;
        }
      } else {
        for (const key in v) {
          if (!Object.hasOwn(v, key)) continue;
          total += Buffer.byteLength(key) + 4;
          if (!visit((v as Record<string, unknown>)[key], depth + 1)) return false;
        }
      }
    } else total += leafSize(v);
    return total <= limitBytes;
  };
  visit(value, 0);
  if (tooDeep) return -1;
  return total > limitBytes ? Infinity : total;
}

/**
 * A value's budget size when it cannot pass the value budget whatever it holds (a number, a
 * boolean, `null`, a string short enough even at 3 UTF-8 bytes per character), bytes; undefined
 * when it has to be measured. The hot path of setting a variable: no walk, no message built.
 */
export function smallValueSize(value: unknown): number | undefined {
  if (typeof value === 'object' && value !== null) return undefined;
  const size = typeof value === 'string' ? value.length * 3 + 2 : 8;
  return size <= MAX_VALUE_BYTES ? size : undefined;
}

/**
 * Checks one produced value against {@link MAX_VALUE_BYTES} and {@link MAX_JSON_DEPTH}.
 * @param what names the value in the message (`the result of replaceAll`, `variable customer`)
 * @returns the value's size in bytes
 * @throws BudgetExceededError `valueBytes` or `valueDepth`
 */
export function checkValue(value: unknown, what: string): number {
  const small = smallValueSize(value);
  if (small !== undefined) return small;
  const size = jsonSizeWithin(value, MAX_VALUE_BYTES);
  if (size === -1) throw new BudgetExceededError('valueDepth', MAX_JSON_DEPTH, `${what} nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (size === Infinity) throw new BudgetExceededError('valueBytes', MAX_VALUE_BYTES, `${what} is larger than ${MAX_VALUE_BYTES} bytes`);
  return size;
}

/**
 * Checks, before allocating it, that a string of `length` UTF-16 code units fits the value budget.
 * @throws BudgetExceededError `valueBytes`
 */
export function checkStringLength(length: number, what: string): void {
  if (length > MAX_VALUE_BYTES) throw new BudgetExceededError('valueBytes', MAX_VALUE_BYTES, `${what} would be ${length} characters, more than the ${MAX_VALUE_BYTES}-byte value budget`);
}
