/**
 * The `Definitions` and `State` tables, built from the same layouts as the local tables
 * (shared/stores/dynamodb/tables.ts): one source of truth for keys, GSIs and TTL. Kept when the
 * stack is deleted and protected from deletion by default: flows, connections and execution
 * records outlive a stack.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEFINITIONS_TABLE, STATE_TABLE, type TableDefinition } from '#shared/stores/dynamodb/tables';

export interface IvrflowTablesProps {
  /** What happens to the tables when the stack is deleted. @default RemovalPolicy.RETAIN */
  removalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection: a table cannot be deleted until it is turned off. @default true */
  deletionProtection?: boolean;
}

function tableFrom(scope: Construct, id: string, def: TableDefinition, removalPolicy: RemovalPolicy, deletionProtection: boolean): Table {
  const table = new Table(scope, id, {
    partitionKey: { name: def.partitionKey, type: AttributeType.STRING },
    sortKey: { name: def.sortKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    encryption: TableEncryption.AWS_MANAGED,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy,
    deletionProtection,
    ...(def.timeToLiveAttribute ? { timeToLiveAttribute: def.timeToLiveAttribute } : {}),
  });
  for (const gsi of def.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({ indexName: gsi.indexName, partitionKey: { name: gsi.partitionKey, type: AttributeType.STRING }, sortKey: { name: gsi.sortKey, type: AttributeType.STRING } });
  }
  return table;
}

export class IvrflowTables extends Construct {
  readonly definitions: Table;
  readonly state: Table;

  constructor(scope: Construct, id: string, props: IvrflowTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const deletionProtection = props.deletionProtection ?? true;
    this.definitions = tableFrom(this, 'Definitions', DEFINITIONS_TABLE, removalPolicy, deletionProtection);
    this.state = tableFrom(this, 'State', STATE_TABLE, removalPolicy, deletionProtection);
  }

  /** Reads flows, connections and workflow configurations. */
  grantReadDefinitions(grantee: IGrantable): void {
    this.definitions.grantReadData(grantee);
  }

  /** Reads and writes flows, connections and workflow configurations (flow-api). */
  grantManageDefinitions(grantee: IGrantable): void {
    this.definitions.grantReadWriteData(grantee);
  }

  /** Everything running a flow touches in State: executions, waits, idempotency keys, sessions, circuits, token records, agent events. */
  grantExecutionState(grantee: IGrantable): void {
    this.state.grantReadWriteData(grantee);
  }

  /** What operators do in State: list, read and reset circuits; register, read and forget token records; search executions; write and read the audit trail. */
  grantOperatorState(grantee: IGrantable): void {
    // PutItem: the audit item each change writes in its own transaction; Query: execution search and the trail.
    this.state.grant(grantee, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem');
  }

  /** Token records: listed (byKind), leased and updated (the token-refresher). */
  grantTokenState(grantee: IGrantable): void {
    this.state.grant(grantee, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem');
  }

  /** Agent sessions and events. */
  grantAgentState(grantee: IGrantable): void {
    this.state.grant(grantee, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query');
  }
}
