/**
 * {@link ConnectionStore} on the `Definitions` table: one item per connection
 * (`CONNECTION#<name>` / `CONNECTION`), listed through the `byKind` index (`kind = CONNECTION`).
 * No item holds a credential.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Connection } from '../../connections/connection';
import type { Auditor } from '../ports';
import type { ConnectionStore, Page } from '../ports';
import type { AuditWrites } from './audit-trail';
import { DefinitionItems } from './definition-items';

/** Connection definitions in the `Definitions` table (`CONNECTION#<name>`), without credentials. */
export class DynamoConnectionStore implements ConnectionStore {
  private readonly items: DefinitionItems<Connection>;

  /** `audit`: where changes given an auditor write their audit item (shared/stores/audit.ts). */
  constructor(props: { tableName: string; client: DynamoDBClient; audit?: AuditWrites }) {
    this.items = new DefinitionItems(props.tableName, 'CONNECTION', props.client, props.audit && { writes: props.audit, kinds: { created: 'connection.created', replaced: 'connection.replaced', deleted: 'connection.deleted' } });
  }

  async putConnection(connection: Connection, auditor?: Auditor): Promise<void> {
    await this.items.put(connection.name, connection, auditor);
  }

  getConnection(name: string): Promise<Connection | undefined> {
    return this.items.get(name);
  }

  listConnections(limit: number, cursor?: string): Promise<Page<Connection>> {
    return this.items.list(limit, cursor);
  }

  deleteConnection(name: string, auditor?: Auditor): Promise<boolean> {
    return this.items.delete(name, auditor);
  }
}
