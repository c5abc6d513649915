import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { IvrflowStack } from '../../infra/ivrflow-stack';
import { ROUTES } from '../../shared/api/routes';
import { DEFINITIONS_TABLE, STATE_TABLE } from '../../shared/stores/dynamodb/tables';

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
    // The flow-api lists, reads and resets circuits, and registers, reads and forgets token records, in the State table.
    expect(onState.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
  });

  /** Every action a function's policy grants on a resource matching `resource`. */
  function actionsOn(functionId: string, resource: RegExp): string[] {
    const policies = template.findResources('AWS::IAM::Policy');
    const policy = Object.entries(policies).find(([id]) => id.startsWith(functionId))![1] as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } } };
    return policy.Properties.PolicyDocument.Statement.filter((s) => resource.test(JSON.stringify(s.Resource))).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
  }

  it('scopes every secret grant to the secret prefix, each function with only the actions it uses', () => {
    const secretStatements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
      (p as { Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } } }).Properties.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Action).includes('secretsmanager:')),
    );
    expect(secretStatements).toHaveLength(6);
    for (const s of secretStatements) expect(JSON.stringify(s.Resource)).toMatch(/:secretsmanager:.*:secret:ivrflow\/\*"/);
    expect(actionsOn('FlowApi', /secret:ivrflow/).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(actionsOn('FlowExecutor', /secret:ivrflow/).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(actionsOn('TokenRefresher', /secret:ivrflow/).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    // Resumed flows may renew a token; a callback reads its connection's signing secret.
    expect(actionsOn('WebhookCallback', /secret:ivrflow/).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(actionsOn('WaitSweeper', /secret:ivrflow/).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
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
    const t = templateWith({ callerAuthorization: { type: 'basic', secretName: 'callers/twilio' } });
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
    // Its own secret, not the prefix that holds connections' credentials and tokens.
    const secretStatement = policy.Properties.PolicyDocument.Statement.find((st) => JSON.stringify(st.Action).includes('secretsmanager'))!;
    expect(JSON.stringify((secretStatement as unknown as { Resource: unknown }).Resource)).toMatch(/:secret:ivrflow\/callers\/twilio-\?\?\?\?\?\?"/);
  });

  it('has no unsuppressed cdk-nag AwsSolutions error or warning', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const show = ({ id, entry: { data } }: (typeof errors)[number]) => `${id}: ${(typeof data === 'string' ? data : String(JSON.stringify(data))).slice(0, 120)}`;
    expect(errors.map(show)).toEqual([]);
    expect(warnings.map(show)).toEqual([]);
  });
});
