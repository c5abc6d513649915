/**
 * The ivrflow stack: tables, functions, the HTTP API (IAM authorization on every route but the
 * throttled `POST /callbacks/{token}`, which the callback token and webhook signature
 * authenticate), the token-refresher (every 5 minutes) and the wait-sweeper (every minute) on
 * EventBridge schedules (retried, with a dead-letter queue each). Secrets live in four namespaces
 * under one prefix (connections/, tokens/, flows/, callers/: {@link IvrflowSecrets}), and each
 * function may touch only the namespaces it uses, with only the actions it uses. Every prop can
 * also be given as CDK context (infra/context.ts). Composes constructs; no logic of its own.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnStage, HttpApi, HttpMethod, HttpNoneAuthorizer, HttpStage, LogGroupLogDestination, type HttpRoute, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer, HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { ROUTES, type FunctionName } from '#shared/api/routes';
import { ENV } from '#shared/config/env';
import { DEFAULT_SECRET_PREFIX, SecretNames } from '#shared/connections/connection';
import { CONNECT_INVOKE_TIMEOUT_MS } from '#shared/platforms/connect';
import { IvrflowFunction } from './constructs/ivrflow-function';
import { IvrflowSecrets } from './constructs/secrets';
import { IvrflowTables, type IvrflowTablesProps } from './constructs/tables';

export interface IvrflowStackProps extends StackProps {
  tables?: IvrflowTablesProps;
  /** Prefix of every secret name ivrflow reads or writes; IAM is scoped to its namespaces. @default 'ivrflow/' */
  secretPrefix?: string;
  /** The API's public base URL callback URLs are built on (e.g. a custom domain). @default the HTTP API's endpoint */
  publicUrl?: string;
  /** Throttling of `POST /callbacks/{token}`, the one route without an authorizer. @default 50 requests/s, bursts of 100 */
  callbackThrottle?: { rateLimit: number; burstLimit: number };
  /**
   * How IVR platforms calling the execution routes authenticate (operator routes stay IAM):
   * `iam` (SigV4); `jwt` (an issuer and audiences: bearer tokens, e.g. from CXone or Genesys Cloud);
   * `basic` (HTTP Basic credentials checked by a Lambda authorizer against the secret
   * `<secretPrefix>callers/<secretName>` holding `{ "username", "password" }`, e.g. for Twilio
   * Studio; `secretName` defaults to `basic`).
   * @default { type: 'iam' }
   */
  callerAuthorization?: { type: 'iam' } | { type: 'jwt'; issuer: string; audience: string[] } | { type: 'basic'; secretName?: string };
  /** The Amazon Connect instance allowed to invoke connect-invoke (its ARN). @default any instance of this account */
  connectInstanceArn?: string;
  /**
   * Reserved concurrency of each executor-class function (flow-executor, connect-invoke,
   * webhook-callback), so long polls and callback storms cannot take the account's whole
   * concurrency (AWS Lambda Developer Guide, "Configuring reserved concurrency").
   * @default none (the account's unreserved pool)
   */
  reservedConcurrency?: number;
}

/**
 * The HTTP API access log: one JSON line per request in HTTP API's own variables (Amazon API
 * Gateway Developer Guide, "Customizing HTTP API access logs"), the integration's error included.
 */
const HTTP_API_ACCESS_LOG = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationStatus: '$context.integrationStatus',
  integrationErrorMessage: '$context.integrationErrorMessage',
  errorMessage: '$context.error.message',
  authorizerError: '$context.authorizer.error',
};

const entry = (name: string) => fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url));

export class IvrflowStack extends Stack {
  readonly tables: IvrflowTables;
  readonly api: HttpApi;
  readonly functions: Record<FunctionName, IvrflowFunction>;
  readonly tokenRefresher: IvrflowFunction;
  readonly waitSweeper: IvrflowFunction;
  readonly connectInvoke: IvrflowFunction;
  /** The basic-credentials authorizer, when `callerAuthorization` is `basic`. */
  basicAuthorizer?: IvrflowFunction;
  /** The dead-letter queue of each schedule (`WaitSweep`, `TokenRefresh`). */
  readonly scheduleDeadLetters: Record<string, Queue> = {};

  constructor(scope: Construct, id: string, props: IvrflowStackProps = {}) {
    super(scope, id, props);
    this.tables = new IvrflowTables(this, 'Tables', props.tables);
    const secretPrefix = props.secretPrefix ?? DEFAULT_SECRET_PREFIX;
    const environment = { [ENV.definitionsTable]: this.tables.definitions.tableName, [ENV.stateTable]: this.tables.state.tableName, [ENV.secretPrefix]: secretPrefix };
    const secrets = new IvrflowSecrets(this, 'Secrets', { prefix: secretPrefix });
    const reserved = props.reservedConcurrency === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrency };

