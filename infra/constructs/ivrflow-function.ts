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
   * Packages kept out of the bundle and copied whole into the asset's `node_modules` (list their
   * dependencies too), for a dynamic `import()` that only a rare path runs. The AWS SDK stays
   * external as NodejsFunction's default.
   * @default none
   */
  lazyModules?: readonly string[];
}

/** The copy of a package folder into the bundle's node_modules, as one shell command (Node, so it runs wherever the bundling does). */
function copyPackage(inputDir: string, outputDir: string, name: string): string {
  const script = "const fs=require('fs');const [from,to]=process.argv.slice(1);fs.cpSync(from,to,{recursive:true,dereference:true});";
  return `node -e "${script}" "${inputDir}/node_modules/${name}" "${outputDir}/node_modules/${name}"`;
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
