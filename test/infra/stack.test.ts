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
    expect(Object.keys(fns)).toHaveLength(6);
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
    expect(secretStatements).toHaveLength(5);
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
    expect(withUrl).toEqual(['FlowExecutor', 'WaitSweeper', 'WebhookCallback']);
  });

  it('creates every route with IAM authorization except the throttled callback route', () => {
    const routes = template.findResources('AWS::ApiGatewayV2::Route');
    const keys = Object.values(routes).map((r) => (r as { Properties: { RouteKey: string; AuthorizationType: string } }).Properties);
    expect(keys.map((k) => k.RouteKey).sort()).toEqual([...ROUTES.flowApi, ...ROUTES.flowExecutor, ...ROUTES.webhookCallback, ...ROUTES.agentEvents].sort());
    for (const k of keys) expect(k.AuthorizationType).toBe(k.RouteKey === 'POST /callbacks/{token}' ? 'NONE' : 'AWS_IAM');
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { RouteSettings: { 'POST /callbacks/{token}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 } } });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }) });
  });

  it('has no unsuppressed cdk-nag AwsSolutions error or warning', () => {
    const errors = Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
    const show = ({ id, entry: { data } }: (typeof errors)[number]) => `${id}: ${(typeof data === 'string' ? data : String(JSON.stringify(data))).slice(0, 120)}`;
    expect(errors.map(show)).toEqual([]);
    expect(warnings.map(show)).toEqual([]);
  });
});
