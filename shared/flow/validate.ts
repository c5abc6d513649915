/**
 * Deploy-time validation of flow definitions (DESIGN §2). The Flow API and `ivrflow validate`
 * run this same code. Every problem is reported, each as `{ code, path, message }`:
 *
 * | code | problem |
 * | --- | --- |
 * | INVALID_JSON | the file is not JSON |
 * | INVALID_VALUE | wrong type or format |
 * | MISSING_FIELD | a required key is absent |
 * | UNKNOWN_KEY | a key the schema does not define |
 * | UNKNOWN_STEP_TYPE | `type` is not a registered step type |
 * | UNKNOWN_BRANCH | a branch the step type cannot take |
 * | OUT_OF_BOUNDS | a number outside its range (timeouts, retries, deadline...) |
 * | DUPLICATE_STEP_ID | two steps share an id |
 * | MISSING_STEP | a transition or `startStepId` names no step |
 * | MISSING_FLOW | a SubFlow names a flow that does not exist |
 * | BAD_EXPRESSION | an expression or `{{ }}` template does not parse |
 * | BAD_JSONPATH | a response mapping JSONPath does not parse |
 * | BAD_URL | a URL that cannot become an absolute http(s) URL |
 * | LITERAL_SECRET | a literal where a secret reference belongs |
 * | PRIVATE_HOST | a loopback, private or link-local host (unless allowed) |
 * | HOST_NOT_ALLOWED | a host outside `allowedHosts` |
 * Warnings: UNREACHABLE_STEP, UNSET_VARIABLE.
 */
import { z } from 'zod';
import type { Diagnostic } from '../errors';
import { FlowValidationError } from '../errors';
import { compileExpression } from '../expressions/evaluator';
import { compileMapping } from '../expressions/response-mapping';
import { compileTemplate } from '../expressions/template';
import { hostAllowed, isPrivateHost } from '../http/network-policy';
import { getStepDefinition } from '../steps/registry';
import type { StepAnalysis } from '../steps/types';
import { FlowSchema, StepSchema, type Flow, type Step } from './schema';

export interface ValidateOptions {
  /** Answers whether a sub-flow target exists; when absent, sub-flow references are not checked. */
  flowExists?: (flowId: string, version?: number) => boolean | Promise<boolean>;
  /** Accept loopback/private hosts (local development). @default false */
  allowPrivateHosts?: boolean;
}

export interface ValidationResult {
  valid: boolean;
  /** The parsed flow with defaults applied, when valid. */
  flow?: Flow;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Variables every run has. */
export const BUILTIN_VARIABLES: readonly string[] = ['flow_execution_id', 'flow_id'];

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function mapIssue(issue: z.core.$ZodIssue, prefix: ReadonlyArray<PropertyKey>): Diagnostic[] {
  const path = [...prefix, ...issue.path];
  const at = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const inBranches = path[path.length - 1] === 'branches';
      return issue.keys.map((key) => ({
        code: inBranches ? 'UNKNOWN_BRANCH' : 'UNKNOWN_KEY',
        path: formatPath([...path, key]),
        message: inBranches ? `branch '${key}' is not one this step type can take` : `unknown key '${key}'`,
      }));
    }
    case 'invalid_union':
      if ('discriminator' in issue && issue.discriminator === 'type') {
        return [{ code: 'UNKNOWN_STEP_TYPE', path: at, message: `unknown step type; known types: ${(issue as { options?: unknown[] }).options?.join(', ') ?? ''}` }];
      }
      if ('discriminator' in issue && issue.discriminator) {
        return [{ code: 'INVALID_VALUE', path: at, message: `${String(issue.discriminator)} must be one of ${(issue as { options?: unknown[] }).options?.join(', ') ?? ''}` }];
      }
      return [{ code: 'INVALID_VALUE', path: at, message: issue.message }];
    case 'too_big':
    case 'too_small':
      if (issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint') return [{ code: 'OUT_OF_BOUNDS', path: at, message: issue.message }];
      return [{ code: 'INVALID_VALUE', path: at, message: issue.message }];
    case 'invalid_type':
      if ((issue as { input?: unknown }).input === undefined && issue.message.includes('received undefined')) {
        return [{ code: 'MISSING_FIELD', path: at, message: `required (${issue.expected})` }];
      }
      return [{ code: 'INVALID_VALUE', path: at, message: issue.message }];
    default:
      return [{ code: 'INVALID_VALUE', path: at, message: issue.message }];
  }
}