    const flowApi = new IvrflowFunction(this, 'FlowApi', { entry: entry('flow-api'), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-flow-api' } });
    this.tables.definitions.grantReadWriteData(flowApi);
    // Circuits: list, read and operator reset; token records: register, read, forget.
    this.tables.state.grant(flowApi, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem');
    // Connections' credentials: written, read to keep what a PUT leaves out, deleted with the connection (its token too).
    secrets.grantManageConnectionSecrets(flowApi);
    secrets.grantDeleteTokens(flowApi);

    const flowExecutor = new IvrflowFunction(this, 'FlowExecutor', { entry: entry('flow-executor'), ...reserved, environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-flow-executor' } });
    this.tables.definitions.grantReadData(flowExecutor);
    this.tables.state.grantReadWriteData(flowExecutor);
    // Flow-bound secrets, credentials and cached tokens read; a token refreshed on demand written back.
    secrets.grantExecutorSecrets(flowExecutor);

    // Callbacks resume executions and sweeps time them out: both run the rest of a flow, as the executor does.
    const webhookCallback = new IvrflowFunction(this, 'WebhookCallback', { entry: entry('webhook-callback'), ...reserved, environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-webhook-callback' } });
    this.waitSweeper = new IvrflowFunction(this, 'WaitSweeper', { entry: entry('wait-sweeper'), timeout: Duration.minutes(1), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-wait-sweeper' } });
    for (const fn of [webhookCallback, this.waitSweeper]) {
      this.tables.definitions.grantReadData(fn);
      this.tables.state.grantReadWriteData(fn);
      secrets.grantExecutorSecrets(fn);
    }
    this.schedule('WaitSweep', this.waitSweeper, Duration.minutes(1), 'Sends executions still waiting past their deadline down their timeout branch');
    // Agent sessions and events live in State; nothing else.
    const agentEvents = new IvrflowFunction(this, 'AgentEvents', { entry: entry('agent-events'), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-agent-events' } });
    this.tables.state.grant(agentEvents, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query');
    this.functions = { flowApi, flowExecutor, webhookCallback, agentEvents };

    // Amazon Connect invokes this one directly (no route): its block waits at most 8 s.
    this.connectInvoke = new IvrflowFunction(this, 'ConnectInvoke', {
      entry: entry('connect-invoke'),
      timeout: Duration.millis(CONNECT_INVOKE_TIMEOUT_MS),
      ...reserved,
      environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-connect-invoke' },
    });
    this.tables.definitions.grantReadData(this.connectInvoke);
    this.tables.state.grantReadWriteData(this.connectInvoke);
    secrets.grantExecutorSecrets(this.connectInvoke);
    this.connectInvoke.addPermission('AmazonConnectInvoke', {
      principal: new ServicePrincipal('connect.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceAccount: this.account,
      ...(props.connectInstanceArn ? { sourceArn: props.connectInstanceArn } : {}),
    });
    new CfnOutput(this, 'ConnectInvokeFunctionArn', { value: this.connectInvoke.functionArn, description: 'Paste into the Invoke AWS Lambda function block (and add the function to the Connect instance)' });

    this.tokenRefresher = new IvrflowFunction(this, 'TokenRefresher', { entry: entry('token-refresher'), timeout: Duration.minutes(1), environment: { ...environment, POWERTOOLS_SERVICE_NAME: 'ivrflow-token-refresher' } });
    // Token records: listed (byKind), leased and updated; nothing else in either table.
    this.tables.state.grant(this.tokenRefresher, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    // Client secrets are a connection's or a flow's (an inline oauth2 form); tokens are the only secrets it writes.
    secrets.grantExecutorSecrets(this.tokenRefresher);
    this.schedule('TokenRefresh', this.tokenRefresher, Duration.minutes(5), 'Refreshes the OAuth2 tokens that expire soon');

    this.api = new HttpApi(this, 'Api', { defaultAuthorizer: new HttpIamAuthorizer(), createDefaultStage: false });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      throttle: { rateLimit: 500, burstLimit: 1000 },
      accessLogSettings: { destination: new LogGroupLogDestination(new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH })), format: AccessLogFormat.custom(JSON.stringify(HTTP_API_ACCESS_LOG)) },
    });
    const callerAuthorizer = this.callerAuthorizer(props, secrets);
    const callbackRoutes: HttpRoute[] = [];
    for (const [name, fn] of Object.entries(this.functions) as Array<[FunctionName, IvrflowFunction]>) {
      const integration = new HttpLambdaIntegration(`${name}Integration`, fn);
      for (const routeKey of ROUTES[name]) {
        const [method, path] = routeKey.split(' ') as [keyof typeof HttpMethod, string];
        // Callbacks come from backends that cannot sign AWS requests: the token and the webhook signature authenticate them.
        const authorizer = name === 'webhookCallback' ? new HttpNoneAuthorizer() : name === 'flowExecutor' ? callerAuthorizer : undefined;
        const routes = this.api.addRoutes({ path, methods: [HttpMethod[method]], integration, ...(authorizer ? { authorizer } : {}) });
        if (name === 'webhookCallback') callbackRoutes.push(...routes);
      }
    }
    const throttle = props.callbackThrottle ?? { rateLimit: 50, burstLimit: 100 };
    (stage.node.defaultChild as CfnStage).routeSettings = Object.fromEntries(ROUTES.webhookCallback.map((key) => [key, { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit }]));
    for (const route of callbackRoutes) {
      stage.node.addDependency(route);
      NagSuppressions.addResourceSuppressions(route, [
        {
          id: 'AwsSolutions-APIG4',
          reason: 'Backends deliver callbacks without AWS credentials; each request is authenticated by its single-use 256-bit token and, when the connection has a signing secret, a Standard Webhooks signature. The route is throttled.',
        },
      ]);
    }
    // Callback URLs are built on the public URL; functions that may start a wait need it.
    const publicUrl = props.publicUrl ?? this.api.apiEndpoint;
    for (const fn of [flowExecutor, webhookCallback, this.waitSweeper, this.connectInvoke]) fn.addEnvironment(ENV.publicUrl, publicUrl);
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });

    for (const fn of [...Object.values(this.functions), this.tokenRefresher, this.waitSweeper, this.connectInvoke, ...(this.basicAuthorizer ? [this.basicAuthorizer] : [])]) {
      NagSuppressions.addResourceSuppressions(
        fn,
        [
          { id: 'AwsSolutions-IAM4', reason: 'AWSLambdaBasicExecutionRole only grants writing the function its own CloudWatch logs.', appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'] },
          {
            id: 'AwsSolutions-IAM5',
            reason:
              'grant*Data on a table covers its indexes (index/*) and X-Ray needs *; both are scoped by the CDK grants. Secrets are created at run time (one per connection and per token), so their names are known only by namespace; each grant is scoped to one namespace (<prefix>connections/, tokens/ or flows/).',
            appliesTo: [{ regex: '/^Resource::(<.*\\.Arn>/index/\\*|\\*)$/g' }, { regex: '/^Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:.*\\*$/g' }],
          },
        ],
        true,
      );
    }
  }

  /**
   * A scheduled invocation: retried twice within an hour, then kept in its own dead-letter queue
   * (SSE, 14 days, TLS only) for an operator to look at (Amazon EventBridge User Guide,
   * "Using dead-letter queues to process undelivered events").
   */
  private schedule(id: string, fn: IvrflowFunction, every: Duration, description: string): void {
    const deadLetters = new Queue(this, `${id}DeadLetters`, { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
    NagSuppressions.addResourceSuppressions(deadLetters, [{ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of a schedule target; it has none of its own.' }]);
    this.scheduleDeadLetters[id] = deadLetters;
    new Rule(this, `${id}Schedule`, { description, schedule: Schedule.rate(every), targets: [new LambdaFunction(fn, { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: deadLetters })] });
  }

  /** The authorizer of the execution routes (`callerAuthorization`); undefined keeps the API's default, IAM. */
  private callerAuthorizer(props: IvrflowStackProps, secrets: IvrflowSecrets): IHttpRouteAuthorizer | undefined {
    const auth = props.callerAuthorization ?? { type: 'iam' };
    if (auth.type === 'jwt') return new HttpJwtAuthorizer('CallerJwt', auth.issuer, { jwtAudience: auth.audience });
    if (auth.type !== 'basic') return undefined;
    const name = auth.secretName ?? 'basic';
    const fn = new IvrflowFunction(this, 'BasicAuthorizer', {
      entry: entry('basic-authorizer'),
      timeout: Duration.seconds(5),
      environment: { [ENV.callerCredentialsSecret]: new SecretNames(secrets.prefix).caller(name), POWERTOOLS_SERVICE_NAME: 'ivrflow-basic-authorizer' },
    });
    // Its own secret only.
    secrets.grantReadCallerSecret(fn, name);
    this.basicAuthorizer = fn;
    return new HttpLambdaAuthorizer('CallerBasic', fn, { responseTypes: [HttpLambdaResponseType.SIMPLE], identitySource: ['$request.header.Authorization'], resultsCacheTtl: Duration.minutes(5) });
  }
}
