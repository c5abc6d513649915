/**
 * The Flow API's core (docs/architecture.md, "Flow definitions in DynamoDB" and "Validation"):
 * deploy (validate, then store the next version), read, list, delete and validate-only. HTTP-free:
 * handlers and the local server call it.
 */
import type { Clock } from '../clock';
import { BadRequestError, FlowValidationError, NotFoundError, VersionConflictError, type Diagnostic } from '../errors';
import type { Flow } from '../flow/schema';
import { preview, validateFlow } from '../flow/validate';
import { connectionHosts } from '../connections/connection';
import type { ConnectionStore, FlowStore, FlowSummary, Page } from '../stores/ports';

/** What the flow service is built from: the flow store, the clock, and optionally the connections flows may name. */
export interface FlowServiceProps {
  flows: FlowStore;
  clock: Clock;
  /** Accept loopback/private hosts in flows (local development only). @default false */
  allowPrivateHosts?: boolean;
  /** Connections flows may name (checked on deploy: `MISSING_CONNECTION`, `UNKNOWN_REQUEST`, hosts). @default not checked */
  connections?: ConnectionStore;
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
  async deploy(flowId: string, raw: unknown): Promise<DeployResult> {
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
    await this.props.flows.putFlowVersion(flow, new Date(this.props.clock.now()).toISOString());
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

  /** @throws NotFoundError (404) */
  async delete(flowId: string): Promise<void> {
    if (!(await this.props.flows.deleteFlow(flowId))) throw new NotFoundError(`flow '${flowId}' does not exist`);
  }

  /** Diagnostics only; stores nothing. */
  async check(raw: unknown): Promise<{ valid: boolean; errors: Diagnostic[]; warnings: Diagnostic[] }> {
    const { valid, errors, warnings } = await this.validate(raw);
    return { valid, errors, warnings };
  }
}
