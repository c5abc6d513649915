/**
 * Workflow configurations on the `Definitions` table: one item per configuration
 * (`WFCONFIG#<id>` / `WFCONFIG`, the definition in `definition`).
 */
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { WorkflowConfiguration } from '../../workflows/workflow-configuration';
import { documentClient } from './flow-store';

const KIND = 'WFCONFIG';
const keyOf = (id: string) => ({ pk: `${KIND}#${id}`, sk: KIND });

export class DynamoWorkflowConfigurationStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(props: { tableName: string; client?: DynamoDBClient }) {
    this.table = props.tableName;
    this.doc = documentClient(props.client ?? new DynamoDBClient({}));
  }

  /** @returns true when it was created, false when it replaced one */
  async put(configuration: WorkflowConfiguration): Promise<boolean> {
    const out = await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keyOf(configuration.configurationId), kind: KIND, id: configuration.configurationId, definition: configuration }, ReturnValues: 'ALL_OLD' }));
    return out.Attributes === undefined;
  }

  async get(configurationId: string): Promise<WorkflowConfiguration | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: keyOf(configurationId), ConsistentRead: true }));
    return out.Item?.['definition'] as WorkflowConfiguration | undefined;
  }

  /** @returns false when it did not exist */
  async delete(configurationId: string): Promise<boolean> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keyOf(configurationId), ConditionExpression: 'attribute_exists(pk)' }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
