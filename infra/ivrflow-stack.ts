/**
 * The ivrflow stack: tables, functions, the HTTP API (IAM authorization on every route but the
 * throttled `POST /callbacks/{token}`, which the callback token and webhook signature
 * authenticate), the token-refresher (every 5 minutes) and the wait-sweeper (every minute) on
 * EventBridge schedules (retried, with a dead-letter queue each). Secrets live in four namespaces
 * under one prefix (connections/, tokens/, flows/, callers/: {@link IvrflowSecrets}), and each
 * function may touch only the namespaces it uses, with only the actions it uses. Every prop can
 * also be given as CDK context (infra/context.ts). Alarms (one SNS topic) and a dashboard watch it
 * ({@link IvrflowAlarms}, {@link IvrflowDashboard}). With `definitionsDir`, `cdk deploy` also deploys
 * the flows, connections and workflow configurations of that folder ({@link IvrflowDefinitions}).
 * Composes constructs; no logic of its own.
 */
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CfnStage, HttpApi, HttpMethod, HttpNoneAuthorizer, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer, HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { type FunctionName } from '#shared/api/routes';
import { ENV } from '#shared/config/env';
import { DEFAULT_SECRET_PREFIX, SecretNames } from '#shared/connections/secret-names';
import { FUNCTIONS, type Access, type FunctionKey, type FunctionSpec } from '../functions/manifest';
import { IvrflowAlarms } from './constructs/alarms';
import { IvrflowDashboard } from './constructs/dashboard';
import { IvrflowDefinitions } from './constructs/definitions';
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
  /** An email address the alarm topic notifies (AWS sends it a confirmation first). @default no subscription */
  alarmEmail?: string;
  /** An existing SNS topic the alarms notify instead of a new one (its policy must let CloudWatch publish). @default a new topic, encrypted */
  alarmTopicArn?: string;
  /**
   * A folder laid out like `examples/` (`flows/`, `connections/`, `workflow-configurations/`), relative
   * to the working directory of `cdk synth`, whose definitions `cdk deploy` deploys through the Flow
   * API's services (connections without their credentials; flows validated at synth). Deleting the
   * stack keeps them. See {@link IvrflowDefinitions}.
   * @default none: definitions are deployed through the Flow API only
   */
  definitionsDir?: string;
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

/** Logical ids of the schedules' rule and queue (kept from before the manifest, so a deployed stack keeps its resources). */
const SCHEDULE_IDS: Partial<Record<FunctionKey, string>> = { tokenRefresher: 'TokenRefresh', waitSweeper: 'WaitSweep' };

const entry = (name: string) => fileURLToPath(new URL(`../functions/${name}/handler.ts`, import.meta.url));

export class IvrflowStack extends Stack {
  readonly tables: IvrflowTables;
  readonly secrets: IvrflowSecrets;
  readonly api: HttpApi;
  /** Every function created, by its manifest key (functions/manifest.ts); `basicAuthorizer` only with `callerAuthorization` basic, `definitionsDeployer` only with `definitionsDir`. */
  readonly byKey: Partial<Record<FunctionKey, IvrflowFunction>> = {};
  /** The functions behind the HTTP API's routes. */
  readonly functions: Record<FunctionName, IvrflowFunction>;
  readonly tokenRefresher: IvrflowFunction;
  readonly waitSweeper: IvrflowFunction;
  readonly connectInvoke: IvrflowFunction;
  /** The basic-credentials authorizer, when `callerAuthorization` is `basic`. */
  readonly basicAuthorizer?: IvrflowFunction;
  /** The definitions `cdk deploy` deploys, when `definitionsDir` is set (their deployer is `byKey.definitionsDeployer`). */
  readonly definitions?: IvrflowDefinitions;
  /** The dead-letter queue of each schedule, by manifest key (`tokenRefresher`, `waitSweeper`). */
  readonly scheduleDeadLetters: Record<string, Queue> = {};
  readonly alarms: IvrflowAlarms;
  readonly dashboard: IvrflowDashboard;

