/**
 * Definitions deployed by `cdk deploy`: every flow, connection and workflow configuration of a
 * folder laid out like `examples/` (`flows/`, `connections/`, `workflow-configurations/`), carried
 * inline by one CloudFormation custom resource and deployed by the definitions-deployer function
 * through the Flow API's own services (functions/definitions-deployer). README, "Deploy to AWS".
 *
 * At synth, before anything reaches AWS: every flow file is checked by `ivrflow validate` (the
 * CLI itself, run once: parse and schema, references among the folder's flows, workflow
 * references through the folder's workflow configurations); an invalid one fails the synth with
 * the file and each diagnostic. Connections lose every credential field before they go into the
 * template (their credentials are set once through `PUT /connections/{name}` and kept by later
 * PUTs that leave them out). The resource's properties are the definitions as JSON and their
 * SHA-256, so any change to them is an Update, which deploys again (an unchanged flow keeps its
 * version). A Delete does nothing: definitions are data an operator owns, and removing the
 * resource or the stack keeps them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotations, CustomResource, Stack } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { DEFINITIONS_LAYOUT, definitionsProperties, readDefinitionsFolder, type DefinitionsBundle } from '#shared/definitions/bundle';
import type { Diagnostic } from '#shared/errors';
import { flowFilesIn } from '#shared/flow/files';

/**
 * The most definitions JSON the resource carries inline, bytes. CloudFormation invokes a custom
 * resource's provider asynchronously, and an Update's request holds the old and the new properties:
 * 100 KB each stays well inside Lambda's asynchronous payload limit (AWS Lambda Developer Guide,
 * "Lambda quotas") and CloudFormation's 1 MB template limit.
 */
export const MAX_INLINE_DEFINITIONS_BYTES = 100 * 1024;

export interface IvrflowDefinitionsProps {
  /** The definitions folder (`flows/`, `connections/`, `workflow-configurations/`; a missing one holds none), relative to the working directory of `cdk synth`. */
  dir: string;
  /** The definitions-deployer function (functions/definitions-deployer), the resource's onEvent handler. */
  deployer: IFunction;
  /**
   * Values of `${NAME}` placeholders in connection files (e.g. `{ CRM_URL: 'https://crm.example.com' }`), as
   * `ivrflow serve` fills in the examples. They are written into the template: never a credential
   * (credential fields are removed whatever they hold).
   * @default none: a placeholder is left empty (as `ivrflow serve` leaves one), and the synth warns about it
   */
  values?: Record<string, string>;
}

/** What `ivrflow validate --json` prints: a report per file given. */
interface ValidateReport {
  valid: boolean;
  files: Array<{ file: string; valid: boolean; errors: Diagnostic[] }>;
}

const CLI = fileURLToPath(new URL('../../cli/bin.mjs', import.meta.url));

/**
 * The problems `ivrflow validate --json <files>` finds, by file.
 * @throws Error when the command gives no report (it crashed), with its stderr
 */
function validateFlowFiles(files: string[]): Array<{ file: string; errors: Diagnostic[] }> {
  if (files.length === 0) return [];
  const run = spawnSync(process.execPath, [CLI, 'validate', '--json', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  let report: ValidateReport;
  try {
    report = JSON.parse(run.stdout) as ValidateReport;
  } catch {
    throw new Error(`IvrflowDefinitions: \`ivrflow validate\` gave no report (exit ${run.status ?? run.signal ?? run.error?.message}): ${(run.stderr || '').trim().slice(0, 2000)}`);
  }
  return report.files.filter((f) => !f.valid).map(({ file, errors }) => ({ file, errors }));
}

/** Every flow, connection and workflow configuration of a folder, deployed by a custom resource on `cdk deploy`. */
export class IvrflowDefinitions extends Construct {
  /** The definitions the resource carries (connections without credentials). */
  readonly bundle: DefinitionsBundle;
  /** SHA-256 (hex) of the definitions JSON the resource carries (its `ContentHash` property). */
  readonly contentHash: string;
  readonly resource: CustomResource;
  readonly provider: Provider;

  /**
   * @throws Error when the folder does not exist, a flow is invalid (each file with its
   *   diagnostics: code, path, message), a file is not a JSON object, or the definitions exceed
   *   {@link MAX_INLINE_DEFINITIONS_BYTES}
   */
  constructor(scope: Construct, id: string, props: IvrflowDefinitionsProps) {
    super(scope, id);
    const dir = resolve(props.dir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`IvrflowDefinitions: definitions folder ${props.dir} does not exist`);

    const flowsDir = resolve(dir, DEFINITIONS_LAYOUT.flows);
    const invalid = validateFlowFiles(existsSync(flowsDir) ? flowFilesIn(flowsDir) : []);
    if (invalid.length > 0) {
      const lines = invalid.flatMap(({ file, errors }) => errors.map((d) => `  ${DEFINITIONS_LAYOUT.flows}/${basename(file)}: ${d.code} ${d.path || '(root)'}: ${d.message}`));
      throw new Error(`IvrflowDefinitions: ${invalid.length} invalid flow file(s) in ${props.dir} (ivrflow validate); the synth stops before anything reaches AWS:\n${lines.join('\n')}`);
    }

    const { bundle, placeholders } = readDefinitionsFolder(dir, props.values ? { values: props.values } : {});
    for (const { file, names } of placeholders) {
      Annotations.of(this).addWarningV2(
        'ivrflow:definitions-placeholder',
        `${file}: ${names.map((n) => `\${${n}}`).join(', ')} ha${names.length === 1 ? 's' : 've'} no value (IvrflowDefinitions values); they are left empty, so the Flow API will refuse the connection unless it is valid without them`,
      );
    }
    const properties = definitionsProperties(bundle);
    const bytes = Buffer.byteLength(properties.Definitions, 'utf8');
    if (bytes > MAX_INLINE_DEFINITIONS_BYTES) {
      throw new Error(
        `IvrflowDefinitions: the definitions in ${props.dir} are ${Math.ceil(bytes / 1024)} KB of JSON, more than the ${MAX_INLINE_DEFINITIONS_BYTES / 1024} KB a custom resource carries safely; ` +
          'deploy them with `ivrflow deploy <flow files> --api <url>` (and connections and workflow configurations through the Flow API) instead of ivrflow:definitionsDir',
      );
    }
    this.bundle = bundle;
    this.contentHash = properties.ContentHash;

    this.provider = new Provider(this, 'Provider', { onEventHandler: props.deployer, logGroup: new LogGroup(this, 'ProviderLogs', { retention: RetentionDays.ONE_MONTH }) });
    // cdk-nag names a function's ARN by its logical id (`<Id.Arn>`), an imported one by its text.
    const arn = Stack.of(this).resolve(props.deployer.functionArn) as string | { 'Fn::GetAtt'?: [string, string] };
    const deployerArn = typeof arn === 'string' ? arn : `<${arn['Fn::GetAtt']?.[0] ?? ''}.Arn>`;
    NagSuppressions.addResourceSuppressions(
      this.provider,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason: "The CDK Provider framework's onEvent function has AWSLambdaBasicExecutionRole: it only writes that function's own CloudWatch logs.",
          appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
        },
        { id: 'AwsSolutions-IAM5', reason: 'The CDK Provider framework may invoke the definitions-deployer function in any of its versions (<arn>:*), and nothing else.', appliesTo: [`Resource::${deployerArn}:*`] },
      ],
      true,
    );
    this.resource = new CustomResource(this, 'Resource', { serviceToken: this.provider.serviceToken, resourceType: 'Custom::IvrflowDefinitions', properties: { ...properties } });
  }
}
