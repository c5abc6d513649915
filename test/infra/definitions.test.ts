/** IvrflowDefinitions: the definitions of a folder in a custom resource (no credential in the template), flows validated at synth, the deployer only when asked, cdk-nag clean. */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { SynthesisMessage } from 'aws-cdk-lib/cx-api';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackPropsFromContext } from '../../infra/context';
import { IvrflowDefinitions } from '../../infra/constructs/definitions';
import { IvrflowStack, type IvrflowStackProps } from '../../infra/ivrflow-stack';

type Json = Record<string, unknown>;
interface Bundle {
  connections: Array<{ file: string; name: string; body: Json }>;
  flows: Array<{ file: string; flowId: string; body: Json }>;
  workflowConfigurations: Array<{ file: string; configurationId: string; body: Json }>;
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Json;
const jsonFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.test.json'))
    .sort();
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** The stack with these props (or context), checked by cdk-nag. Bundling is skipped: `npm run synth` bundles for real. */
function synth(props: IvrflowStackProps, context: Record<string, unknown> = {}): { stack: IvrflowStack; template: Template; text: string } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = new IvrflowStack(app, 'Test', { ...stackPropsFromContext(app.node), ...props });
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  const template = Template.fromStack(stack);
  return { stack, template, text: JSON.stringify(template.toJSON()) };
}

/** The definitions resource's properties in a template (there must be exactly one). */
function definitionsOf(template: Template): { Definitions: string; ContentHash: string; bundle: Bundle } {
  const resources = Object.values(template.findResources('Custom::IvrflowDefinitions')) as Array<{ Properties: { Definitions: string; ContentHash: string } }>;
  expect(resources).toHaveLength(1);
  const { Definitions, ContentHash } = resources[0]!.Properties;
  return { Definitions, ContentHash, bundle: JSON.parse(Definitions) as Bundle };
}

