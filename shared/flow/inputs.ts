/**
 * A flow's declared `inputs`, enforced: the variables a caller (an API request, an Amazon Connect
 * block, a SubFlow step) may give it. A flow that declares `inputs` receives only those, plus its
 * session variables and the system variables; everything else the caller sends is dropped before
 * any template can read it (so a caller cannot set, say, `crm_base_url`). A declared input the caller
 * leaves out is `null`. A flow without `inputs` receives every variable it is given.
 *
 * An entry is a name (`"dtmf_input"`) or `{ "name", "type"?, "required"? }`. Types are JSON's, with
 * the text IVR platforms send accepted where it is unambiguous (Amazon Connect parameters and Twilio
 * Studio form fields are always strings): `"42"` for a number, `"true"`/`"false"` for a boolean, and
 * a number or boolean for a string (its text). `null` counts as missing.
 */
import type { Diagnostic } from '../errors';
import type { Flow } from './schema';

/** Variables the engine gives every run: they are never an input and never dropped. */
export const SYSTEM_VARIABLES: readonly string[] = ['flow_execution_id', 'flow_id', 'contact_id'];

/** The type a declared input is checked against: JSON's, `object` not an array, with the text coercions of the module's header. */
export type InputType = 'string' | 'number' | 'boolean' | 'object';

/** One declared input, normalized. */
export interface InputDeclaration {
  name: string;
  type?: InputType;
  required: boolean;
}

/** The flow's declared inputs, normalized; undefined when it declares none. */
export function inputDeclarations(flow: Pick<Flow, 'inputs'>): InputDeclaration[] | undefined {
  return flow.inputs?.map((entry) => (typeof entry === 'string' ? { name: entry, required: false } : { name: entry.name, ...(entry.type ? { type: entry.type } : {}), required: entry.required ?? false }));
}

/** The names of the flow's declared inputs, in order. */
export function inputNames(flow: Pick<Flow, 'inputs'>): string[] {
  return inputDeclarations(flow)?.map((d) => d.name) ?? [];
}

const typeName = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`);

/** `value` as `type`, or undefined when it is not one (see the module's coercions). */
function asType(value: unknown, type: InputType): unknown {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
      if (typeof value !== 'string' || value.trim() === '') return undefined;
      const n = Number(value.trim());
      return Number.isFinite(n) ? n : undefined;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value.trim())) return value.trim().toLowerCase() === 'true';
      return undefined;
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  }
}

/**
 * The variables `flow` accepts from `given`: its declared inputs (typed, `null` when left out),
 * its session variables and the system variables, or everything when it declares no inputs.
 * Values are never named in a problem, only their type (inputs can be card or account numbers).
 * @returns `variables` to start the frame with, and `problems` (`MISSING_INPUT`, `INVALID_INPUT`
 *   at `variables.<name>`); with problems, `variables` holds `null` for each input in error.
 */
export function acceptInputs(flow: Pick<Flow, 'inputs' | 'session'>, given: Readonly<Record<string, unknown>>): { variables: Record<string, unknown>; problems: Diagnostic[] } {
  const declarations = inputDeclarations(flow);
  if (!declarations) return { variables: { ...given }, problems: [] };
  const variables: Record<string, unknown> = {};
  const problems: Diagnostic[] = [];
  for (const name of [...SYSTEM_VARIABLES, ...(flow.session?.variables ?? [])]) if (Object.hasOwn(given, name)) variables[name] = given[name];
  for (const { name, type, required } of declarations) {
    const value = Object.hasOwn(given, name) ? given[name] : null;
    variables[name] = null;
    if (value === null || value === undefined) {
      if (required) problems.push({ code: 'MISSING_INPUT', path: `variables.${name}`, message: `input '${name}' is required` });
      continue;
    }
    const typed = type ? asType(value, type) : value;
    if (typed === undefined) problems.push({ code: 'INVALID_INPUT', path: `variables.${name}`, message: `input '${name}' must be ${type === 'object' ? 'an object' : `a ${type}`}, got ${typeName(value)}` });
    else variables[name] = typed;
  }
  return { variables, problems };
}

/** One line for a list of input problems: the first, and how many more. */
export function inputProblemsMessage(flowId: string, problems: Diagnostic[]): string {
  return `flow '${flowId}': ${problems[0]!.message}${problems.length > 1 ? ` (and ${problems.length - 1} more input problem${problems.length > 2 ? 's' : ''})` : ''}`;
}
