/** A Lambda function of ivrflow: Node.js, ARM, bundled and minified by esbuild, logs kept 30 days. */
import { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface IvrflowFunctionProps extends Omit<NodejsFunctionProps, 'entry'> {
  /** Path of the handler module (functions/<name>/handler.ts). */
  entry: string;
}

export class IvrflowFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: IvrflowFunctionProps) {
    const logGroup = props.logGroup ?? new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH });
    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      ...props,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: { minify: true, sourceMap: true, format: OutputFormat.CJS, target: 'node22', ...props.bundling },
    });
  }
}
