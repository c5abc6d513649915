/** The alarms, their topic and the dashboard in the synthesized template, checked by cdk-nag. */
import { App, Aspects } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { stackPropsFromContext } from '../../infra/context';
import { IvrflowStack, type IvrflowStackProps } from '../../infra/ivrflow-stack';

function synth(props: IvrflowStackProps = {}, context: Record<string, unknown> = {}): { stack: IvrflowStack; template: Template } {
  // Skip esbuild bundling: these tests assert the template, `npm run synth` bundles for real.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new IvrflowStack(app, 'Test', { ...stackPropsFromContext(app.node), ...props });
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  return { stack, template: Template.fromStack(stack) };
}

type AlarmResource = {
  Properties: Record<string, unknown> & {
    AlarmActions: unknown[];
    OKActions: unknown[];
    Metrics?: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: Array<{ Name: string; Value: string }> }; Period: number; Stat: string } }>;
  };
};

const plain = synth();
const alarms = plain.template.findResources('AWS::CloudWatch::Alarm') as Record<string, AlarmResource>;
const alarm = (id: string) => Object.entries(alarms).find(([logicalId]) => logicalId.startsWith(`Alarms${id}`))?.[1];

describe('IvrflowAlarms', () => {
  it('one encrypted topic (a key CloudWatch may use, rotated), TLS only, no subscription without alarmEmail', () => {
    plain.template.resourceCountIs('AWS::SNS::Topic', 1);
    plain.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    plain.template.resourceCountIs('AWS::SNS::Subscription', 0);
    plain.template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]) },
    });
    plain.template.hasResourceProperties('AWS::SNS::TopicPolicy', { PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) } });
  });

  it('alarmEmail (a prop or context ivrflow:alarmEmail) subscribes the address; a bad address fails the synth naming the key', () => {
    for (const { template } of [synth({ alarmEmail: 'oncall@example.com' }), synth({}, { 'ivrflow:alarmEmail': 'oncall@example.com' })]) {
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: Match.stringLikeRegexp('^AlarmsTopic') } });
    }
    expect(() => synth({}, { 'ivrflow:alarmEmail': 'not an address' })).toThrow(/ivrflow:alarmEmail: /);
  });

  it('alarmTopicArn: the alarms notify that topic, and no topic or key is created', () => {
    const arn = 'arn:aws:sns:eu-west-1:123456789012:oncall';
    const { template } = synth({}, { 'ivrflow:alarmTopicArn': arn, 'ivrflow:alarmEmail': 'oncall@example.com' });
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: arn });
    for (const a of Object.values(template.findResources('AWS::CloudWatch::Alarm')) as AlarmResource[]) {
      expect(a.Properties.AlarmActions).toEqual([arn]);
      expect(a.Properties.OKActions).toEqual([arn]);
    }
    expect(() => synth({}, { 'ivrflow:alarmTopicArn': 'oncall' })).toThrow(/ivrflow:alarmTopicArn: an SNS topic ARN/);
  });

  it('the execution error rate: (FAILED + TIMED_OUT) / all > 5 % over 10 minutes, at least 20 executions, from Executions by {service, status} as published; missing data not breaching', () => {
    const rate = alarm('ExecutionErrorRate')!;
    expect(rate.Properties).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
    const metrics = rate.Properties.Metrics!;
    const expression = metrics.find((m) => m.Expression)!;
    expect(expression.Expression).toBe('IF(FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0) >= 20, 100 * (FILL(failed, 0) + FILL(timedOut, 0)) / (FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0)), 0)');
    const inputs = Object.fromEntries(metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!]));
    expect(Object.keys(inputs).sort()).toEqual(['failed', 'succeeded', 'timedOut']);
    for (const [id, status] of [
      ['succeeded', 'SUCCEEDED'],
      ['failed', 'FAILED'],
      ['timedOut', 'TIMED_OUT'],
    ] as const) {
      expect(inputs[id]).toEqual({
        Metric: {
          Namespace: 'ivrflow',
          MetricName: 'Executions',
          Dimensions: [
            { Name: 'service', Value: 'ivrflow' },
            { Name: 'status', Value: status },
          ],
        },
        Period: 600,
        Stat: 'Sum',
      });
    }
  });

  it('an alarm on any circuit opened and any token refresh failure, each function’s errors and throttles, API 5xx and each dead-letter queue; every alarm notifies the topic on alarm and on OK', () => {
    const ids = Object.values(plain.stack.byKey).map((f) => f.node.id);
    expect(ids).toHaveLength(7);
    const expected = ['ExecutionErrorRate', 'CircuitOpened', 'TokenRefreshFailures', ...ids.flatMap((id) => [`${id}Errors`, `${id}Throttles`]), 'Api5xx', 'TokenRefresherDeadLetters', 'WaitSweeperDeadLetters'];
    expect(Object.keys(plain.stack.alarms.alarms).sort()).toEqual(expected.sort());
    expect(Object.keys(alarms)).toHaveLength(expected.length);
    for (const name of ['CircuitOpened', 'TokenRefreshFailures']) {
      expect(alarm(name)!.Properties).toMatchObject({ Namespace: 'ivrflow', MetricName: name, Dimensions: [{ Name: 'service', Value: 'ivrflow' }], Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    }
    expect(alarm('FlowExecutorErrors')!.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^FlowExecutor/) as unknown } }] });
    expect(alarm('ConnectInvokeThrottles')!.Properties).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Throttles' });
    expect(alarm('Api5xx')!.Properties).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: [{ Name: 'ApiId', Value: { Ref: 'ApiF70053CD' } }] });
    expect(alarm('WaitSweeperDeadLetters')!.Properties).toMatchObject({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Statistic: 'Maximum', Threshold: 1 });
    for (const a of Object.values(alarms)) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlarmsTopic/) as unknown }]);
      expect(a.Properties.OKActions).toEqual(a.Properties.AlarmActions);
    }
  });

  it('the dashboard shows executions by status, duration p50/p99, step errors by type, circuits, tokens, each function’s errors and duration, API 4xx/5xx and latency', () => {
    const dashboards = Object.values(plain.template.findResources('AWS::CloudWatch::Dashboard')) as Array<{ Properties: { DashboardBody: unknown } }>;
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const title of ['Executions by status', 'Execution duration (ms)', 'Step errors by type', 'Circuits', 'OAuth2 tokens', 'Function errors', 'Function duration p99 (ms)', 'HTTP API 4xx / 5xx', 'Alarms']) expect(body).toContain(title);
    expect(body).toContain('\\"ivrflow\\",\\"Executions\\",\\"service\\",\\"ivrflow\\",\\"status\\",\\"TIMED_OUT\\"');
    expect(body).toContain('\\"stat\\":\\"p99\\"');
    expect(body).toContain('SEARCH(');
    expect(body).toContain('MetricName=\\\\\\"StepErrors\\\\\\"');
  });

  it('is cdk-nag clean (AwsSolutions), with and without an address', () => {
    for (const { stack } of [plain, synth({ alarmEmail: 'oncall@example.com' })]) {
      expect(Annotations.fromStack(stack).findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
      expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    }
  });
});
