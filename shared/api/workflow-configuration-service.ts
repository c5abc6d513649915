/**
 * The workflow-configurations API's core (`PUT/GET/DELETE /workflow-configurations/{configurationId}`;
 * docs/architecture.md, "CRM workflows"). A configuration is checked at deploy: its connection
 * must exist and each workflow's flow must exist and be of `flowType: Workflow`; a refused body
 * changes nothing.
 */
import type { Clock } from '../clock';
import { BadRequestError, NotFoundError, UnprocessableRequestError, type Diagnostic } from '../errors';
import { diagnosticsOf } from '../flow/validate';
import { LOCAL_ACTOR } from '../stores/audit';
import type { Auditor } from '../stores/ports';
import type { ConnectionStore, FlowStore } from '../stores/ports';
import type { DynamoWorkflowConfigurationStore } from '../stores/dynamodb/workflow-configuration-store';
import { WorkflowConfigurationInput, type WorkflowConfiguration } from '../workflows/workflow-configuration';

/** What the workflow configuration service is built from: its store, and the flows and connections a configuration is checked against. */
export interface WorkflowConfigurationServiceProps {
  store: Pick<DynamoWorkflowConfigurationStore, 'put' | 'get' | 'delete'>;
  flows: FlowStore;
  connections: ConnectionStore;
  clock: Clock;
}

/** Creates or replaces (checked at deploy), reads and deletes workflow configurations. */
export class WorkflowConfigurationService {
  constructor(private readonly props: WorkflowConfigurationServiceProps) {}

  /**
   * Creates or replaces a configuration.
   * @returns the stored configuration and whether it was created
   * @throws BadRequestError (400) when the body is not an object; UnprocessableRequestError (422,
   *   `INVALID_WORKFLOW_CONFIGURATION`, `details`: every problem as `{ code, path, message }`,
   *   codes INVALID_VALUE, UNKNOWN_KEY, MISSING_FIELD, MISSING_CONNECTION, MISSING_FLOW, NOT_A_WORKFLOW)
   */
  async put(configurationId: string, raw: unknown, auditor: Auditor = LOCAL_ACTOR): Promise<{ configuration: WorkflowConfiguration; created: boolean }> {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequestError('INVALID_BODY', 'the body must be a JSON object (a workflow configuration)');
    const parsed = WorkflowConfigurationInput.safeParse(raw, { reportInput: true });
    const problems: Diagnostic[] = parsed.success ? [] : diagnosticsOf(parsed.error.issues, { type: WorkflowConfigurationInput, input: raw });
    if (parsed.success) {
      const input = parsed.data;
      if (input.connection !== undefined && !(await this.props.connections.getConnection(input.connection))) {
        problems.push({ code: 'MISSING_CONNECTION', path: 'connection', message: `connection '${input.connection}' does not exist` });
      }
      for (const [workflowId, { flowId }] of Object.entries(input.workflows)) {
        const flow = await this.props.flows.getFlow(flowId);
        const path = `workflows.${workflowId}.flowId`;
        if (!flow) problems.push({ code: 'MISSING_FLOW', path, message: `flow '${flowId}' does not exist` });
        else if (flow.flowType !== 'Workflow') problems.push({ code: 'NOT_A_WORKFLOW', path, message: `flow '${flowId}' is of flowType ${flow.flowType}; a workflow must be of flowType Workflow` });
      }
    }
    if (problems.length > 0 || !parsed.success) {
      const first = problems[0]!;
      throw new UnprocessableRequestError('INVALID_WORKFLOW_CONFIGURATION', `the workflow configuration is invalid: ${problems.length} problem(s); first: ${first.path} ${first.message}`, problems);
    }
    const configuration: WorkflowConfiguration = { configurationId, ...parsed.data, updatedAt: new Date(this.props.clock.now()).toISOString() };
    const created = await this.props.store.put(configuration, auditor);
    return { configuration, created };
  }

  /** @throws NotFoundError (404) */
  async get(configurationId: string): Promise<WorkflowConfiguration> {
    const configuration = await this.props.store.get(configurationId);
    if (!configuration) throw new NotFoundError(`workflow configuration '${configurationId}' does not exist`);
    return configuration;
  }

  /** @throws NotFoundError (404) */
  async delete(configurationId: string, auditor: Auditor = LOCAL_ACTOR): Promise<void> {
    if (!(await this.props.store.delete(configurationId, auditor))) throw new NotFoundError(`workflow configuration '${configurationId}' does not exist`);
  }
}
