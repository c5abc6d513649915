/**
 * `ivrflow validate <file...>`: checks flow files (and flow test files) as the Flow API would,
 * plus what only the files around them can tell:
 * - SubFlow references resolve among the files given and the flows folder (`--flows`, default:
 *   each file's own folder): `MISSING_FLOW`, or `INVALID_SUBFLOW` naming the invalid file;
 * - WorkflowExecute steps with a literal `configurationId` and `workflowId` resolve through the
 *   workflow configurations folder (`--workflow-configurations`, default: `workflow-configurations`
 *   beside the flows folder, when it exists) to a flow: `MISSING_WORKFLOW_CONFIGURATION`,
 *   `MISSING_WORKFLOW`, `MISSING_FLOW`;
 * - caller fit (docs/caller-fit.md): each path's worst case against min(the flow's deadline, the
 *   caller's limit). With `--caller <name>[:ms]`, `CALLER_DEADLINE_EXCEEDED` and
 *   `STEP_TIMEOUT_EXCEEDS_DEADLINE` are errors and the figures are printed; without it the flow's
 *   `deadlineMs` is the limit and they are warnings. `NO_TIMEOUT_FALLBACK` is always a warning.
 * Exit 0 when every file is valid, 1 otherwise, 2 for bad usage.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Diagnostic } from '#shared/errors';
import { callerFit, parseCaller, type Caller, type CallerFitReport } from '#shared/flow/caller-fit';
import { folderResolver, readJsonFile, workflowConfigurationsIn } from '#shared/flow/files';
import type { Flow } from '#shared/flow/schema';
import { validateFlow } from '#shared/flow/validate';
import { loadTestFile } from '#shared/testing/runner';
import type { WorkflowConfigurationInput } from '#shared/workflows/workflow-configuration';
import { formatDiagnostics } from './format';

/** The options of `ivrflow validate`, as the command line parser gives them. */
export interface ValidateOptions {
  json?: boolean;
  allowPrivateHosts?: boolean;
  flows?: string;
  workflowConfigurations?: string;
  caller?: string;
}

interface FileReport {
  file: string;
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** A flow test file's number of cases. */
  cases?: number;
  /** With `--caller`: each path's worst case. */
  callerFit?: Pick<CallerFitReport, 'limitMs' | 'deadlineMs' | 'worstCaseMs' | 'paths'> & { caller?: Caller };
}

/** What every file of one `validate` shares: the options, the flows given, and each folder read once. */
interface Context {
  values: ValidateOptions;
  caller: Caller | undefined;
  given: Map<string, Flow[]>;
  /** Flow folders by absolute path. */
  folders: Map<string, ReturnType<typeof folderResolver>>;
  /** Workflow configuration folders by path (undefined: the folder does not exist). */
  configurations: Map<string, ReturnType<typeof workflowConfigurationsIn> | undefined>;
}

/** Runs `ivrflow validate`; returns the exit code. */
export async function validateCommand(files: string[], values: ValidateOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let caller: Caller | undefined;
  try {
    caller = values.caller === undefined ? undefined : parseCaller(values.caller);
  } catch (e) {
    err(`--caller: ${(e as Error).message}`);
    return 2;
  }
  if (values.flows !== undefined && !existsSync(values.flows)) {
    err(`--flows: ${values.flows}: no such folder`);
    return 2;
  }
  const context: Context = { values, caller, given: await givenFlows(files), folders: new Map(), configurations: new Map() };
  const reports: FileReport[] = [];
  for (const file of files) {
    const report = file.endsWith('.test.json') ? await validateTestFile(file) : await validateFlowFile(file, context);
    reports.push(report);
    if (values.json) continue;
    for (const l of formatDiagnostics(file, report.errors, 'error')) err(l);
    for (const l of formatDiagnostics(file, report.warnings, 'warning')) err(l);
    if (report.callerFit && caller) for (const l of callerFitLines(report.callerFit)) out(`${file}: ${l}`);
    if (report.valid) out(`${file}: valid${report.cases !== undefined ? ` (flow test file, ${report.cases} case(s))` : report.warnings.length ? ` (${report.warnings.length} warning(s))` : ''}`);
  }
  if (values.json) out(JSON.stringify({ valid: reports.every((f) => f.valid), files: reports }, null, 2));
  return reports.every((f) => f.valid) ? 0 : 1;
}

/** A flow test file, checked as `ivrflow test` loads it (the file, its flow, sub-flows and definitions). */
async function validateTestFile(file: string): Promise<FileReport> {
  const { loaded, errors } = await loadTestFile(file);
  return { file, valid: loaded !== undefined, errors, warnings: [], ...(loaded ? { cases: loaded.test.cases.length } : {}) };
}

/** The valid flows among the files given, by id (newest version first), so they can call each other. */
async function givenFlows(files: string[]): Promise<Map<string, Flow[]>> {
  const flows = new Map<string, Flow[]>();
  for (const file of files) {
    if (file.endsWith('.test.json')) continue;
    const { value } = readJsonFile(file);
    const flow = value === undefined ? undefined : (await validateFlow(value, { allowPrivateHosts: true })).flow;
    if (!flow) continue;
    flows.set(
      flow.id,
      [...(flows.get(flow.id) ?? []), flow].sort((a, b) => (b.version ?? 0) - (a.version ?? 0)),
    );
  }
  return flows;
}

