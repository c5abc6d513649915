/**
 * The Flow API's core (docs/architecture.md, "Flow definitions in DynamoDB" and "Validation"):
 * deploy (validate, then store the next version), read, list, delete, and validate-only with
 * caller fit (docs/caller-fit.md). HTTP-free: handlers and the local server call it. The flow's
 * graph (docs/graph.md) is flow-graph-service.ts, over this service: a function that deploys
 * definitions and draws nothing (the definitions-deployer) bundles no renderer.
 */
import type { Clock } from '../clock';
import { BadRequestError, FlowValidationError, NotFoundError, VersionConflictError, type Diagnostic } from '../errors';
import { callerFit, parseCaller, type Caller, type CallerFitReport } from '../flow/caller-fit';
import type { Flow } from '../flow/schema';
import { preview, validateFlow } from '../flow/validate';
import { connectionHosts, type Connection } from '../connections/connection';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';
import type { ConnectionStore, FlowStore, FlowSummary, FlowVersionSummary, Page } from '../stores/ports';
import type { WorkflowConfiguration, WorkflowConfigurationReader } from '../workflows/workflow-configuration';

/** What the flow service is built from: the flow store, the clock, and optionally the connections flows may name. */
export interface FlowServiceProps {
  flows: FlowStore;
  clock: Clock;
  /** Accept loopback/private hosts in flows (local development only). @default false */
  allowPrivateHosts?: boolean;
  /** Connections flows may name (checked on deploy: `MISSING_CONNECTION`, `UNKNOWN_REQUEST`, hosts; caller fit reads their timeouts). @default not checked */
  connections?: ConnectionStore;
  /** Workflow configurations, through which WorkflowExecute steps reach their flows (caller fit, graph clusters). @default none */
  workflowConfigurations?: WorkflowConfigurationReader;
}

/** At most this many flows are read for one flow's sub-flows and workflows (recursively); past it calls are drawn and figured unresolved. */
export const MAX_CALLED_FLOWS = 50;

/** What `POST /flows/validate` answers: the diagnostics, and caller fit's figures (docs/caller-fit.md) when the flow is valid. */
export interface CheckResult {
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  callerFit?: Pick<CallerFitReport, 'limitMs' | 'deadlineMs' | 'worstCaseMs' | 'worstCaseExact' | 'paths' | 'pathsTruncated'> & { caller?: Caller };
}

/** The flows a flow calls, as caller fit and the graph read them. */
export interface CalledFlows {
  flows: Map<string, Flow>;
  workflowFlowId: (configurationId: string, workflowId: string) => string | undefined;
  connections: Map<string, Connection>;
}

/** What a deploy stored: the flow, its new version and the validation warnings. */
export interface DeployResult {
  flowId: string;
  version: number;
  warnings: Diagnostic[];
}

/** Deploys (validate, then store the next version), reads, lists, deletes and validates flows. */
export class FlowService {
  constructor(private readonly props: FlowServiceProps) {}

  private validate(raw: unknown) {
    return validateFlow(raw, {
      allowPrivateHosts: this.props.allowPrivateHosts ?? false,
      flowExists: async (id, version) => (await this.props.flows.getFlow(id, version)) !== undefined,
      ...(this.props.connections ? { connection: async (name: string) => this.connectionFacts(name) } : {}),
    });
  }

  private async connectionFacts(name: string): Promise<{ hosts: string[]; requests: string[] } | undefined> {
    const connection = await this.props.connections!.getConnection(name);
    return connection && { hosts: connectionHosts(connection), requests: Object.keys(connection.requests ?? {}) };
  }