/** IvrflowDefinitions alone, in a bare stack over an imported deployer (no validation of the stack around it). */
function definitionsConstruct(dir: string, values?: Record<string, string>): { construct: IvrflowDefinitions; template: Template } {
  const stack = new Stack(new App(), 'Bare');
  const deployer = LambdaFunction.fromFunctionAttributes(stack, 'Deployer', { functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:deployer', sameEnvironment: true });
  const construct = new IvrflowDefinitions(stack, 'Definitions', { dir, deployer, ...(values ? { values } : {}) });
  return { construct, template: Template.fromStack(stack) };
}

const tmp = mkdtempSync(join(tmpdir(), 'ivrflow-definitions-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of examples/ to change. */
function examplesCopy(name: string): string {
  const dir = join(tmp, name);
  for (const sub of ['flows', 'connections', 'workflow-configurations']) cpSync(join('examples', sub), join(dir, sub), { recursive: true });
  return dir;
}

/** A folder with these flows (by file name) and nothing else. */
function flowsFolder(name: string, flows: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'flows'), { recursive: true });
  for (const [file, flow] of Object.entries(flows)) writeFileSync(join(dir, 'flows', file), JSON.stringify(flow, null, 2));
  return dir;
}

const end = { id: 'done', type: 'End', configuration: { outcome: 'Done' } };

let withProp: ReturnType<typeof synth>;
let withContext: ReturnType<typeof synth>;
let without: ReturnType<typeof synth>;

beforeAll(() => {
  withProp = synth({ definitionsDir: 'examples' });
  withContext = synth({}, { 'ivrflow:definitionsDir': 'examples' });
  without = synth({});
});

describe('IvrflowDefinitions in the stack (definitionsDir: examples)', () => {
  it('carries every example flow, connection and workflow configuration, and the SHA-256 of what it carries', () => {
    for (const { template } of [withProp, withContext]) {
      const { Definitions, ContentHash, bundle } = definitionsOf(template);
      expect(ContentHash).toBe(sha256(Definitions));
      expect(ContentHash).toMatch(/^[0-9a-f]{64}$/);

      const flowFiles = jsonFiles('examples/flows');
      expect(bundle.flows.map((f) => f.file)).toEqual(flowFiles.map((f) => `flows/${f}`));
      for (const [i, f] of flowFiles.entries()) {
        const body = readJson(join('examples/flows', f));
        expect(bundle.flows[i]).toEqual({ file: `flows/${f}`, flowId: body['id'], body });
      }
      expect(bundle.flows.map((f) => f.flowId)).toEqual(expect.arrayContaining(['customer-lookup-ivr', 'crm-integration', 'crm-search-contact', 'agent-screen-pop-ivr']));

      expect(bundle.workflowConfigurations).toEqual([{ file: 'workflow-configurations/crm-agent.json', configurationId: 'crm-agent', body: readJson('examples/workflow-configurations/crm-agent.json') }]);

      // The connection, named by its file, without its credentials; placeholders without a value left empty as `ivrflow serve` leaves them.
      const crm = readJson('examples/connections/crm.json');
      const auth = crm['authentication'] as Json;
      expect(bundle.connections).toHaveLength(1);
      const [connection] = bundle.connections;
      expect(connection!.file).toBe('connections/crm.json');
      expect(connection!.name).toBe('crm');
      expect(connection!.body).toEqual({
        baseUrl: '',
        timeoutMs: crm['timeoutMs'],
        authentication: { type: 'oauth2', tokenEndpoint: '/token', clientId: auth['clientId'], scopes: auth['scopes'], clientAuthentication: auth['clientAuthentication'] },
        requests: crm['requests'],
      });
    }
  });

  it('puts no credential of examples/connections anywhere in the template', () => {
    const secrets: string[] = [];
    for (const f of jsonFiles('examples/connections')) {
      const body = readJson(join('examples/connections', f));
      const auth = body['authentication'] as Json;
      for (const value of [auth['clientSecret'], auth['apiKey'], auth['password'], body['webhookSigningSecret']]) if (typeof value === 'string') secrets.push(value, value.replace(/^\$\{(.*)\}$/, '$1'));
    }
    expect(secrets).toEqual(['${CLIENT_SECRET}', 'CLIENT_SECRET', '${WEBHOOK_SECRET}', 'WEBHOOK_SECRET']);
    for (const { text } of [withProp, withContext]) for (const secret of secrets) expect(text, secret).not.toContain(secret);
  });

  it('creates the deployer function (and its Provider) only with definitionsDir, with the Flow API’s grants', () => {
    const deployers = (t: Template) => Object.keys(t.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ivrflow-definitions-deployer' }) } } }));
    expect(deployers(without.template)).toEqual([]);
    without.template.resourceCountIs('Custom::IvrflowDefinitions', 0);
    expect(without.stack.byKey.definitionsDeployer).toBeUndefined();
    expect(without.stack.definitions).toBeUndefined();

    for (const { template, stack } of [withProp, withContext]) {
      expect(deployers(template)).toEqual([expect.stringMatching(/^DefinitionsDeployer[0-9A-F]{8}$/)]);
      template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 300, Environment: { Variables: Match.objectLike({ IVRFLOW_DEFINITIONS_TABLE: Match.anyValue(), IVRFLOW_STATE_TABLE: Match.anyValue() }) } });
      // The Provider framework's onEvent function is the service token, and it may invoke the deployer.
      const { ServiceToken } = (Object.values(template.findResources('Custom::IvrflowDefinitions'))[0] as { Properties: { ServiceToken: { 'Fn::GetAtt': string[] } } }).Properties;
      expect(ServiceToken['Fn::GetAtt'][0]).toMatch(/^DefinitionsProviderframeworkonEvent/);
      // Its own Errors and Throttles alarms, as every function has.
      expect(Object.keys(stack.alarms.alarms)).toEqual(expect.arrayContaining(['DefinitionsDeployerErrors', 'DefinitionsDeployerThrottles']));
    }
    const policy = Object.entries(withProp.template.findResources('AWS::IAM::Policy')).find(([id]) => id.startsWith('DefinitionsDeployer'))![1] as {
      Properties: { PolicyDocument: { Statement: Array<{ Action: string[] | string; Resource: unknown }> } };
    };
    const actions = (re: RegExp) => policy.Properties.PolicyDocument.Statement.filter((s) => re.test(JSON.stringify(s.Resource))).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions(/TablesDefinitions/)).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Query']));
    expect(actions(/secret:ivrflow\/connections\//).sort()).toEqual(['secretsmanager:CreateSecret', 'secretsmanager:DeleteSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(actions(/secret:ivrflow\/flows\//)).toEqual([]);
  });

  it('has no unsuppressed cdk-nag AwsSolutions error or warning', () => {
    for (const { stack } of [withProp, withContext, without]) {
      const annotations = Annotations.fromStack(stack);
      const show = ({ id, entry: { data } }: SynthesisMessage) => `${id}: ${(typeof data === 'string' ? data : String(JSON.stringify(data))).slice(0, 160)}`;
      expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(show)).toEqual([]);
      expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')).map(show)).toEqual([]);
    }
  });

  it('warns at synth about connection placeholders that have no value (outside credential fields)', () => {
    const warnings = Annotations.fromStack(withProp.stack).findWarning('*', Match.stringLikeRegexp('ivrflow:definitions-placeholder'));
    expect(warnings.map((w) => w.entry.data as string)).toEqual([expect.stringMatching(/^connections\/crm\.json: \$\{CRM_URL\}, \$\{OAUTH_URL\} have no value/)]);
  });
});

describe('IvrflowDefinitions at synth', () => {
  it('fills placeholders from `values`; credentials are removed whatever they hold, for every authentication type', () => {
    const dir = join(tmp, 'credentials');
    mkdirSync(join(dir, 'connections'), { recursive: true });
    const secrets = { oauth: 'cs-Lq82hZ-oauth-secret', apiKey: 'ak-Pw91xY-api-key', password: 'pw-Rt55kM-basic', webhook: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
    const connections = {
      'oauth.json': { baseUrl: '${CRM_URL}', authentication: { type: 'oauth2', tokenEndpoint: 'https://login.example.com/token', clientId: 'client-1', clientSecret: secrets.oauth }, webhookSigningSecret: secrets.webhook },
      'keyed.json': { baseUrl: 'https://api.example.com', authentication: { type: 'apiKey', headerName: 'X-Key', apiKey: secrets.apiKey } },
      'basic.json': { baseUrl: 'https://basic.example.com', authentication: { type: 'basic', username: 'ivr', password: '${BASIC_PASSWORD}' } },
    };
    for (const [file, body] of Object.entries(connections)) writeFileSync(join(dir, 'connections', file), JSON.stringify(body));
    const { construct, template } = definitionsConstruct(dir, { CRM_URL: 'https://crm.example.com', BASIC_PASSWORD: secrets.password });
    const { bundle } = definitionsOf(template);
    expect(bundle.connections.map((c) => [c.name, c.body])).toEqual([
      ['basic', { baseUrl: 'https://basic.example.com', authentication: { type: 'basic', username: 'ivr' } }],
      ['keyed', { baseUrl: 'https://api.example.com', authentication: { type: 'apiKey', headerName: 'X-Key' } }],
      ['oauth', { baseUrl: 'https://crm.example.com', authentication: { type: 'oauth2', tokenEndpoint: 'https://login.example.com/token', clientId: 'client-1' } }],
    ]);
    const text = JSON.stringify(template.toJSON());
    for (const secret of Object.values(secrets)) expect(text, secret).not.toContain(secret);
    expect(Annotations.fromStack(Stack.of(construct)).findWarning('*', Match.stringLikeRegexp('ivrflow:definitions-placeholder'))).toEqual([]);
  });

  it('any change to a definition changes the hash (an Update); a flow test file or a credential does not', () => {
    const hashOf = (dir: string) => definitionsConstruct(dir).construct.contentHash;
    const base = hashOf(examplesCopy('base'));
    expect(hashOf(examplesCopy('same'))).toBe(base);

    const changedFlow = examplesCopy('changed-flow');
    const file = join(changedFlow, 'flows', 'balance-hold-ivr.json');
    writeFileSync(file, JSON.stringify({ ...readJson(file), name: 'Balance, hold music' }));
    expect(hashOf(changedFlow)).not.toBe(base);

    const changedConfiguration = examplesCopy('changed-configuration');
    writeFileSync(join(changedConfiguration, 'workflow-configurations', 'crm-agent.json'), JSON.stringify({ ...readJson('examples/workflow-configurations/crm-agent.json'), enabled: false }));
    expect(hashOf(changedConfiguration)).not.toBe(base);

    const changedTest = examplesCopy('changed-test');
    writeFileSync(join(changedTest, 'flows', 'balance-hold-ivr.test.json'), '{"flow": "balance-hold-ivr.json", "cases": []}');
    const changedSecret = examplesCopy('changed-secret');
    const crm = readFileSync('examples/connections/crm.json', 'utf8').replace('${CLIENT_SECRET}', 'another-client-secret');
    writeFileSync(join(changedSecret, 'connections', 'crm.json'), crm);
    expect([hashOf(changedTest), hashOf(changedSecret)]).toEqual([base, base]);
  });

  it('an invalid flow fails the synth, naming the file and each diagnostic (code, path, message)', () => {
    const dir = flowsFolder('invalid', {
      'a-good.json': { id: 'a-good', name: 'Good', flowType: 'IVR', steps: [end] },
      'broken.json': {
        id: 'broken',
        name: 'Broken',
        flowType: 'IVR',
        steps: [{ id: 'x', type: 'Teleport', configuration: {} }, { id: 'call', type: 'SubFlow', configuration: { flowId: 'a-good' }, branches: { OnSuccess: 'nowhere', OnError: 'done' } }, end],
      },
      'orphan-call.json': { id: 'orphan-call', name: 'Orphan', flowType: 'IVR', steps: [{ id: 'call', type: 'SubFlow', configuration: { flowId: 'not-in-the-folder' }, branches: { OnSuccess: 'done', OnError: 'done' } }, end] },
    });
    let message = '';
    try {
      definitionsConstruct(dir);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^IvrflowDefinitions: 2 invalid flow file\(s\) in .*invalid/);
    expect(message).toMatch(/\n {2}flows\/broken\.json: UNKNOWN_STEP_TYPE steps\[0\]\.type: unknown step type 'Teleport'/);
    expect(message).toMatch(/\n {2}flows\/broken\.json: MISSING_STEP steps\[1\]\.branches\.OnSuccess: no step has id 'nowhere'/);
    expect(message).toMatch(/\n {2}flows\/orphan-call\.json: MISSING_FLOW steps\[0\]\.configuration\.flowId: .*not-in-the-folder/);
    expect(message).not.toContain('a-good.json');

    // Through the stack, as `cdk synth -c ivrflow:definitionsDir=<dir>` runs it.
    expect(() => synth({}, { 'ivrflow:definitionsDir': dir })).toThrow(/flows\/broken\.json: UNKNOWN_STEP_TYPE/);
  });

  it('refuses definitions too large to carry inline, pointing at ivrflow deploy; and a folder that does not exist', () => {
    const big = readJson('examples/flows/crm-integration.json');
    const flows = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`big-${i}.json`, { ...big, id: `big-${i}` }]));
    expect(() => definitionsConstruct(flowsFolder('big', flows))).toThrow(/the definitions in .*big are 1\d\d KB of JSON, more than the 100 KB a custom resource carries safely; deploy them with `ivrflow deploy/);
    expect(() => definitionsConstruct(join(tmp, 'nowhere'))).toThrow(/definitions folder .*nowhere does not exist/);
  });
});
