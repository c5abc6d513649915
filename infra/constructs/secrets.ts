/**
 * The secret namespaces of a deployment and the grants on them, named for what the grantee does
 * (as aws-cdk's `grantConsumeMessages`): IAM is scoped to each namespace, so a flow author cannot
 * reach what is not a flow's (docs/architecture.md, "Connections, secrets and tokens").
 *
 * - `<prefix>connections/<name>`: a connection's credentials (written by flow-api, read by the executors);
 * - `<prefix>tokens/<hash>`: cached OAuth2 tokens (the only secrets the executors and the token-refresher write);
 * - `<prefix>flows/<secretId>`: secrets a flow binds with `"secrets"` (read by the executors);
 * - `<prefix>callers/<name>`: callers' credentials (read by the basic authorizer only).
 *
 * The secrets themselves are created at run time (one per connection and per token), so their
 * names are known only by prefix; Secrets Manager appends 6 random characters to a name in its ARN.
 */
import { ArnFormat, Stack } from 'aws-cdk-lib';
import { PolicyStatement, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface IvrflowSecretsProps {
  /** Prefix of every secret name. @default 'ivrflow/' */
  prefix?: string;
}

/** A namespace of the deployment's secrets. */
export type SecretNamespace = 'connections' | 'tokens' | 'flows' | 'callers';

export class IvrflowSecrets extends Construct {
  readonly prefix: string;

  constructor(scope: Construct, id: string, props: IvrflowSecretsProps = {}) {
    super(scope, id);
    this.prefix = props.prefix ?? 'ivrflow/';
  }

  /** The ARN pattern of a namespace's secrets (`name` for one secret of it). */
  arnOf(namespace: SecretNamespace, name = '*'): string {
    return Stack.of(this).formatArn({ service: 'secretsmanager', resource: 'secret', resourceName: `${this.prefix}${namespace}/${name === '*' ? '*' : `${name}-??????`}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  }

  private grant(grantee: IGrantable, namespace: SecretNamespace, actions: string[], name?: string): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: actions.map((a) => `secretsmanager:${a}`), resources: [this.arnOf(namespace, name)] }));
  }

  /** Reads connections' credentials (the executors, a callback's signing secret, the refresher's client secrets). */
  grantReadConnectionSecrets(grantee: IGrantable): void {
    this.grant(grantee, 'connections', ['GetSecretValue']);
  }

  /** Writes, reads and deletes connections' credentials (flow-api: a PUT keeps what it leaves out). */
  grantManageConnectionSecrets(grantee: IGrantable): void {
    this.grant(grantee, 'connections', ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DeleteSecret']);
  }

  /** Reads the secrets flows bind (`"secrets"`). */
  grantReadFlowSecrets(grantee: IGrantable): void {
    this.grant(grantee, 'flows', ['GetSecretValue']);
  }

  /** Reads cached tokens and writes the ones it refreshes. */
  grantWriteTokens(grantee: IGrantable): void {
    this.grant(grantee, 'tokens', ['GetSecretValue', 'CreateSecret', 'PutSecretValue']);
  }

  /** Deletes cached tokens (flow-api, with the connection they belong to). */
  grantDeleteTokens(grantee: IGrantable): void {
    this.grant(grantee, 'tokens', ['DeleteSecret']);
  }

  /** Reads one secret of callers' credentials (the basic authorizer). */
  grantReadCallerSecret(grantee: IGrantable, name: string): void {
    this.grant(grantee, 'callers', ['GetSecretValue'], name);
  }

  /** Everything an executor-class function needs: reads flows/, connections/ and tokens/, writes tokens/ only. */
  grantExecutorSecrets(grantee: IGrantable): void {
    this.grantReadFlowSecrets(grantee);
    this.grantReadConnectionSecrets(grantee);
    this.grantWriteTokens(grantee);
  }
}
