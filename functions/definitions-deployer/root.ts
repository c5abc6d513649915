/** The composition root of the definitions-deployer: the Flow API's definitions services (functions/roots/definitions.ts), so definitions deployed by `cdk deploy` go through the same checks as `PUT /flows/{flowId}`. */
import type { ServiceConfig } from '#shared/config/runtime';
import type { DefinitionsServices } from '#shared/definitions/deploy';
import { resolved, type Adapters } from '../roots/adapters';
import { definitionsOf } from '../roots/definitions';

/** What the definitions-deployer handler uses: the flow, connection and workflow configuration services. */
export type DefinitionsDeployerRoot = DefinitionsServices;

/**
 * Builds the definitions-deployer root: flow-api's definitions services with the latest-version
 * cache off, so that "unchanged" is judged against what is stored now (a flow may have been
 * deployed through the API a moment ago, by another function instance).
 */
export function definitionsDeployerRoot(config: ServiceConfig, adapters: Adapters): DefinitionsDeployerRoot {
  const uncached = { ...config, flowCacheTtlMs: 0 };
  const a = resolved(uncached, adapters);
  const { flowService, connectionService, workflowConfigurationService } = definitionsOf(uncached, a, a.randomness.id());
  return { flowService, connectionService, workflowConfigurationService };
}
