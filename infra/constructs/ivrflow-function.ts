/** A Lambda function of ivrflow: Node.js, ARM, bundled and minified by esbuild, logs kept 30 days. */
import { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface IvrflowFunctionProps extends Omit<NodejsFunctionProps, 'entry'> {
  /** Path of the handler module (functions/<name>/handler.ts). */
  entry: string;
  /**
   * Packages kept out of the bundle and copied into the asset's `node_modules` (the files their
   * entries load: infra/copy-lazy-module.mjs; list their dependencies too), for a dynamic
   * `import()` or `require()` that only a rare path runs. The AWS SDK stays
   * external as NodejsFunction's default.
   * @default none
   */
  lazyModules?: readonly string[];
}

/** The copy of a lazy module's files into the bundle's node_modules, as one shell command (infra/copy-lazy-module.mjs: what the package's entries load, not the whole folder). */
function copyPackage(inputDir: string, outputDir: string, name: string): string {
  return `node "${inputDir}/infra/copy-lazy-module.mjs" "${inputDir}" "${outputDir}" "${name}"`;
}

export class IvrflowFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, { lazyModules = [], ...props }: IvrflowFunctionProps) {
    const logGroup = props.logGroup ?? new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH });
    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      ...props,
      logGroup,
      bundling: {
        minify: true,
        sourceMap: true,
        format: OutputFormat.CJS,
        target: 'node22',
        // `import.meta.url` (a lazy module's createRequire) is the bundle's own file URL in CommonJS.
        define: { 'import.meta.url': 'importMetaUrl' },
        banner: '"use strict";const importMetaUrl=require("url").pathToFileURL(__filename).href;',
        ...(lazyModules.length
          ? {
              externalModules: ['@aws-sdk/*', ...lazyModules],
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (inputDir: string, outputDir: string) => lazyModules.map((name) => copyPackage(inputDir, outputDir, name)),
              },
            }
          : {}),
        ...props.bundling,
      },
    });
  }
}
