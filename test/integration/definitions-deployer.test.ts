/**
 * The definitions-deployer function through the local stack (DynamoDB Local, the local Secrets
 * Manager, functions/local.ts), with the custom resource events CloudFormation sends through the
 * Provider framework, their properties synthesized by IvrflowDefinitions from a folder: Create
 * stores connections (credentials kept), flows (sub-flows first) and workflow configurations; an
 * identical Update stores no new version; a changed flow becomes version 2; Delete changes nothing.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exampleConnections } from '../../cli/serve';
import { FUNCTIONS } from '../../functions/manifest';
import { IvrflowDefinitions } from '../../infra/constructs/definitions';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { startTestStack, type TestStack } from '../support/local';

const CLIENT_SECRET = 'cs-Vx31qL-deployer-test';
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const URLS = { CRM_URL: 'http://127.0.0.1:4010', OAUTH_URL: 'http://127.0.0.1:4011' };

type Properties = { Definitions: string; ContentHash: string };

/** The resource properties IvrflowDefinitions synthesizes for a folder (URL placeholders filled in, as a deployment would). */
function propertiesOf(dir: string): Properties {
  const stack = new Stack(new App(), 'Bare');
  const deployer = LambdaFunction.fromFunctionAttributes(stack, 'Deployer', { functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:deployer', sameEnvironment: true });
  new IvrflowDefinitions(stack, 'Definitions', { dir, deployer, values: URLS });
  const [resource] = Object.values(Template.fromStack(stack).findResources('Custom::IvrflowDefinitions')) as Array<{ Properties: Properties }>;
  return { Definitions: resource!.Properties.Definitions, ContentHash: resource!.Properties.ContentHash };
}

const common = {
  ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
  ResponseURL: 'https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x',
  StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Ivrflow/0b1e2c3d',
  LogicalResourceId: 'DefinitionsE678EDEB',
  ResourceType: 'Custom::IvrflowDefinitions',
};
let requests = 0;
const resourceProperties = (p: Properties) => ({ ServiceToken: common.ServiceToken, ...p });
const create = (p: Properties): CloudFormationCustomResourceEvent => ({ ...common, RequestId: `r-${++requests}`, RequestType: 'Create', ResourceProperties: resourceProperties(p) });
const update = (p: Properties, old: Properties): CloudFormationCustomResourceEvent => ({
  ...common,
  RequestId: `r-${++requests}`,
  RequestType: 'Update',
  PhysicalResourceId: 'ivrflow-definitions',
  ResourceProperties: resourceProperties(p),
  OldResourceProperties: resourceProperties(old),
});
const remove = (p: Properties): CloudFormationCustomResourceEvent => ({ ...common, RequestId: `r-${++requests}`, RequestType: 'Delete', PhysicalResourceId: 'ivrflow-definitions', ResourceProperties: resourceProperties(p) });

const tmp = mkdtempSync(join(tmpdir(), 'ivrflow-deployer-'));
let stack: TestStack;
/** Every flow version stored (through the real store), in order. */
const putFlowVersion = vi.spyOn(DynamoFlowStore.prototype, 'putFlowVersion');
const stored = () => putFlowVersion.mock.calls.map(([flow]) => `${flow.id}@${flow.version}`);

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  putFlowVersion.mockRestore();
  await stack?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const deploy = (event: CloudFormationCustomResourceEvent) => stack.invoke(FUNCTIONS.definitionsDeployer.id, event);
const services = () => stack.roots.flowApi;
async function versions(): Promise<Record<string, number>> {
  const page = await services().flowService.list(100);
  return Object.fromEntries(page.items.map((f) => [f.id, f.latestVersion]));
}

describe('definitions-deployer over the examples', () => {
  const examples = propertiesOf('examples');
  const flowIds = (JSON.parse(examples.Definitions) as { flows: Array<{ flowId: string }> }).flows.map((f) => f.flowId);

  it('Create fails, naming the file and the diagnostic, while the oauth2 connection has no client secret stored yet; nothing is stored', async () => {
    await expect(deploy(create(examples))).rejects.toThrow(/1 connection\(s\) not deployed: connections\/crm\.json: INVALID_CONNECTION \(MISSING_FIELD authentication\.clientSecret: required for oauth2/);
    expect(await versions()).toEqual({});
    expect(stored()).toEqual([]);
  });

  it('Create (the credentials set once through the API) stores connections with their credentials kept, flows with sub-flows first, workflow configurations', async () => {
    const [crm] = exampleConnections({ ...URLS, CLIENT_SECRET, WEBHOOK_SECRET });
    await services().connectionService.put(crm!.name, crm!.body);

    const answer = await deploy(create(examples));
    expect(answer).toEqual({
      PhysicalResourceId: 'ivrflow-definitions',
      Data: { ContentHash: examples.ContentHash, Connections: 1, Flows: flowIds.length, FlowsDeployed: flowIds.length, WorkflowConfigurations: 1 },
    });
    expect(await versions()).toEqual(Object.fromEntries(flowIds.map((id) => [id, 1])));
    expect(stored().sort()).toEqual(flowIds.map((id) => `${id}@1`).sort());
    expect(stored().indexOf('crm-integration@1')).toBeLessThan(stored().indexOf('customer-lookup-ivr@1'));

    const connection = await services().connectionService.get('crm');
    expect(connection.baseUrl).toBe(URLS.CRM_URL);
    expect(connection.secretsSet).toEqual(['authentication.clientSecret', 'webhookSigningSecret']);
    expect(await services().workflowConfigurationService.get('crm-agent')).toMatchObject({ configurationId: 'crm-agent', connection: 'crm', workflows: { 'search-contact': { flowId: 'crm-search-contact' } } });
    expect(await services().flowService.get('customer-lookup-ivr')).toMatchObject({ id: 'customer-lookup-ivr', version: 1 });
  });

  it('an identical Update stores no new version', async () => {
    putFlowVersion.mockClear();
    const answer = await deploy(update(examples, examples));
    expect(answer).toMatchObject({ PhysicalResourceId: 'ivrflow-definitions', Data: { Flows: flowIds.length, FlowsDeployed: 0 } });
    expect(stored()).toEqual([]);
    expect(await versions()).toEqual(Object.fromEntries(flowIds.map((id) => [id, 1])));
  });

  it('an Update with one flow changed stores that flow as version 2, and nothing else', async () => {
    const dir = join(tmp, 'changed');
    for (const sub of ['flows', 'connections', 'workflow-configurations']) cpSync(join('examples', sub), join(dir, sub), { recursive: true });
    const file = join(dir, 'flows', 'balance-hold-ivr.json');
    writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), name: 'Balance, with hold music' }));
    const changed = propertiesOf(dir);
    expect(changed.ContentHash).not.toBe(examples.ContentHash);

    putFlowVersion.mockClear();
    const answer = await deploy(update(changed, examples));
    expect(answer).toEqual({ PhysicalResourceId: 'ivrflow-definitions', Data: { ContentHash: changed.ContentHash, Connections: 1, Flows: flowIds.length, FlowsDeployed: 1, WorkflowConfigurations: 1 } });
    expect(stored()).toEqual(['balance-hold-ivr@2']);
    expect(await services().flowService.get('balance-hold-ivr')).toMatchObject({ version: 2, name: 'Balance, with hold music' });
    expect((await services().connectionService.get('crm')).secretsSet).toEqual(['authentication.clientSecret', 'webhookSigningSecret']);
  });

  it('Delete changes nothing and answers with the same physical id', async () => {
    const before = await versions();
    putFlowVersion.mockClear();
    expect(await deploy(remove(examples))).toEqual({ PhysicalResourceId: 'ivrflow-definitions', Data: {} });
    expect(stored()).toEqual([]);
    expect(await versions()).toEqual(before);
    expect((await services().connectionService.get('crm')).name).toBe('crm');
  });

  it('refuses properties whose hash does not match their definitions', async () => {
    await expect(deploy(update({ ...examples, ContentHash: '0'.repeat(64) }, examples))).rejects.toThrow(/ContentHash is not the SHA-256 of Definitions/);
  });
});

describe('definitions-deployer ordering', () => {
  it('deploys a sub-flow before a caller that sorts before it', async () => {
    const dir = join(tmp, 'order');
    mkdirSync(join(dir, 'flows'), { recursive: true });
    const end = { id: 'done', type: 'End', configuration: { outcome: 'Done' } };
    writeFileSync(
      join(dir, 'flows', 'a-caller.json'),
      JSON.stringify({ id: 'order-a-caller', name: 'Caller', flowType: 'IVR', steps: [{ id: 'call', type: 'SubFlow', configuration: { flowId: 'order-z-sub' }, branches: { OnSuccess: 'done', OnError: 'done' } }, end] }),
    );
    writeFileSync(join(dir, 'flows', 'z-sub.json'), JSON.stringify({ id: 'order-z-sub', name: 'Sub', flowType: 'IVR', steps: [end] }));
    putFlowVersion.mockClear();
    expect(await deploy(create(propertiesOf(dir)))).toMatchObject({ Data: { Flows: 2, FlowsDeployed: 2, Connections: 0, WorkflowConfigurations: 0 } });
    expect(stored()).toEqual(['order-z-sub@1', 'order-a-caller@1']);
  });
});
