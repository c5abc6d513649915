/**
 * The ivrflow stack: tables, functions and the HTTP API (IAM authorization on every route).
 * Composes constructs; no logic of its own. Later issues add functions and routes here.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ROUTES, type FunctionName } from '../shared/api/routes';
import { ENV } from '../shared/config/env';
import { IvrflowFunction } from './constructs/ivrflow-function';
import { IvrflowTables, type IvrflowTablesProps } from './constructs/tables';

export interface IvrflowStackProps extends StackProps {
  tables?: IvrflowTablesProps;
}

const entry = (name: string) => fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url));

export class IvrflowStack extends Stack {
  readonly tables: IvrflowTables;
  readonly api: HttpApi;
  readonly functions: Record<FunctionName, IvrflowFunction>;

  constructor(scope: Construct, id: string, props: IvrflowStackProps = {}) {
    super(scope, id, props);
    this.tables = new IvrflowTables(this, 'Tables', props.tables);
    const environment = { [ENV.definitionsTable]: this.tables.definitions.tableName, [ENV.stateTable]: this.tables.state.tableName };

    const flowApi = new IvrflowFunction(this, 'FlowApi', { entry: entry('flow-api'), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-flow-api' } });
    this.tables.definitions.grantReadWriteData(flowApi);
    // Circuits: list, read and operator reset only.
    this.tables.state.grant(flowApi, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DeleteItem');

    const flowExecutor = new IvrflowFunction(this, 'FlowExecutor', { entry: entry('flow-executor'), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-flow-executor' } });
    this.tables.definitions.grantReadData(flowExecutor);
    this.tables.state.grantReadWriteData(flowExecutor);
    this.functions = { flowApi, flowExecutor };

    this.api = new HttpApi(this, 'Api', { defaultAuthorizer: new HttpIamAuthorizer(), createDefaultStage: false });
    new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      throttle: { rateLimit: 500, burstLimit: 1000 },
      accessLogSettings: { destination: new LogGroupLogDestination(new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH })), format: AccessLogFormat.jsonWithStandardFields() },
    });
    for (const [name, fn] of Object.entries(this.functions) as Array<[FunctionName, IvrflowFunction]>) {
      const integration = new HttpLambdaIntegration(`${name}Integration`, fn);
      for (const routeKey of ROUTES[name]) {
        const [method, path] = routeKey.split(' ') as [keyof typeof HttpMethod, string];
        this.api.addRoutes({ path, methods: [HttpMethod[method]], integration });
      }
    }
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });

    for (const fn of Object.values(this.functions)) {
      NagSuppressions.addResourceSuppressions(
        fn,
        [
          { id: 'AwsSolutions-IAM4', reason: 'AWSLambdaBasicExecutionRole only grants writing the function its own CloudWatch logs.', appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'] },
          { id: 'AwsSolutions-IAM5', reason: 'grant*Data on a table covers its indexes (index/*) and X-Ray needs *; both are scoped by the CDK grants.', appliesTo: [{ regex: '/^Resource::(<.*\\.Arn>/index/\\*|\\*)$/g' }] },
        ],
        true,
      );
    }
  }
}
