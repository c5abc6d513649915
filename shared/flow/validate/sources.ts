/**
 * The sources in a step's configuration (docs/architecture.md, "Validation"): expressions and
 * `{{ }}` templates compile (BAD_EXPRESSION), string bodies render to JSON (BAD_BODY_TEMPLATE),
 * JSON Schemas compile (BAD_SCHEMA), response mappings parse (BAD_JSONPATH, BAD_EXPRESSION); the
 * variables they read are noted, and a variable bound to a secret may be read only in
 * authentication fields and headers (SECRET_MISUSE).
 */
import { ExpressionError, IvrflowError } from '../../errors';
import { compileExpression } from '../../expressions/evaluator';
import { compileMapping } from '../../expressions/response-mapping';
import { compileTemplate, jsonTemplateProblem } from '../../expressions/template';
import { compileJsonSchema } from '../../steps/data-api';
import type { StepAnalysis } from '../../steps/types';
import type { Validation } from './context';
import { messageOf, preview, quoted } from './messages';

/** Notes the variables a source at `path` reads; `credential`: an authentication field or header. */
type Note = (names: Iterable<string>, path: string, credential?: boolean) => void;

/** The step's {@link Note}: a variable the step provides to `path` itself (its `locals`) is not a read. */
function noteOf(v: Validation, analysis: StepAnalysis, cfg: string): Note {
  const { reads, secretNames, errors } = v;
  const localTo = new Map((analysis.locals ?? []).map((l) => [l.name, l.paths.map((p) => `${cfg}.${p}`)]));
  return (names: Iterable<string>, path: string, credential = false) => {
    for (const n of names) {
      if (localTo.get(n)?.some((p) => path === p || path.startsWith(`${p}.`))) continue;
      if (!reads.has(n)) reads.set(n, path);
      if (!credential && secretNames.has(n)) errors.push({ code: 'SECRET_MISUSE', path, message: `variable ${quoted(n)} is bound to a secret: it may be used only in authentication fields and headers` });
    }
  };
}

/** A compile error's message, with the source when the message does not quote it. */
function sourceProblem(err: unknown, source: string): string {
  const message = messageOf(err);
  return message.includes(source) ? message : `${message}; in ${preview(source)}`;
}

/** Compiles every source of a step, in this order: expressions, templates and URLs, JSON templates, JSON Schemas, mappings. */
export async function checkSources(v: Validation, analysis: StepAnalysis, cfg: string): Promise<void> {
  const note = noteOf(v, analysis, cfg);
  checkExpressions(v, analysis, cfg, note);
  const badTemplates = checkTemplates(v, analysis, cfg, note);
  checkJsonTemplates(v, analysis, cfg, badTemplates);
  await checkJsonSchemas(v, analysis, cfg);
  checkMappings(v, analysis, cfg);
}

function checkExpressions(v: Validation, analysis: StepAnalysis, cfg: string, note: Note): void {
  for (const e of analysis.expressions ?? []) {
    try {
      note(compileExpression(e.source).variables, `${cfg}.${e.path}`);
    } catch (err) {
      v.errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${e.path}`, message: sourceProblem(err, e.source) });
    }
  }
}

/** Templates and URLs (templates too). @returns the paths of those that do not compile. */
function checkTemplates(v: Validation, analysis: StepAnalysis, cfg: string, note: Note): Set<string> {
  const badTemplates = new Set<string>();
  for (const t of [...(analysis.templates ?? []), ...(analysis.urls ?? [])]) {
    try {
      note(compileTemplate(t.text).variables, `${cfg}.${t.path}`, 'credential' in t && t.credential === true);
    } catch (err) {
      badTemplates.add(t.path);
      v.errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${t.path}`, message: sourceProblem(err, t.text) });
    }
  }
  return badTemplates;
}

function checkJsonTemplates(v: Validation, analysis: StepAnalysis, cfg: string, badTemplates: Set<string>): void {
  const { errors } = v;
  for (const t of analysis.jsonTemplates ?? []) {
    if (badTemplates.has(t.path)) continue; // already reported as BAD_EXPRESSION
    let problem: string | undefined;
    try {
      problem = jsonTemplateProblem(t.text);
    } catch (err) {
      if (err instanceof ExpressionError) {
        errors.push({ code: 'BAD_EXPRESSION', path: `${cfg}.${t.path}`, message: sourceProblem(err, t.text) });
        continue;
      }
      problem = messageOf(err); // e.g. a body over the length budget
    }
    if (problem !== undefined) {
      errors.push({ code: 'BAD_BODY_TEMPLATE', path: `${cfg}.${t.path}`, message: `${t.path} must render to JSON but does not (checked with placeholder values): ${problem}; in ${preview(t.text)}` });
    }
  }
}

async function checkJsonSchemas(v: Validation, analysis: StepAnalysis, cfg: string): Promise<void> {
  for (const s of analysis.jsonSchemas ?? []) {
    try {
      await compileJsonSchema(s.schema);
    } catch (err) {
      const message = err instanceof IvrflowError && err.code === 'BAD_SCHEMA' ? err.message : `JSON Schema does not compile: ${messageOf(err)}`;
      v.errors.push({ code: 'BAD_SCHEMA', path: `${cfg}.${s.path}`, message });
    }
  }
}

function checkMappings(v: Validation, analysis: StepAnalysis, cfg: string): void {
  for (const m of analysis.mappings ?? []) {
    try {
      compileMapping(m.source);
    } catch (err) {
      v.errors.push({ code: m.source.trim().startsWith('$') ? 'BAD_JSONPATH' : 'BAD_EXPRESSION', path: `${cfg}.${m.path}`, message: sourceProblem(err, m.source) });
    }
  }
}
