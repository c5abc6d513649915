/** The CDK app: the ivrflow stack, configured from context (infra/context.ts), checked by cdk-nag's AwsSolutions pack. */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { stackPropsFromContext } from './context';
import { IvrflowStack } from './ivrflow-stack';

const app = new App();
new IvrflowStack(app, 'Ivrflow', { description: 'ivrflow: declarative IVR integration flows', ...stackPropsFromContext(app.node) });
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();
