/**
 * Deploying a definitions bundle through the Flow API's own services (the same deploy path as
 * `PUT /connections/{name}`, `PUT /flows/{flowId}` and `PUT /workflow-configurations/{id}`), in
 * the order their checks need: connections first (flows naming one are checked against it), then
 * flows with sub-flows before their callers, then workflow configurations (each workflow's flow
 * must exist and be of flowType Workflow). A flow whose content equals the stored latest version
 * is not deployed again, so deploying the same bundle twice stores no new version.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ConnectionService } from '../api/connection-service';
import type { FlowService } from '../api/flow-service';
import type { WorkflowConfigurationService } from '../api/workflow-configuration-service';
import { IvrflowError, NotFoundError, type Diagnostic } from '../errors';
import type { Flow } from '../flow/schema';
import { validateFlow } from '../flow/validate';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';
import type { DefinitionsBundle } from './bundle';

/**
 * Deploys items in an order that satisfies sub-flow references: an item whose sub-flow is not
 * there yet (`missingFlow`) is tried again after the others, until a round deploys none of them.
 * @param deploy deploys one item; `missingFlow` when it was refused only for a missing sub-flow
 * @returns the items never deployed for a missing sub-flow
 */
export async function deployInOrder<T>(items: T[], deploy: (item: T) => Promise<{ ok: boolean; missingFlow: boolean }>): Promise<T[]> {
  let pending = items;
  for (;;) {
    const retry: T[] = [];
    for (const item of pending) {
      const r = await deploy(item);
      if (!r.ok && r.missingFlow) retry.push(item);
    }
    if (retry.length === 0 || retry.length === pending.length) return retry;
    pending = retry;
  }
}

/** The Flow API services a bundle is deployed through (those of the flow-api composition root). */
export interface DefinitionsServices {
  flowService: Pick<FlowService, 'deploy' | 'get'>;
  connectionService: Pick<ConnectionService, 'put'>;
  workflowConfigurationService: Pick<WorkflowConfigurationService, 'put'>;
}

/** What a deploy did, in the order it did it. */
export interface DefinitionsSummary {
  /** The connections put (created or replaced; stored credentials kept). */
  connections: string[];
  /** Each flow: the version now latest, and whether this deploy stored it (false: unchanged). */
  flows: Array<{ flowId: string; version: number; deployed: boolean }>;
  /** The workflow configurations put. */
  workflowConfigurations: string[];
}

/** One definition a deploy could not store, with the service's diagnostics. */
export interface DefinitionProblem {
  /** The file it came from (`flows/x.json`). */
  file: string;
  code: string;
  message: string;
  diagnostics: Diagnostic[];
}

/** At most this many problems, and diagnostics of each, are named in the message (CloudFormation shows the reason of a failed resource, up to a few KB). */
const MAX_NAMED = 5;

/** A bundle was not deployed completely: `problems` lists each definition refused, in deploy order. */
export class DefinitionsDeployError extends IvrflowError {
  readonly problems: DefinitionProblem[];
  constructor(phase: string, problems: DefinitionProblem[]) {
    const lines = problems.slice(0, MAX_NAMED).map((p) => {
      const diagnostics = p.diagnostics.slice(0, MAX_NAMED).map((d) => `${d.code} ${d.path || '(root)'}: ${d.message}`);
      return `${p.file}: ${p.code}${diagnostics.length ? ` (${diagnostics.join('; ')})` : `: ${p.message}`}`;
    });
    const more = problems.length > MAX_NAMED ? `; and ${problems.length - MAX_NAMED} more` : '';
    super('DEFINITIONS_NOT_DEPLOYED', `${problems.length} ${phase} not deployed: ${lines.join(' | ')}${more}`, { details: problems });
    this.name = 'DefinitionsDeployError';
    this.problems = problems;
  }
}

function problemOf(file: string, err: unknown): DefinitionProblem {
  if (!(err instanceof IvrflowError)) throw err;
  const diagnostics = Array.isArray(err.details) ? (err.details as unknown[]).filter((d): d is Diagnostic => typeof d === 'object' && d !== null && typeof (d as Diagnostic).code === 'string') : [];
  return { file, code: err.code, message: err.message, diagnostics };
}

