/**
 * {@link ConnectionStore} on the `Definitions` table: one item per connection
 * (`CONNECTION#<name>` / `CONNECTION`), listed through the `byKind` index (`kind = CONNECTION`).
 * No item holds a credential.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Connection } from '../../connections/connection';
import type { ConnectionStore, Page } from '../ports';
import { DefinitionItems } from './definition-items';

/** Connection definitions in the `Definitions` table (`CONNECTION#<name>`), without credentials. */
export class DynamoConnectionStore implements ConnectionStore {
  private readonly items: DefinitionItems<Connection>;

  constructor(props: { tableName: string; client: DynamoDBClient }) {
    this.items = new DefinitionItems(props.tableName, 'CONNECTION', props.client);
  }

  async putConnection(connection: Connection): Promise<void> {
    await this.items.put(connection.name, connection);
  }

  getConnection(name: string): Promise<Connection | undefined> {
    return this.items.get(name);
  }

  listConnections(limit: number, cursor?: string): Promise<Page<Connection>> {
    return this.items.list(limit, cursor);
  }

  deleteConnection(name: string): Promise<boolean> {
    return this.items.delete(name);
  }
}
