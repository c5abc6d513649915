/**
 * The CloudWatch dashboard of an ivrflow deployment (docs/operating.md): executions by status,
 * execution duration p50/p99, step errors by type, circuits, tokens, callbacks and waits, each
 * function's errors and duration, the HTTP API's 4xx/5xx and latency, and the alarms' states.
 */
import { Duration } from 'aws-cdk-lib';
import { AlarmStatusWidget, Dashboard, GraphWidget, MathExpression, type IAlarm, type IMetric, type IWidget } from 'aws-cdk-lib/aws-cloudwatch';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, METRICS_SERVICE } from '#shared/metric-names';
import { ivrflowMetric } from './alarms';

export interface IvrflowDashboardProps {
  /** Every function of the stack, by its logical id. */
  functions: Record<string, IFunction>;
  api: IHttpApi;
  alarms: IAlarm[];
}

const WIDTH = 12;
const PERIOD = Duration.minutes(5);

export class IvrflowDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: IvrflowDashboardProps) {
    super(scope, id);
    const graph = (title: string, left: IMetric[], right?: IMetric[]): IWidget => new GraphWidget({ title, left, ...(right ? { right } : {}), width: WIDTH, height: 6 });
    const fns = Object.entries(props.functions);
    const count = (name: string, dimensions: Record<string, string> = {}) => ivrflowMetric(name, dimensions, { period: PERIOD, label: Object.values(dimensions)[0] ?? name });
    const duration = (statistic: string) => ivrflowMetric('ExecutionDuration', {}, { statistic, period: PERIOD, label: statistic });
    const widgets: IWidget[] = [
      new AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: 2 * WIDTH }),
      graph(
        'Executions by status',
        ['SUCCEEDED', 'FAILED', 'TIMED_OUT'].map((status) => count('Executions', { status })),
      ),
      graph('Execution duration (ms)', [duration('p50'), duration('p99')]),
      graph('Step errors by type', [new MathExpression({ expression: `SEARCH('{${METRICS_NAMESPACE},service,errorType} service="${METRICS_SERVICE}" MetricName="StepErrors"', 'Sum', ${PERIOD.toSeconds()})`, label: '', period: PERIOD })]),
      graph(
        'Circuits',
        ['CircuitOpened', 'CircuitReopened', 'CircuitProbe', 'CircuitClosed', 'BreakerStoreUnavailable'].map((name) => count(name)),
      ),
      graph(
        'OAuth2 tokens',
        ['TokenRefreshes', 'TokenRefreshFailures', 'TokenScopeDrift'].map((name) => count(name)),
      ),
      graph('Callbacks, waits and records', [
        new MathExpression({ expression: `SEARCH('{${METRICS_NAMESPACE},service,reason} service="${METRICS_SERVICE}" MetricName="CallbacksRejected"', 'Sum', ${PERIOD.toSeconds()})`, label: 'rejected', period: PERIOD }),
        count('WaitsTimedOut'),
        count('RecordWriteFailures'),
      ]),
      graph(
        'Function errors',
        fns.map(([name, fn]) => fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: name })),
      ),
      graph(
        'Function duration p99 (ms)',
        fns.map(([name, fn]) => fn.metricDuration({ period: PERIOD, statistic: 'p99', label: name })),
      ),
      graph(
        'HTTP API 4xx / 5xx',
        [props.api.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }), props.api.metricServerError({ period: PERIOD, statistic: 'Sum', label: '5xx' })],
        [props.api.metricLatency({ period: PERIOD, statistic: 'p99', label: 'latency p99 (ms)' })],
      ),
    ];
    this.dashboard = new Dashboard(this, 'Dashboard', { widgets: [widgets] });
  }
}
