/** The CDK app: the ivrflow stack, checked by cdk-nag's AwsSolutions pack. */
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IvrflowStack } from './ivrflow-stack';

const app = new App();
new IvrflowStack(app, 'Ivrflow', { description: 'ivrflow: declarative IVR integration flows' });
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();