async function validateFlowFile(file: string, context: Context): Promise<FileReport> {
  const { values, caller, given } = context;
  const { value, error } = readJsonFile(file);
  if (error) return { file, valid: false, errors: [error], warnings: [] };
  const flowsDir = resolve(values.flows ?? dirname(file));
  if (!context.folders.has(flowsDir)) context.folders.set(flowsDir, folderResolver(flowsDir, true));
  const folder = await context.folders.get(flowsDir)!;
  const find = (flowId: string, version?: number): Flow | undefined => {
    const list = [...(given.get(flowId) ?? []), ...(folder.flows.get(flowId) ?? [])];
    return version === undefined ? list[0] : list.find((f) => (f.version ?? 1) === version);
  };
  const flowExists = async (flowId: string, version?: number): Promise<boolean | string> => (find(flowId, version) ? true : folder.flowExists(flowId, version));
  const result = await validateFlow(value, { allowPrivateHosts: values.allowPrivateHosts ?? false, flowExists });
  const errors = [...result.errors];
  const warnings = [...result.warnings];
  if (!result.flow) return { file, valid: false, errors, warnings };

  const configurationsDir = values.workflowConfigurations ?? join(dirname(flowsDir), 'workflow-configurations');
  if (!context.configurations.has(configurationsDir)) context.configurations.set(configurationsDir, existsSync(configurationsDir) ? workflowConfigurationsIn(configurationsDir) : undefined);
  const read = context.configurations.get(configurationsDir);
  const configurations = read?.configurations;
  if (read) errors.push(...read.problems, ...workflowReferences(result.flow, read.configurations, find));

  // Caller fit runs always: without --caller the flow's deadlineMs is the limit and its findings are warnings.
  const flows = new Map<string, Flow>();
  for (const id of new Set([...given.keys(), ...folder.flows.keys()])) flows.set(id, find(id)!);
  const fit = callerFit(result.flow, {
    ...(caller ? { caller } : {}),
    flows,
    ...(configurations
      ? {
          workflowFlow: (configurationId: string, workflowId: string) => {
            const flowId = configurations.get(configurationId)?.workflows[workflowId]?.flowId;
            return flowId === undefined ? undefined : find(flowId);
          },
        }
      : {}),
  });
  errors.push(...fit.errors);
  warnings.push(...fit.warnings);
  return { file, valid: errors.length === 0, errors, warnings, callerFit: { ...(caller ? { caller } : {}), limitMs: fit.limitMs, deadlineMs: fit.deadlineMs, worstCaseMs: fit.worstCaseMs, paths: fit.paths } };
}

/** The caller-fit figures: the limit, then each path's worst case (worst first, at most 20 lines). */
function callerFitLines(fit: NonNullable<FileReport['callerFit']>): string[] {
  const against = fit.caller ? `caller ${fit.caller.name} ${fit.caller.limitMs} ms, deadline ${fit.deadlineMs} ms` : `deadline ${fit.deadlineMs} ms`;
  const lines = fit.paths.slice(0, 20).map((p) => `  ${String(p.worstCaseMs).padStart(6)} ms  ${p.path.join(' → ')}${p.worstCaseMs > fit.limitMs ? '  (exceeds)' : ''}`);
  return [`worst case ${fit.worstCaseMs} ms against ${fit.limitMs} ms (${against}):`, ...lines, ...(fit.paths.length > 20 ? [`  … ${fit.paths.length - 20} more path(s) (--json lists them)`] : [])];
}

/** WorkflowExecute steps whose literal configuration and workflow ids do not lead to a flow. Templated ids are resolved only at run time. */
function workflowReferences(flow: Flow, configurations: Map<string, WorkflowConfigurationInput>, find: (flowId: string) => Flow | undefined): Diagnostic[] {
  const out: Diagnostic[] = [];
  flow.steps.forEach((step, i) => {
    if (step.type !== 'WorkflowExecute') return;
    const { configurationId, workflowId } = step.configuration as { configurationId: string; workflowId: string };
    if (configurationId.includes('{{') || workflowId.includes('{{')) return;
    const path = `steps[${i}].configuration`;
    const configuration = configurations.get(configurationId);
    if (!configuration) out.push({ code: 'MISSING_WORKFLOW_CONFIGURATION', path: `${path}.configurationId`, message: `workflow configuration '${configurationId}' does not exist` });
    else if (!configuration.workflows[workflowId])
      out.push({ code: 'MISSING_WORKFLOW', path: `${path}.workflowId`, message: `workflow configuration '${configurationId}' has no workflow '${workflowId}' (it has ${Object.keys(configuration.workflows).join(', ') || 'none'})` });
    else if (!find(configuration.workflows[workflowId].flowId))
      out.push({ code: 'MISSING_FLOW', path: `${path}.workflowId`, message: `workflow '${workflowId}' of '${configurationId}' runs flow '${configuration.workflows[workflowId].flowId}', which does not exist` });
  });
  return out;
}