  /**
   * Validates `raw` and stores it as the next version of `flowId`.
   * `raw.id` must equal `flowId` when given; `raw.version`, when given, must be current + 1.
   * @throws FlowValidationError (422) with every problem; BadRequestError (400) for an id mismatch;
   *   VersionConflictError (409, `details.currentVersion`) for a stale or concurrent version.
   */
  async deploy(flowId: string, raw: unknown, auditor: Auditor = LOCAL_ACTOR): Promise<DeployResult> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('INVALID_BODY', 'the body must be a JSON object (a flow definition)');
    const body = raw as Record<string, unknown>;
    const id = body['id'];
    if (id !== undefined && id !== flowId) throw new BadRequestError('ID_MISMATCH', `the body's id '${typeof id === 'string' ? id : preview(id)}' differs from the path's '${flowId}'`);
    const result = await this.validate({ ...body, id: flowId });
    if (!result.flow) throw new FlowValidationError(result.errors);
    const current = await this.props.flows.getLatestVersion(flowId);
    const version = result.flow.version ?? current + 1;
    if (version !== current + 1) {
      throw new VersionConflictError(`flow '${flowId}' is at version ${current}; the body's version must be ${current + 1} or absent`, { flowId, currentVersion: current });
    }
    const flow: Flow & { version: number } = { ...result.flow, version };
    await this.props.flows.putFlowVersion(flow, new Date(this.props.clock.now()).toISOString(), auditor);
    return { flowId, version, warnings: result.warnings };
  }

  /** @throws NotFoundError (404) */
  async get(flowId: string, version?: number): Promise<Flow> {
    const flow = await this.props.flows.getFlow(flowId, version);
    if (!flow) throw new NotFoundError(version === undefined ? `flow '${flowId}' does not exist` : `flow '${flowId}' has no version ${version}`);
    return flow;
  }

  list(limit: number, cursor?: string): Promise<Page<FlowSummary>> {
    return this.props.flows.listFlows(limit, cursor);
  }

  /** A flow's versions, newest first. @throws NotFoundError (404) for an unknown flow; BadRequestError 400 BAD_CURSOR */
  async versions(flowId: string, limit: number, cursor?: string): Promise<Page<FlowVersionSummary>> {
    const page = await this.props.flows.listVersions(flowId, limit, cursor);
    if (page.items.length === 0 && cursor === undefined) throw new NotFoundError(`flow '${flowId}' does not exist`);
    return page;
  }

  /** @throws NotFoundError (404) */
  async delete(flowId: string, auditor: Auditor = LOCAL_ACTOR): Promise<void> {
    if (!(await this.props.flows.deleteFlow(flowId, auditor))) throw new NotFoundError(`flow '${flowId}' does not exist`);
  }

  /**
   * Diagnostics only; stores nothing. A valid flow is also checked for caller fit
   * (docs/caller-fit.md) over the stored flows it calls: against `caller` (`connect`,
   * `connect:3000`, `twilio`, `cxone:<ms>`, `genesys:<ms>`, `<ms>`) `CALLER_DEADLINE_EXCEEDED` and
   * `STEP_TIMEOUT_EXCEEDS_DEADLINE` are errors; without one the flow's `deadlineMs` is the limit and
   * they are warnings.
   * @throws CallerError (400 INVALID_CALLER) for a caller that is none of those
   */
  async check(raw: unknown, options: { caller?: string } = {}): Promise<CheckResult> {
    const caller = options.caller === undefined ? undefined : parseCaller(options.caller);
    const { flow, errors, warnings } = await this.validate(raw);
    if (!flow) return { valid: false, errors, warnings };
    const called = await this.calledFlows(flow);
    const fit = callerFit(flow, {
      ...(caller ? { caller } : {}),
      flows: called.flows,
      workflowFlow: (configurationId, workflowId) => {
        const flowId = called.workflowFlowId(configurationId, workflowId);
        return flowId === undefined ? undefined : called.flows.get(flowId);
      },
      connectionTimeoutMs: (name, request) => {
        const connection = called.connections.get(name);
        return connection && (connection.requests?.[request]?.timeoutMs ?? connection.timeoutMs);
      },
    });
    const all = { errors: [...errors, ...fit.errors], warnings: [...warnings, ...fit.warnings] };
    const { limitMs, deadlineMs, worstCaseMs, worstCaseExact, paths, pathsTruncated } = fit;
    return { valid: all.errors.length === 0, ...all, callerFit: { ...(caller ? { caller } : {}), limitMs, deadlineMs, worstCaseMs, worstCaseExact, paths, pathsTruncated } };
  }

  /**
   * The stored flows `flow` calls, recursively (latest versions; at most {@link MAX_CALLED_FLOWS}),
   * the workflow configurations its WorkflowExecute steps name literally, and the connections its
   * IntegrationHubExecute steps name.
   */
  async calledFlows(flow: Flow): Promise<CalledFlows> {
    const flows = new Map<string, Flow>();
    const connections = new Map<string, Connection>();
    const workflows = new Map<string, string>();
    const configurations = new Map<string, WorkflowConfiguration | undefined>();
    const queue: Flow[] = [flow];
    const visit = async (flowId: string) => {
      if (flows.has(flowId) || flowId === flow.id || flows.size >= MAX_CALLED_FLOWS) return;
      const called = await this.props.flows.getFlow(flowId);
      if (called) {
        flows.set(flowId, called);
        queue.push(called);
      }
    };
    for (let next = queue.shift(); next; next = queue.shift()) {
      for (const step of next.steps) {
        const c = step.configuration as Record<string, unknown>;
        if (step.type === 'SubFlow' && typeof c['flowId'] === 'string') await visit(c['flowId']);
        else if (step.type === 'IntegrationHubExecute' && typeof c['connectName'] === 'string' && this.props.connections && !connections.has(c['connectName'])) {
          const connection = await this.props.connections.getConnection(c['connectName']);
          if (connection) connections.set(connection.name, connection);
        } else if (step.type === 'WorkflowExecute' && this.props.workflowConfigurations) {
          const { configurationId, workflowId } = c as { configurationId: string; workflowId: string };
          if (configurationId.includes('{{') || workflowId.includes('{{')) continue;
          if (!configurations.has(configurationId)) configurations.set(configurationId, await this.props.workflowConfigurations.get(configurationId));
          const flowId = configurations.get(configurationId)?.workflows[workflowId]?.flowId;
          if (flowId === undefined) continue;
          workflows.set(`${configurationId}/${workflowId}`, flowId);
          await visit(flowId);
        }
      }
    }
    // The flow itself, for a sub-flow that calls it back (drawn and figured as a recursion).
    if (!flows.has(flow.id)) flows.set(flow.id, flow);
    return { flows, connections, workflowFlowId: (configurationId, workflowId) => workflows.get(`${configurationId}/${workflowId}`) };
  }
}
