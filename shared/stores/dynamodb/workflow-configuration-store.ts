/**
 * Workflow configurations on the `Definitions` table: one item per configuration
 * (`WFCONFIG#<id>` / `WFCONFIG`).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WorkflowConfiguration } from '../../workflows/workflow-configuration';
import type { Auditor } from '../ports';
import type { AuditWrites } from './audit-trail';
import { DefinitionItems } from './definition-items';

/** Workflow configurations in the `Definitions` table (`WFCONFIG#<id>`). */
export class DynamoWorkflowConfigurationStore {
  private readonly items: DefinitionItems<WorkflowConfiguration>;

  /** `audit`: where changes given an auditor write their audit item (shared/stores/audit.ts). */
  constructor(props: { tableName: string; client: DynamoDBClient; audit?: AuditWrites }) {
    this.items = new DefinitionItems(
      props.tableName,
      'WFCONFIG',
      props.client,
      props.audit && { writes: props.audit, kinds: { created: 'workflow-configuration.put', replaced: 'workflow-configuration.put', deleted: 'workflow-configuration.deleted' } },
    );
  }

  /** @returns true when it was created, false when it replaced one */
  put(configuration: WorkflowConfiguration, auditor?: Auditor): Promise<boolean> {
    return this.items.put(configuration.configurationId, configuration, auditor);
  }

  get(configurationId: string): Promise<WorkflowConfiguration | undefined> {
    return this.items.get(configurationId);
  }

  /** @returns false when it did not exist */
  delete(configurationId: string, auditor?: Auditor): Promise<boolean> {
    return this.items.delete(configurationId, auditor);
  }
}
