/** The composition root of the definitions-deployer: the Flow API's own services (functions/flow-api/root.ts), so definitions deployed by `cdk deploy` go through the same checks as `PUT /flows/{flowId}`. */
import type { ServiceConfig } from '#shared/config/runtime';
import type { DefinitionsServices } from '#shared/definitions/deploy';
import { flowApiRoot } from '../flow-api/root';
import type { Adapters } from '../roots/adapters';

/** What the definitions-deployer handler uses: the flow, connection and workflow configuration services of the flow-api root. */
export type DefinitionsDeployerRoot = DefinitionsServices;

/**
 * Builds the definitions-deployer root: the flow-api root, its latest-version cache off, so that
 * "unchanged" is judged against what is stored now (a flow may have been deployed through the API
 * a moment ago, by another function instance).
 */
export function definitionsDeployerRoot(config: ServiceConfig, adapters: Adapters): DefinitionsDeployerRoot {
  const { flowService, connectionService, workflowConfigurationService } = flowApiRoot({ ...config, flowCacheTtlMs: 0 }, adapters);
  return { flowService, connectionService, workflowConfigurationService };
}
