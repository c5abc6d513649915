/**
 * The alarms of an ivrflow deployment (docs/operating.md), all with one SNS topic as their alarm
 * and OK action:
 * - the execution error rate: (FAILED + TIMED_OUT) / all executions above 5 % over 10 minutes,
 *   once at least 20 executions ended (metric math over `Executions` by {service, status}, the
 *   set the functions publish); missing data is not breaching;
 * - any circuit opened (`CircuitOpened`), any token refresh failure (`TokenRefreshFailures`);
 * - any error or throttle of each Lambda function, any 5xx of the HTTP API, any message in a
 *   dead-letter queue.
 * The topic is the one `alarmTopicArn` names, else a new one encrypted with a key of its own
 * (CloudWatch alarms cannot publish to a topic under the AWS managed SNS key: Amazon CloudWatch
 * User Guide, "Using Amazon CloudWatch alarms"); `alarmEmail` subscribes an address to it.
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '#shared/metric-names';

/** The error rate (percent of ended executions FAILED or TIMED_OUT) above which the alarm fires. */
export const ERROR_RATE_THRESHOLD_PERCENT = 5;
/** The window of the error rate. */
export const ERROR_RATE_PERIOD = Duration.minutes(10);
/** Fewer executions than this in a window are too few for a rate: the alarm stays OK. */
export const ERROR_RATE_MIN_EXECUTIONS = 20;

/** An ivrflow metric as the functions publish it (namespace `ivrflow`, `service` `ivrflow` plus `dimensions`). */
export function ivrflowMetric(metricName: string, dimensions: Record<string, string> = {}, options: { statistic?: string; period?: Duration; label?: string } = {}): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRICS_SERVICE, ...dimensions },
    statistic: options.statistic ?? 'Sum',
    period: options.period ?? Duration.minutes(5),
    ...(options.label ? { label: options.label } : {}),
  });
}

export interface IvrflowAlarmsProps {
  /** Every function of the stack, by its logical id. */
  functions: Record<string, IFunction>;
  api: IHttpApi;
  /** The dead-letter queues, by a name for the alarm. */
  deadLetterQueues: Record<string, IQueue>;
  /** An address subscribed to the topic (it confirms by email). @default no subscription */
  alarmEmail?: string;
  /** An existing topic to notify instead of a new one. @default a new encrypted topic */
  alarmTopicArn?: string;
}

export class IvrflowAlarms extends Construct {
  readonly topic: ITopic;
  /** Every alarm, by its construct id. */
  readonly alarms: Record<string, Alarm> = {};

  constructor(scope: Construct, id: string, props: IvrflowAlarmsProps) {
    super(scope, id);
    this.topic = props.alarmTopicArn ? Topic.fromTopicArn(this, 'Topic', props.alarmTopicArn) : this.newTopic();
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const executions = (status: string) => ivrflowMetric('Executions', { status }, { period: ERROR_RATE_PERIOD });
    this.add(
      'ExecutionErrorRate',
      new MathExpression({
        expression: `IF(FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0) >= ${ERROR_RATE_MIN_EXECUTIONS}, 100 * (FILL(failed, 0) + FILL(timedOut, 0)) / (FILL(succeeded, 0) + FILL(failed, 0) + FILL(timedOut, 0)), 0)`,
        usingMetrics: { succeeded: executions('SUCCEEDED'), failed: executions('FAILED'), timedOut: executions('TIMED_OUT') },
        period: ERROR_RATE_PERIOD,
        label: 'Executions FAILED or TIMED_OUT (%)',
      }),
      ERROR_RATE_THRESHOLD_PERCENT,
      `More than ${ERROR_RATE_THRESHOLD_PERCENT} % of the executions of the last 10 minutes ended FAILED or TIMED_OUT (at least ${ERROR_RATE_MIN_EXECUTIONS} executions).`,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
    this.add('CircuitOpened', ivrflowMetric('CircuitOpened'), 1, 'A circuit breaker opened: a backend is failing and calls to it take their fallback branch.');
    this.add('TokenRefreshFailures', ivrflowMetric('TokenRefreshFailures'), 1, 'An OAuth2 token could not be refreshed: flows using its connection may fail to authenticate.');
    for (const [name, fn] of Object.entries(props.functions)) {
      this.add(`${name}Errors`, fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }), 1, `The ${name} function failed (an invocation ended with an error).`);
      this.add(`${name}Throttles`, fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }), 1, `The ${name} function was throttled.`);
    }
    this.add('Api5xx', props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }), 1, 'The HTTP API answered 5xx.');
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.add(`${name}DeadLetters`, queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }), 1, `The ${name} schedule left an event in its dead-letter queue: a run failed after its retries.`);
    }
  }

  /** A topic encrypted with a key CloudWatch may use, TLS only. */
  private newTopic(): Topic {
    const key = new Key(this, 'TopicKey', { enableKeyRotation: true, description: 'ivrflow alarm topic' });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    return new Topic(this, 'Topic', { displayName: 'ivrflow alarms', masterKey: key, enforceSSL: true });
  }

  /** An alarm over `metric` (one period; at or above `threshold` unless `comparison` says otherwise), notifying the topic on alarm and on OK. */
  private add(id: string, metric: IMetric, threshold: number, description: string, comparison = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD): void {
    const alarm = new Alarm(this, id, { metric, threshold, comparisonOperator: comparison, evaluationPeriods: 1, treatMissingData: TreatMissingData.NOT_BREACHING, alarmDescription: description });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms[id] = alarm;
  }
}
