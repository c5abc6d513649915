/**
 * definitions-deployer Lambda: the onEvent handler of the `Custom::IvrflowDefinitions` resource
 * (infra/constructs/definitions.ts), behind the CDK Provider framework ("AWS CDK API Reference:
 * custom-resources, Provider"). Create and Update deploy the definitions the resource's properties
 * carry (shared/definitions/deploy.ts: connections, flows with sub-flows first and unchanged ones
 * skipped, workflow configurations); Delete does nothing, because definitions are data an operator
 * owns: removing the resource or the stack keeps them (delete them through the Flow API). A refused
 * definition fails the resource with the file and the service's diagnostics as its reason.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { bundleFromProperties } from '#shared/definitions/bundle';
import { deployDefinitions } from '#shared/definitions/deploy';
import { logger, metrics } from '#shared/observability';
import { fromEnvironment } from '../roots/adapters';
import { definitionsDeployerRoot, type DefinitionsDeployerRoot } from './root';

/** The physical id of the definitions resource: one per stack, and kept by every Update (a new one would make CloudFormation delete the old). */
export const DEFINITIONS_PHYSICAL_ID = 'ivrflow-definitions';

/** What a Provider framework onEvent handler answers: the physical id, and attributes (`Fn::GetAtt`) small enough for CloudFormation's 4 KB response. */
export interface DefinitionsResponse {
  PhysicalResourceId: string;
  Data: { ContentHash?: string; Connections?: number; Flows?: number; FlowsDeployed?: number; WorkflowConfigurations?: number };
}

/** The handler over given services (the local stack and tests inject theirs). */
export function createDefinitionsDeployerHandler(services: () => DefinitionsDeployerRoot) {
  return middy(async (event: CloudFormationCustomResourceEvent): Promise<DefinitionsResponse> => {
    if (event.RequestType === 'Delete') {
      logger.info('definitions resource deleted: the definitions are kept', { physicalResourceId: event.PhysicalResourceId });
      return { PhysicalResourceId: event.PhysicalResourceId, Data: {} };
    }
    const bundle = bundleFromProperties(event.ResourceProperties);
    // The audit trail names the stack whose deployment made the changes.
    const summary = await deployDefinitions(services(), bundle, { actor: `cloudformation:${event.StackId}` });
    const deployed = summary.flows.filter((f) => f.deployed);
    logger.info('definitions deployed', { requestType: event.RequestType, ...summary });
    return {
      PhysicalResourceId: event.RequestType === 'Create' ? DEFINITIONS_PHYSICAL_ID : event.PhysicalResourceId,
      Data: {
        ContentHash: String(event.ResourceProperties['ContentHash']),
        Connections: summary.connections.length,
        Flows: summary.flows.length,
        FlowsDeployed: deployed.length,
        WorkflowConfigurations: summary.workflowConfigurations.length,
      },
    };
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** The Lambda handler: deploys over the Flow API's services built from the environment on first invocation. */
export const handler = createDefinitionsDeployerHandler(fromEnvironment(definitionsDeployerRoot));