  constructor(scope: Construct, id: string, props: IvrflowStackProps = {}) {
    super(scope, id, props);
    this.tables = new IvrflowTables(this, 'Tables', props.tables);
    this.secrets = new IvrflowSecrets(this, 'Secrets', { prefix: props.secretPrefix ?? DEFAULT_SECRET_PREFIX });
    this.api = new HttpApi(this, 'Api', { defaultAuthorizer: new HttpIamAuthorizer(), createDefaultStage: false });
    const callerAuthorization = props.callerAuthorization ?? { type: 'iam' };
    const environment = { [ENV.definitionsTable]: this.tables.definitions.tableName, [ENV.stateTable]: this.tables.state.tableName, [ENV.secretPrefix]: this.secrets.prefix };
    // Callback URLs are built on the public URL; functions that may start a wait get it.
    const publicUrl = props.publicUrl ?? this.api.apiEndpoint;

    for (const [key, spec] of Object.entries(FUNCTIONS) as Array<[FunctionKey, FunctionSpec]>) {
      if (spec.trigger.type === 'authorizer' && callerAuthorization.type !== 'basic') continue;
      if (spec.trigger.type === 'customResource' && props.definitionsDir === undefined) continue;
      const callerSecret = callerAuthorization.type === 'basic' ? (callerAuthorization.secretName ?? 'basic') : 'basic';
      const fn = new IvrflowFunction(this, spec.id, {
        entry: entry(spec.dir),
        ...(spec.lazyModules ? { lazyModules: spec.lazyModules } : {}),
        timeout: Duration.millis(spec.timeoutMs),
        ...(spec.reservedConcurrency && props.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
        environment: {
          ...(spec.tables ? environment : {}),
          ...(spec.publicUrl ? { [ENV.publicUrl]: publicUrl } : {}),
          ...(spec.trigger.type === 'authorizer' ? { [ENV.callerCredentialsSecret]: new SecretNames(this.secrets.prefix).caller(callerSecret) } : {}),
          POWERTOOLS_SERVICE_NAME: `ivrflow-${spec.dir}`,
        },
      });
      this.grantAccess(fn, spec.access, callerSecret);
      this.byKey[key] = fn;
      if (spec.trigger.type === 'schedule') this.schedule(key, fn, spec.trigger);
    }
    const fn = (key: FunctionKey) => this.byKey[key]!;
    this.functions = { flowApi: fn('flowApi'), flowExecutor: fn('flowExecutor'), webhookCallback: fn('webhookCallback'), agentEvents: fn('agentEvents') };
    this.tokenRefresher = fn('tokenRefresher');
    this.waitSweeper = fn('waitSweeper');
    this.connectInvoke = fn('connectInvoke');
    if (this.byKey.basicAuthorizer) this.basicAuthorizer = this.byKey.basicAuthorizer;
    if (props.definitionsDir !== undefined) this.definitions = new IvrflowDefinitions(this, 'Definitions', { dir: props.definitionsDir, deployer: fn('definitionsDeployer') });

    // Amazon Connect invokes connect-invoke directly (no route): its block waits at most 8 s.
    this.connectInvoke.addPermission('AmazonConnectInvoke', {
      principal: new ServicePrincipal('connect.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceAccount: this.account,
      ...(props.connectInstanceArn ? { sourceArn: props.connectInstanceArn } : {}),
    });
    new CfnOutput(this, 'ConnectInvokeFunctionArn', { value: this.connectInvoke.functionArn, description: 'Paste into the Invoke AWS Lambda function block (and add the function to the Connect instance)' });

    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      throttle: { rateLimit: 500, burstLimit: 1000 },
      accessLogSettings: { destination: new LogGroupLogDestination(new LogGroup(this, 'AccessLogs', { retention: RetentionDays.ONE_MONTH })), format: AccessLogFormat.custom(JSON.stringify(HTTP_API_ACCESS_LOG)) },
    });
    const callerAuthorizer = this.callerAuthorizer(callerAuthorization);
    const unauthenticated: string[] = [];
    for (const [key, spec] of Object.entries(FUNCTIONS) as Array<[FunctionKey, FunctionSpec]>) {
      if (spec.trigger.type !== 'http') continue;
      const { routes: routeKeys, authorization } = spec.trigger;
      const integration = new HttpLambdaIntegration(`${key}Integration`, fn(key));
      for (const routeKey of routeKeys) {
        const [method, path] = routeKey.split(' ') as [keyof typeof HttpMethod, string];
        // Callbacks come from backends that cannot sign AWS requests: the token and the webhook signature authenticate them.
        const authorizer = authorization === 'none' ? new HttpNoneAuthorizer() : authorization === 'caller' ? callerAuthorizer : undefined;
        const routes = this.api.addRoutes({ path, methods: [HttpMethod[method]], integration, ...(authorizer ? { authorizer } : {}) });
        if (authorization !== 'none') continue;
        unauthenticated.push(routeKey);
        for (const route of routes) {
          stage.node.addDependency(route);
          NagSuppressions.addResourceSuppressions(route, [
            {
              id: 'AwsSolutions-APIG4',
              reason: 'Backends deliver callbacks without AWS credentials; each request is authenticated by its single-use 256-bit token and, when the connection has a signing secret, a Standard Webhooks signature. The route is throttled.',
            },
          ]);
        }
      }
    }
    // The routes without an authorizer are throttled on their own.
    const throttle = props.callbackThrottle ?? { rateLimit: 50, burstLimit: 100 };
    (stage.node.defaultChild as CfnStage).routeSettings = Object.fromEntries(unauthenticated.map((key) => [key, { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit }]));
    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint });

    const functionsById = Object.fromEntries(Object.values(this.byKey).map((f) => [f.node.id, f]));
    this.alarms = new IvrflowAlarms(this, 'Alarms', {
      functions: functionsById,
      api: this.api,
      deadLetterQueues: Object.fromEntries(Object.entries(this.scheduleDeadLetters).map(([key, queue]) => [FUNCTIONS[key as FunctionKey].id, queue])),
      ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
      ...(props.alarmTopicArn ? { alarmTopicArn: props.alarmTopicArn } : {}),
    });
    this.dashboard = new IvrflowDashboard(this, 'Dashboard', { functions: functionsById, api: this.api, alarms: Object.values(this.alarms.alarms) });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn, description: 'Subscribe to be told when an alarm fires (aws sns subscribe --protocol email ...)' });

    for (const f of Object.values(this.byKey)) {
      NagSuppressions.addResourceSuppressions(
        f,
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

  /** The grants of a manifest entry's access, each by intent on the construct that owns the resource. */
  private grantAccess(fn: IvrflowFunction, access: Access, callerSecret: string): void {
    if (access.definitions === 'read') this.tables.grantReadDefinitions(fn);
    if (access.definitions === 'manage') this.tables.grantManageDefinitions(fn);
    if (access.state === 'execution') this.tables.grantExecutionState(fn);
    if (access.state === 'operator') this.tables.grantOperatorState(fn);
    if (access.state === 'tokens') this.tables.grantTokenState(fn);
    if (access.state === 'agents') this.tables.grantAgentState(fn);
    if (access.secrets === 'executor') this.secrets.grantExecutorSecrets(fn);
    if (access.secrets === 'connections') {
      // Connections' credentials: written, read to keep what a PUT leaves out, deleted with the connection (its token too).
      this.secrets.grantManageConnectionSecrets(fn);
      this.secrets.grantDeleteTokens(fn);
    }
    if (access.secrets === 'caller') this.secrets.grantReadCallerSecret(fn, callerSecret);
  }

  /**
   * A scheduled invocation: retried twice within an hour, then kept in its own dead-letter queue
   * (SSE, 14 days, TLS only) for an operator to look at (Amazon EventBridge User Guide,
   * "Using dead-letter queues to process undelivered events").
   */
  private schedule(key: FunctionKey, fn: IvrflowFunction, trigger: { minutes: number; description: string }): void {
    const deadLetters = new Queue(this, `${SCHEDULE_IDS[key] ?? fn.node.id}DeadLetters`, { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
    NagSuppressions.addResourceSuppressions(deadLetters, [{ id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of a schedule target; it has none of its own.' }]);
    this.scheduleDeadLetters[key] = deadLetters;
    new Rule(this, `${SCHEDULE_IDS[key] ?? fn.node.id}Schedule`, {
      description: trigger.description,
      schedule: Schedule.rate(Duration.minutes(trigger.minutes)),
      targets: [new LambdaFunction(fn, { retryAttempts: 2, maxEventAge: Duration.hours(1), deadLetterQueue: deadLetters })],
    });
  }

  /** The authorizer of the execution routes (`callerAuthorization`); undefined keeps the API's default, IAM. */
  private callerAuthorizer(auth: NonNullable<IvrflowStackProps['callerAuthorization']>): IHttpRouteAuthorizer | undefined {
    if (auth.type === 'jwt') return new HttpJwtAuthorizer('CallerJwt', auth.issuer, { jwtAudience: auth.audience });
    if (auth.type !== 'basic') return undefined;
    return new HttpLambdaAuthorizer('CallerBasic', this.basicAuthorizer!, { responseTypes: [HttpLambdaResponseType.SIMPLE], identitySource: ['$request.header.Authorization'], resultsCacheTtl: Duration.minutes(5) });
  }
}
