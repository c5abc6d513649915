import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, stackPropsFromContext } from '../../infra/context';
import { FUNCTIONS, type FunctionSpec } from '../../functions/manifest';
import { IvrflowStack } from '../../infra/ivrflow-stack';
import { ROUTES } from '#shared/api/routes';
import { DEFINITIONS_TABLE, STATE_TABLE } from '#shared/stores/dynamodb/tables';

let stack: IvrflowStack;
let template: Template;

beforeAll(() => {
  // Skip esbuild bundling: these tests assert the template, `npm run synth` bundles for real.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  stack = new IvrflowStack(app, 'Test');
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  template = Template.fromStack(stack);
});

describe('IvrflowStack', () => {
  it('builds both tables from the shared layouts, TTL on State', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: DEFINITIONS_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: DEFINITIONS_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'byKind' })],
      BillingMode: 'PAY_PER_REQUEST',
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: STATE_TABLE.timeToLiveAttribute, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('runs the functions on Node.js 22+ with their table names in the environment', () => {
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } });
    expect(Object.keys(fns)).toHaveLength(7);
    for (const fn of Object.values(fns) as Array<{ Properties: { Runtime: string; Environment: { Variables: Record<string, unknown> } } }>) {
      expect(Number(/^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime)?.[1])).toBeGreaterThanOrEqual(22);
      expect(Object.keys(fn.Properties.Environment.Variables)).toEqual(expect.arrayContaining(['IVRFLOW_DEFINITIONS_TABLE', 'IVRFLOW_STATE_TABLE', 'IVRFLOW_SECRET_PREFIX']));
    }
  });

  it('grants least privilege: the executor only reads definitions', () => {
    const policies = template.findResources('AWS::IAM::Policy');
    const executorPolicy = Object.entries(policies).find(([id]) => id.startsWith('FlowExecutor'))![1] as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } } };
    const statements = executorPolicy.Properties.PolicyDocument.Statement;
    const onDefinitions = statements.filter((s) => JSON.stringify(s.Resource).includes('TablesDefinitions'));
    const actions = onDefinitions.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => /Put|Update|Delete|BatchWrite/.test(a))).toEqual([]);
    const apiPolicy = Object.entries(policies).find(([id]) => id.startsWith('FlowApi'))![1] as typeof executorPolicy;
    const onState = apiPolicy.Properties.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Resource).includes('TablesState'));
    // The flow-api lists, reads and resets circuits, registers, reads and forgets token records, searches executions and writes and reads the audit trail, in the State table.
    expect(onState.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
  });

  /** Every action a function's policy grants on a resource matching `resource`. */
  function actionsOn(functionId: string, resource: RegExp): string[] {
    const policies = template.findResources('AWS::IAM::Policy');
    const policy = Object.entries(policies).find(([id]) => id.startsWith(functionId))![1] as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } } };
    return policy.Properties.PolicyDocument.Statement.filter((s) => resource.test(JSON.stringify(s.Resource))).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
  }

  /** Every secretsmanager statement of every policy, with the policy's logical id. */
  function secretStatements(t: Template): Array<{ policy: string; actions: string[]; resource: string }> {
    return Object.entries(t.findResources('AWS::IAM::Policy')).flatMap(([policy, p]) =>
      (p as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } } }).Properties.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Action).includes('secretsmanager:')).map((s) => ({
        policy,
        actions: (Array.isArray(s.Action) ? s.Action : [s.Action]).sort(),
        resource: JSON.stringify(s.Resource),
      })),
    );
  }

  /** The secret namespaces a function's statements reach, each with its actions (`connections: Get…`). */
  function namespacesOf(functionId: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const s of secretStatements(template).filter((st) => st.policy.startsWith(functionId))) {
      const ns = /:secret:ivrflow\/([a-z]+)\/\*"/.exec(s.resource)?.[1] ?? s.resource;
      out[ns] = [...(out[ns] ?? []), ...s.actions.map((a) => a.replace('secretsmanager:', ''))].sort();
    }
    return out;
  }

  it('scopes every secret grant to one namespace (connections/, tokens/, flows/), each function with only the actions it uses; nothing reaches the whole prefix', () => {
    const statements = secretStatements(template);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) expect(s.resource).toMatch(/:secretsmanager:.*:secret:ivrflow\/(connections|tokens|flows)\/\*"/);
    expect(namespacesOf('FlowApi')).toEqual({ connections: ['CreateSecret', 'DeleteSecret', 'GetSecretValue', 'PutSecretValue'], tokens: ['DeleteSecret'] });
    // Executor-class functions (a callback reads its connection's signing secret, resumed flows may renew a token) and the refresher:
    // read flows/, connections/ and tokens/, write tokens/ only.
    const executor = { connections: ['GetSecretValue'], flows: ['GetSecretValue'], tokens: ['CreateSecret', 'GetSecretValue', 'PutSecretValue'] };
    for (const fn of ['FlowExecutor', 'ConnectInvoke', 'WebhookCallback', 'WaitSweeper', 'TokenRefresher']) expect(namespacesOf(fn), fn).toEqual(executor);
    expect(namespacesOf('AgentEvents')).toEqual({});
  });

  it('runs the token-refresher every 5 minutes; it touches token records in State only', () => {
    const rules = template.findResources('AWS::Events::Rule');
    expect(Object.values(rules)).toHaveLength(2);
    const rule = rules[Object.keys(rules).find((id) => id.startsWith('TokenRefreshSchedule'))!] as { Properties: { ScheduleExpression: string; State: string; Targets: Array<{ Arn: { 'Fn::GetAtt': string[] } }> } };
    expect(rule.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    expect(rule.Properties.Targets[0]!.Arn['Fn::GetAtt'][0]).toMatch(/^TokenRefresher/);
    expect(actionsOn('TokenRefresher', /TablesDefinitions/)).toEqual([]);
    expect(actionsOn('TokenRefresher', /TablesState/).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', Action: 'lambda:InvokeFunction' });
  });

  it('runs the wait-sweeper every minute, with what running the rest of a flow takes', () => {
    const rules = template.findResources('AWS::Events::Rule');
    const rule = rules[Object.keys(rules).find((id) => id.startsWith('WaitSweepSchedule'))!] as { Properties: { ScheduleExpression: string; Targets: Array<{ Arn: { 'Fn::GetAtt': string[] } }> } };
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(rule.Properties.Targets[0]!.Arn['Fn::GetAtt'][0]).toMatch(/^WaitSweeper/);
    for (const fn of ['WaitSweeper', 'WebhookCallback']) {
      expect(actionsOn(fn, /TablesDefinitions/).filter((a) => /Put|Update|Delete|BatchWrite/.test(a))).toEqual([]);
      expect(actionsOn(fn, /TablesState/)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:PutItem']));
    }
  });

  it('the agent-events function reads and writes agent items in State only, and no secret', () => {
    expect(actionsOn('AgentEvents', /TablesDefinitions/)).toEqual([]);
    expect(actionsOn('AgentEvents', /TablesState/).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(actionsOn('AgentEvents', /secretsmanager|secret:/)).toEqual([]);
  });

  it('gives the functions that may start a wait the public URL callbacks are built on', () => {
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } });
    const withUrl = Object.entries(fns)
      .filter(([, fn]) => 'IVRFLOW_PUBLIC_URL' in (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables)
      .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
      .sort();
    expect(withUrl).toEqual(['ConnectInvoke', 'FlowExecutor', 'WaitSweeper', 'WebhookCallback']);
  });

  it('creates every route with IAM authorization except the throttled callback route', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route');
    const keys = Object.values(routes).map((r) => (r as { Properties: { RouteKey: string; AuthorizationType: string } }).Properties);
    expect(keys.map((k) => k.RouteKey).sort()).toEqual([...ROUTES.flowApi, ...ROUTES.flowExecutor, ...ROUTES.webhookCallback, ...ROUTES.agentEvents].sort());
    for (const k of keys) expect(k.AuthorizationType).toBe(k.RouteKey === 'POST /callbacks/{token}' ? 'NONE' : 'AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { RouteSettings: { 'POST /callbacks/{token}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }) });
  });

  it('lets Amazon Connect of this account invoke connect-invoke (8 s), and outputs its ARN', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'connect.amazonaws.com',
      Action: 'lambda:InvokeFunction',
      SourceAccount: { Ref: 'AWS::AccountId' },
      FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ConnectInvoke'), 'Arn'] },
    });
    const permission = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'connect.amazonaws.com' } }))[0] as { Properties: Record<string, unknown> };
    expect(permission.Properties['SourceArn']).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 8, Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ivrflow-connect-invoke' }) } });
    template.hasOutput('ConnectInvokeFunctionArn', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ConnectInvoke'), 'Arn'] } });
  });

  /** The template of a stack built with these props. */
  function templateWith(props: ConstructorParameters<typeof IvrflowStack>[2]): Template {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const other = new IvrflowStack(app, 'Other', props);
    Aspects.of(app).add(new AwsSolutionsChecks());
    app.synth();
    const errors = Annotations.fromStack(other).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    expect(errors.map((e) => e.id)).toEqual([]);
    return Template.fromStack(other);
  }

  const executionRoutes = (t: Template) =>
    Object.values(t.findResources('AWS::ApiGatewayV2::Route'))
      .map((r) => (r as { Properties: { RouteKey: string; AuthorizationType: string; AuthorizerId?: unknown } }).Properties)
      .filter((r) => (ROUTES.flowExecutor as readonly string[]).includes(r.RouteKey));

  it('callers authenticate with a JWT authorizer when asked; operator routes stay IAM', () => {
    const t = templateWith({ callerAuthorization: { type: 'jwt', issuer: 'https://login.example.com/', audience: ['ivrflow'] }, connectInstanceArn: 'arn:aws:connect:us-east-1:123456789012:instance/abc' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT', JwtConfiguration: { Issuer: 'https://login.example.com/', Audience: ['ivrflow'] }, IdentitySource: ['$request.header.Authorization'] });
    expect(executionRoutes(t).map((r) => r.AuthorizationType)).toEqual(['JWT', 'JWT', 'JWT']);
    const others = Object.values(t.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as { Properties: { RouteKey: string; AuthorizationType: string } }).Properties);
    for (const r of others.filter((o) => (ROUTES.flowApi as readonly string[]).includes(o.RouteKey))) expect(r.AuthorizationType).toBe('AWS_IAM');
    t.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'connect.amazonaws.com', SourceArn: 'arn:aws:connect:us-east-1:123456789012:instance/abc' });
  });

  it('callers with HTTP Basic credentials go through the basic-authorizer, which may only read its secret', () => {
    const t = templateWith({ callerAuthorization: { type: 'basic', secretName: 'twilio' } });
    t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      AuthorizerPayloadFormatVersion: '2.0',
      EnableSimpleResponses: true,
      IdentitySource: ['$request.header.Authorization'],
      AuthorizerResultTtlInSeconds: 300,
    });
    expect(executionRoutes(t).map((r) => r.AuthorizationType)).toEqual(['CUSTOM', 'CUSTOM', 'CUSTOM']);
    t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ IVRFLOW_CALLER_CREDENTIALS_SECRET: 'ivrflow/callers/twilio' }) } });
    const policies = t.findResources('AWS::IAM::Policy');
    const policy = Object.entries(policies).find(([id]) => id.startsWith('BasicAuthorizer'))![1] as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string }> } } };
    expect(policy.Properties.PolicyDocument.Statement.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action])).filter((a) => !a.startsWith('xray:'))).toEqual(['secretsmanager:GetSecretValue']);
    // Its own secret, not the prefix that holds connections' credentials and tokens; nobody else reads callers/.
    const callers = secretStatements(t).filter((st) => st.resource.includes('callers/'));
    expect(callers).toHaveLength(1);
    expect(callers[0]!.policy).toMatch(/^BasicAuthorizer/);
    expect(callers[0]!.resource).toMatch(/:secret:ivrflow\/callers\/twilio-\?\?\?\?\?\?"/);
    const defaultName = templateWith({ callerAuthorization: { type: 'basic' } });
    defaultName.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ IVRFLOW_CALLER_CREDENTIALS_SECRET: 'ivrflow/callers/basic' }) } });
  });

  it('keeps both tables when the stack is deleted and protects them from deletion', () => {
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table')) as Array<{ DeletionPolicy: string; UpdateReplacePolicy: string; Properties: { DeletionProtectionEnabled?: boolean } }>;
    expect(tables).toHaveLength(2);
    for (const t of tables) {
      expect(t.DeletionPolicy).toBe('Retain');
      expect(t.UpdateReplacePolicy).toBe('Retain');
      expect(t.Properties.DeletionProtectionEnabled).toBe(true);
    }
  });

  it('retries each schedule target twice within an hour, then keeps the event in its own encrypted, TLS-only dead-letter queue', () => {
    const queues = template.findResources('AWS::SQS::Queue') as Record<string, { Properties: { SqsManagedSseEnabled?: boolean; MessageRetentionPeriod?: number } }>;
    expect(Object.keys(queues).sort()).toEqual([expect.stringMatching(/^TokenRefreshDeadLetters/), expect.stringMatching(/^WaitSweepDeadLetters/)]);
    for (const q of Object.values(queues)) expect(q.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    for (const id of Object.keys(queues)) {
      const rule = Object.entries(template.findResources('AWS::Events::Rule')).find(([ruleId]) => ruleId.startsWith(id.replace(/DeadLetters.*/, 'Schedule')))![1] as { Properties: { Targets: Array<Record<string, unknown>> } };
      expect(rule.Properties.Targets[0]).toMatchObject({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [id, 'Arn'] } } });
    }
    // TLS only, and EventBridge may send to it.
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')).map((p) => JSON.stringify(p));
    expect(policies.filter((p) => p.includes('aws:SecureTransport'))).toHaveLength(2);
    expect(policies.filter((p) => p.includes('events.amazonaws.com'))).toHaveLength(2);
  });

  it('logs every API request as one JSON line of HTTP API variables, the integration error included', () => {
    const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0] as { Properties: { AccessLogSettings: { Format: string } } };
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      responseLatency: '$context.responseLatency',
      integrationErrorMessage: '$context.integrationErrorMessage',
      errorMessage: '$context.error.message',
    });
    // Only HTTP API variables: REST API ones ($context.resourcePath, $context.identity.user) would log "-".
    expect(Object.values(format).filter((v) => /resourcePath|identity\.user|\$context\.stage\b/.test(v))).toEqual([]);
  });

  it('reserves concurrency for the executor-class functions only when asked', () => {
    const reservedOf = (t: Template) =>
      Object.entries(t.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } }))
        .filter(([, fn]) => (fn as { Properties: { ReservedConcurrentExecutions?: number } }).Properties.ReservedConcurrentExecutions !== undefined)
        .map(([id, fn]) => `${id.replace(/[0-9A-F]{8}$/, '')}=${(fn as { Properties: { ReservedConcurrentExecutions: number } }).Properties.ReservedConcurrentExecutions}`)
        .sort();
    expect(reservedOf(template)).toEqual([]);
    expect(reservedOf(templateWith({ reservedConcurrency: 40 }))).toEqual(['ConnectInvoke=40', 'FlowExecutor=40', 'WebhookCallback=40']);
  });

  describe('stack props from CDK context (-c ivrflow:<prop>=...)', () => {
    const contextOf = (context: Record<string, unknown>) => stackPropsFromContext(new App({ context }).node);

    it('reads every prop, JSON for objects (a string from -c or an object from cdk.json), text for numbers', () => {
      expect(
        contextOf({
          'ivrflow:reservedConcurrency': '25',
          'ivrflow:secretPrefix': 'acme/ivr/',
          'ivrflow:publicUrl': 'https://ivr.example.com',
          'ivrflow:callbackThrottle': '{"rateLimit":10,"burstLimit":20}',
          'ivrflow:callerAuthorization': { type: 'basic', secretName: 'twilio' },
          'ivrflow:connectInstanceArn': 'arn:aws:connect:eu-west-2:123456789012:instance/0b1e2c3d',
          'ivrflow:tables': '{"removalPolicy":"destroy","deletionProtection":false}',
          'aws:cdk:bundling-stacks': [],
        }),
      ).toEqual({
        reservedConcurrency: 25,
        secretPrefix: 'acme/ivr/',
        publicUrl: 'https://ivr.example.com',
        callbackThrottle: { rateLimit: 10, burstLimit: 20 },
        callerAuthorization: { type: 'basic', secretName: 'twilio' },
        connectInstanceArn: 'arn:aws:connect:eu-west-2:123456789012:instance/0b1e2c3d',
        tables: { removalPolicy: 'destroy', deletionProtection: false },
      });
      expect(CONTEXT_KEYS).toEqual(expect.arrayContaining(['ivrflow:reservedConcurrency', 'ivrflow:callerAuthorization', 'ivrflow:tables']));
      expect(contextOf({})).toEqual({});
    });

    it('a context value reaches the template: reserved concurrency from -c', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [], 'ivrflow:reservedConcurrency': '30' } });
      const t = Template.fromStack(new IvrflowStack(app, 'FromContext', stackPropsFromContext(app.node)));
      t.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 30, Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ivrflow-connect-invoke' }) } });
    });

    it('refuses an unknown ivrflow: key and bad values, naming each key', () => {
      expect(() => contextOf({ 'ivrflow:reservedConcurency': '5' })).toThrow(/ivrflow:reservedConcurency: not a stack prop \(known: .*ivrflow:reservedConcurrency/);
      expect(() => contextOf({ 'ivrflow:reservedConcurrency': 'many', 'ivrflow:callbackThrottle': '{"rateLimit":10}' })).toThrow(/ivrflow:reservedConcurrency: .*\n.*ivrflow:callbackThrottle\.burstLimit/);
      expect(() => contextOf({ 'ivrflow:callerAuthorization': '{"type":"basic","secretName":"../connections/crm"}' })).toThrow(/ivrflow:callerAuthorization\.secretName: one name under callers\//);
      expect(() => contextOf({ 'ivrflow:callerAuthorization': '{type: jwt}' })).toThrow(/ivrflow:callerAuthorization/);
      expect(() => contextOf({ 'ivrflow:tables': '{"removalPolicy":"keep"}' })).toThrow(/ivrflow:tables\.removalPolicy/);
    });
  });

  it('has every function of the manifest, with its timeout, trigger and service name (the basic authorizer with basic callers, the definitions deployer with definitionsDir)', () => {
    const withBasic = templateWith({ callerAuthorization: { type: 'basic' } });
    const withDefinitions = templateWith({ definitionsDir: 'examples' });
    for (const spec of Object.values(FUNCTIONS) as FunctionSpec[]) {
      const t = spec.trigger.type === 'authorizer' ? withBasic : spec.trigger.type === 'customResource' ? withDefinitions : template;
      const fns = t.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: `ivrflow-${spec.dir}` }) } } });
      expect(Object.keys(fns), spec.id).toEqual([expect.stringMatching(new RegExp(`^${spec.id}[0-9A-F]{8}$`))]);
      expect((Object.values(fns)[0] as { Properties: { Timeout: number } }).Properties.Timeout, spec.id).toBe(Math.ceil(spec.timeoutMs / 1000));
      if (spec.trigger.type === 'http') {
        const keys = Object.values(t.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as { Properties: { RouteKey: string } }).Properties.RouteKey);
        expect(keys, spec.id).toEqual(expect.arrayContaining([...spec.trigger.routes]));
      }
      if (spec.trigger.type === 'schedule')
        t.hasResourceProperties('AWS::Events::Rule', {
          ScheduleExpression: `rate(${spec.trigger.minutes} minute${spec.trigger.minutes === 1 ? '' : 's'})`,
          Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Object.keys(fns)[0], 'Arn'] } })],
        });
    }
    expect(Object.keys(template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.handler' } }))).toHaveLength(Object.keys(FUNCTIONS).length - 2);
  });

  it('has no unsuppressed cdk-nag AwsSolutions error or warning', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const show = ({ id, entry: { data } }: (typeof errors)[number]) => `${id}: ${(typeof data === 'string' ? data : String(JSON.stringify(data))).slice(0, 120)}`;
    expect(errors.map(show)).toEqual([]);
    expect(warnings.map(show)).toEqual([]);
  });
});
