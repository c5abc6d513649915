/**
 * Workflow configurations on the `Definitions` table: one item per configuration
 * (`WFCONFIG#<id>` / `WFCONFIG`).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { WorkflowConfiguration } from '../../workflows/workflow-configuration';
import { DefinitionItems } from './definition-items';

/** Workflow configurations in the `Definitions` table (`WFCONFIG#<id>`). */
export class DynamoWorkflowConfigurationStore {
  private readonly items: DefinitionItems<WorkflowConfiguration>;

  constructor(props: { tableName: string; client: DynamoDBClient }) {
    this.items = new DefinitionItems(props.tableName, 'WFCONFIG', props.client);
  }

  /** @returns true when it was created, false when it replaced one */
  put(configuration: WorkflowConfiguration): Promise<boolean> {
    return this.items.put(configuration.configurationId, configuration);
  }

  get(configurationId: string): Promise<WorkflowConfiguration | undefined> {
    return this.items.get(configurationId);
  }

  /** @returns false when it did not exist */
  delete(configurationId: string): Promise<boolean> {
    return this.items.delete(configurationId);
  }
}
