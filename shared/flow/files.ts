/** Reading flow files (and workflow configurations) from disk (the CLI's validate, graph, run, test and serve, flow tests, the demo). */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';
import type { Diagnostic } from '../errors';
import type { FlowResolver } from '../executor/executor';
import { WorkflowConfigurationInput } from '../workflows/workflow-configuration';
import type { Flow } from './schema';
import { validateFlow } from './validate';

/**
 * Reads and parses a JSON file; a parse failure is an `INVALID_JSON` diagnostic, never a throw.
 * A syntax error names its place: `line L, column C (1-based): <what>` (found by jsonc-parser
 * with comments and trailing commas refused, as RFC 8259 does).
 * @param parse the parser (default `JSON.parse`; `parseUntrustedJson` for a depth limit): what it
 *   throws becomes the `INVALID_JSON` message.
 */
export function readJsonFile(file: string, parse: (text: string) => unknown = JSON.parse): { value?: unknown; error?: Diagnostic } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { error: { code: 'UNREADABLE_FILE', path: '', message: (err as Error).message } };
  }
  try {
    return { value: parse(text) };
  } catch (err) {
    return { error: { code: 'INVALID_JSON', path: '', message: err instanceof SyntaxError ? syntaxErrorPlace(text, err) : (err as Error).message } };
  }
}

/** Where the JSON text's first syntax error is, as `line L, column C: <what> (<JSON.parse's message>)`. */
function syntaxErrorPlace(text: string, err: SyntaxError): string {
  const errors: ParseError[] = [];
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return err.message;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  const what = printParseErrorCode(first.error)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return `line ${line}, column ${column}: ${what} (${err.message.replace(/\s+/g, ' ')})`;
}

/** Lists the flow files (`*.json`, not `*.test.json` or `*.vars.json`) of a folder. */
export function flowFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.test.json') && !f.endsWith('.vars.json'))
    .sort()
    .map((f) => join(dir, f));
}

/** A flow file that does not validate, found under the flow id it declares. */
export interface InvalidFlowFile {
  file: string;
  /** The `version` it declares, when it is a number. */
  version?: number;
  /** Its first problem. */
  problem: Diagnostic;
}

/** A file name for messages: relative to the working directory when under it, else absolute. */
function displayName(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/**
 * A resolver over a folder of flow files: each valid file is indexed by `id` (and `version`).
 * Invalid files are not runnable; those whose `id` is readable are listed in `invalid`, so that
 * `flowExists` (for {@link validateFlow}'s `ValidateOptions.flowExists`) answers a reference to
 * them with the file and its first problem (`INVALID_SUBFLOW`) rather than as a missing flow.
 */
export async function folderResolver(
  dir: string,
  allowPrivateHosts: boolean,
): Promise<{ resolve: FlowResolver; flows: Map<string, Flow[]>; invalid: Map<string, InvalidFlowFile>; flowExists: (flowId: string, version?: number) => Promise<boolean | string> }> {
  const flows = new Map<string, Flow[]>();
  const invalid = new Map<string, InvalidFlowFile>();
  for (const file of flowFilesIn(dir)) {
    const { value } = readJsonFile(file);
    if (value === undefined) continue;
    const result = await validateFlow(value, { allowPrivateHosts });
    if (!result.flow) {
      const { id, version } = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { id?: unknown; version?: unknown }) : {};
      const problem = result.errors[0];
      if (typeof id === 'string' && problem && !invalid.has(id)) invalid.set(id, { file: displayName(file), ...(typeof version === 'number' ? { version } : {}), problem });
      continue;
    }
    const list = flows.get(result.flow.id) ?? [];
    list.push(result.flow);
    list.sort((a, b) => (b.version ?? 0) - (a.version ?? 0));
    flows.set(result.flow.id, list);
  }
  const resolve: FlowResolver = (flowId, version) => {
    const list = flows.get(flowId);
    if (!list) return Promise.resolve(undefined);
    return Promise.resolve(version === undefined ? list[0] : list.find((f) => (f.version ?? 1) === version));
  };
  const flowExists = async (flowId: string, version?: number): Promise<boolean | string> => {
    if ((await resolve(flowId, version)) !== undefined) return true;
    const bad = invalid.get(flowId);
    if (!bad || (version !== undefined && bad.version !== undefined && bad.version !== version)) return false;
    const { code, path, message } = bad.problem;
    return `flow '${flowId}' (file ${bad.file}) is invalid: ${code} ${path || '(root)'}: ${message}`;
  };
  return { resolve, flows, invalid, flowExists };
}

/**
 * The workflow configurations of a folder laid out like `examples/workflow-configurations`
 * (`<configurationId>.json`, the body of `PUT /workflow-configurations/{id}`), by id; an
 * unreadable or invalid file is an `INVALID_WORKFLOW_CONFIGURATION` problem naming the file.
 * A folder that does not exist holds none.
 */
export function workflowConfigurationsIn(dir: string): { configurations: Map<string, WorkflowConfigurationInput>; problems: Diagnostic[] } {
  const configurations = new Map<string, WorkflowConfigurationInput>();
  const problems: Diagnostic[] = [];
  if (!existsSync(dir)) return { configurations, problems };
  for (const file of flowFilesIn(dir)) {
    const { value, error } = readJsonFile(file);
    const parsed = error ? undefined : WorkflowConfigurationInput.safeParse(value);
    if (parsed?.success) configurations.set(basename(file, '.json'), parsed.data);
    else problems.push({ code: 'INVALID_WORKFLOW_CONFIGURATION', path: '', message: `${displayName(file)}: ${error?.message ?? parsed?.error.issues[0]?.message ?? 'invalid'}` });
  }
  return { configurations, problems };
}