/** A deep copy of `value` without the keys the issues point at (unknown keys, bad values). */
function withoutIssues(value: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  const copy = structuredClone(value) as Record<PropertyKey, unknown>;
  for (const issue of issues) {
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of paths) {
      if (path.length === 0) continue;
      let target: unknown = copy;
      for (const key of path.slice(0, -1)) target = (target as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
      if (target && typeof target === 'object') delete (target as Record<PropertyKey, unknown>)[path[path.length - 1] as PropertyKey];
    }
  }
  return copy;
}

const FlowShell = FlowSchema.extend({ steps: z.array(z.unknown()).min(1).max(1000) });

/**
 * Validates a flow definition (already parsed from JSON).
 * @returns every error and warning; `flow` (defaults applied) when there is no error.
 * @example const { valid, errors } = await validateFlow(JSON.parse(text), { allowPrivateHosts: true });
 */
export async function validateFlow(raw: unknown, options: ValidateOptions = {}): Promise<ValidationResult> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const shell = FlowShell.safeParse(raw);
  if (!shell.success) errors.push(...shell.error.issues.flatMap((i) => mapIssue(i, [])));

  const rawSteps: unknown[] = Array.isArray((raw as { steps?: unknown })?.steps) ? ((raw as { steps: unknown[] }).steps) : [];
  const steps: Array<{ step: Step; index: number }> = [];
  rawSteps.forEach((s, index) => {
    const parsed = StepSchema.safeParse(s);
    if (parsed.success) return void steps.push({ step: parsed.data, index });
    errors.push(...parsed.error.issues.flatMap((i) => mapIssue(i, ['steps', index])));
    // Drop the offending keys and try again, so the rest of the step is still checked.
    const repaired = StepSchema.safeParse(withoutIssues(s, parsed.error.issues));
    if (repaired.success) steps.push({ step: repaired.data, index });
  });

  // Step ids, including those of steps that failed the schema, so one bad step does not cascade.
  const ids = new Map<string, number>();
  rawSteps.forEach((s, index) => {
    const id = (s as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') return;
    if (ids.has(id)) errors.push({ code: 'DUPLICATE_STEP_ID', path: `steps[${index}].id`, message: `step id '${id}' is already used by steps[${ids.get(id)}]` });
    else ids.set(id, index);
  });
  const missingStep = (path: string, target: string) => {
    if (!ids.has(target)) errors.push({ code: 'MISSING_STEP', path, message: `no step has id '${target}'` });
  };
  // Transitions are checked on every step, parsed or not.
  rawSteps.forEach((s, index) => {
    const { next, branches } = (s ?? {}) as { next?: unknown; branches?: unknown };
    if (typeof next === 'string') missingStep(`steps[${index}].next`, next);
    if (branches && typeof branches === 'object') {
      for (const [branch, target] of Object.entries(branches)) if (typeof target === 'string') missingStep(`steps[${index}].branches.${branch}`, target);
    }
  });
  const top = (raw ?? {}) as { startStepId?: unknown; allowedHosts?: unknown; inputs?: unknown; session?: { variables?: unknown } };
  if (typeof top.startStepId === 'string') missingStep('startStepId', top.startStepId);
  const allowedHosts = Array.isArray(top.allowedHosts) ? (top.allowedHosts.filter((h) => typeof h === 'string') as string[]) : undefined;

  const reads = new Map<string, string>();
  const sets = new Set<string>(BUILTIN_VARIABLES);
  for (const v of [...(Array.isArray(top.inputs) ? top.inputs : []), ...(Array.isArray(top.session?.variables) ? top.session.variables : [])]) {
    if (typeof v === 'string') sets.add(v);
  }
  const edges = new Map<string, string[]>();

  for (const { step, index } of steps) {
    const base = `steps[${index}]`;
    const targets: string[] = [...(step.next ? [step.next] : []), ...Object.values(step.branches ?? {}).filter((t): t is string => typeof t === 'string')];
    const definition = getStepDefinition(step.type)!;
    const analysis: StepAnalysis = definition.analyze(step.configuration);
    const cfg = `${base}.configuration`;
    for (const ref of analysis.stepRefs ?? []) {
      missingStep(`${cfg}.${ref.path}`, ref.stepId);
      targets.push(ref.stepId);
    }
    edges.set(step.id, targets);
    const note = (names: Iterable<string>, path: string) => {
      for (const n of names) if (!reads.has(n)) reads.set(n, path);
    };
    for (const e of analysis.expressions ?? []) {
      try {
        note(compileExpression(e.source).variables, `${cfg}.${e.path}`);
      } catch (err) {
        errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${e.path}`, message: (err as Error).message });
      }
    }
    for (const t of [...(analysis.templates ?? []), ...(analysis.urls ?? [])]) {
      try {
        note(compileTemplate(t.text).variables, `${cfg}.${t.path}`);
      } catch (err) {
        errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${t.path}`, message: (err as Error).message });
      }
    }
    for (const m of analysis.mappings ?? []) {
      try {
        compileMapping(m.source);
      } catch (err) {
        errors.push({ code: m.source.trim().startsWith('$') ? 'BAD_JSONPATH' : 'BAD_EXPRESSION', path: `${cfg}.${m.path}`, message: (err as Error).message });
      }
    }
    for (const u of analysis.urls ?? []) checkUrl(u.text, `${cfg}.${u.path}`, options, allowedHosts, errors);
    for (const s of analysis.secrets ?? []) {
      if (s.value.trim() !== '' && !s.value.includes('{{')) {
        errors.push({ code: 'LITERAL_SECRET', path: `${cfg}.${s.path}`, message: 'a literal secret is not allowed here; reference a variable or connection with {{ }}' });
      }
    }
    for (const f of analysis.flowRefs ?? []) {
      if (options.flowExists && !(await options.flowExists(f.flowId, f.version))) {
        errors.push({ code: 'MISSING_FLOW', path: `${cfg}.${f.path}`, message: `flow '${f.flowId}'${f.version ? ` version ${f.version}` : ''} does not exist` });
      }
    }
    for (const v of analysis.sets ?? []) sets.add(v);
  }

  if (steps.length === rawSteps.length && steps.length > 0) {
    const start = typeof top.startStepId === 'string' ? top.startStepId : steps[0]!.step.id;
    const seen = new Set<string>();
    const queue = [start];
    while (queue.length) {
      const id = queue.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(...(edges.get(id) ?? []));
    }
    for (const { step, index } of steps) {
      if (!seen.has(step.id)) warnings.push({ code: 'UNREACHABLE_STEP', path: `steps[${index}]`, message: `step '${step.id}' cannot be reached from '${start}'` });
    }
    for (const [name, path] of reads) {
      if (!sets.has(name)) warnings.push({ code: 'UNSET_VARIABLE', path, message: `variable '${name}' is read but never set; declare it in inputs` });
    }
  }

  if (errors.length > 0 || !shell.success) return { valid: false, errors, warnings };
  return { valid: true, flow: FlowSchema.parse(raw), errors, warnings };
}