/** The flow as {@link FlowService.deploy} would store it, without its version (undefined when it does not parse: the deploy then says why). */
async function normalised(flowId: string, body: Record<string, unknown>): Promise<unknown> {
  const { flow } = await validateFlow({ ...body, id: flowId }, { allowPrivateHosts: true });
  return flow && withoutVersion(flow);
}

/** The flow without `version`, through JSON as the store keeps it (undefined values dropped). */
function withoutVersion(flow: Flow): unknown {
  const { version: _version, ...rest } = JSON.parse(JSON.stringify(flow)) as Flow;
  return rest;
}

/** The stored latest version of a flow, or undefined when there is none. */
async function latest(services: DefinitionsServices, flowId: string): Promise<Flow | undefined> {
  try {
    return await services.flowService.get(flowId);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * Puts every definition of one phase (connections, workflow configurations), each on its own;
 * the phase fails after all were tried.
 * @throws DefinitionsDeployError listing every refused definition of the phase
 */
async function putAll<T extends { file: string }>(definitions: readonly T[], phase: string, put: (definition: T) => Promise<void>): Promise<void> {
  const refused: DefinitionProblem[] = [];
  for (const definition of definitions) {
    try {
      await put(definition);
    } catch (err) {
      refused.push(problemOf(definition.file, err));
    }
  }
  if (refused.length > 0) throw new DefinitionsDeployError(phase, refused);
}

/**
 * Deploys a bundle: connections, then flows (sub-flows first; an unchanged flow is skipped), then
 * workflow configurations. Each phase runs to its end; when one of its definitions was refused, the
 * next phase does not start (it depends on this one). Every change is audited as `auditor`'s
 * (the deployer passes `cloudformation:<stack id>`).
 * @returns what was deployed, in order
 * @throws DefinitionsDeployError listing every definition of the failed phase that was refused
 *   (the service's code and diagnostics); an unexpected error (a store fault) as it is
 * @example await deployDefinitions(flowApiRoot(config, adapters), bundleFromProperties(event.ResourceProperties))
 */
export async function deployDefinitions(services: DefinitionsServices, bundle: DefinitionsBundle, auditor: Auditor = LOCAL_ACTOR): Promise<DefinitionsSummary> {
  const summary: DefinitionsSummary = { connections: [], flows: [], workflowConfigurations: [] };

  await putAll(bundle.connections, 'connection(s)', async ({ name, body }) => {
    await services.connectionService.put(name, body, auditor);
    summary.connections.push(name);
  });

  const refusedFlows: DefinitionProblem[] = [];
  const missing = new Map<string, DefinitionProblem>();
  const left = await deployInOrder(bundle.flows, async ({ file, flowId, body }) => {
    const stored = await latest(services, flowId);
    if (stored && isDeepStrictEqual(withoutVersion(stored), await normalised(flowId, body))) {
      summary.flows.push({ flowId, version: stored.version ?? 1, deployed: false });
      return { ok: true, missingFlow: false };
    }
    try {
      const { version } = await services.flowService.deploy(flowId, body, auditor);
      summary.flows.push({ flowId, version, deployed: true });
      return { ok: true, missingFlow: false };
    } catch (err) {
      const problem = problemOf(file, err);
      // Only a missing sub-flow is worth another round: it may be deployed later in this one.
      if (problem.diagnostics.length > 0 && problem.diagnostics.every((d) => d.code === 'MISSING_FLOW')) {
        missing.set(file, problem);
        return { ok: false, missingFlow: true };
      }
      refusedFlows.push(problem);
      return { ok: false, missingFlow: false };
    }
  });
  for (const { file } of left) refusedFlows.push(missing.get(file)!);
  if (refusedFlows.length > 0) throw new DefinitionsDeployError('flow(s)', refusedFlows);

  await putAll(bundle.workflowConfigurations, 'workflow configuration(s)', async ({ configurationId, body }) => {
    await services.workflowConfigurationService.put(configurationId, body, auditor);
    summary.workflowConfigurations.push(configurationId);
  });
  return summary;
}