function checkUrl(text: string, path: string, options: ValidateOptions, allowedHosts: string[] | undefined, errors: Diagnostic[]): void {
  const templateAt = text.indexOf('{{');
  const origin = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(text);
  if (!origin) {
    if (templateAt !== 0) errors.push({ code: 'BAD_URL', path, message: 'URL must be absolute (http:// or https://) or start with a {{ reference }}' });
    return;
  }
  if (origin[2]!.includes('{{')) return; // host comes from a variable: checked at run time
  let url: URL;
  try {
    url = new URL(text.replace(/\{\{[\s\S]*?\}\}/g, 'x'));
  } catch {
    errors.push({ code: 'BAD_URL', path, message: `not a valid URL: ${text.slice(0, 200)}` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({ code: 'BAD_URL', path, message: `scheme must be http or https, got ${url.protocol}` });
    return;
  }
  if (!options.allowPrivateHosts && isPrivateHost(url.hostname)) {
    errors.push({ code: 'PRIVATE_HOST', path, message: `host ${url.hostname} is loopback, private or link-local` });
  }
  if (allowedHosts && !hostAllowed(url.hostname, allowedHosts)) {
    errors.push({ code: 'HOST_NOT_ALLOWED', path, message: `host ${url.hostname} is not in allowedHosts` });
  }
}

/**
 * Validates and returns the flow.
 * @throws FlowValidationError (422) listing every problem.
 */
export async function parseFlow(raw: unknown, options: ValidateOptions = {}): Promise<Flow> {
  const result = await validateFlow(raw, options);
  if (!result.flow) throw new FlowValidationError(result.errors);
  return result.flow;
}

