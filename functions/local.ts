/**
 * Every function of the manifest with its real handler over its own composition root, for the
 * local stack (`ivrflow serve`, the integration tests): each function gets the root it gets in
 * Lambda, built from the local adapters (DynamoDB Local, the local Secrets Manager) instead of the
 * environment. The CLI and the tests hand this to `startLocalStack`; the engine never imports it.
 */
import type { ServiceConfig } from '#shared/config/runtime';
import { SecretNames } from '#shared/connections/secret-names';
import type { LocalFunctionSet, LocalHandler } from '#shared/local/stack';
import { createAgentEventsHandler } from './agent-events/handler';
import { agentEventsRoot } from './agent-events/root';
import { createBasicAuthorizerHandler } from './basic-authorizer/handler';
import { createConnectInvokeHandler } from './connect-invoke/handler';
import { createDefinitionsDeployerHandler } from './definitions-deployer/handler';
import { definitionsDeployerRoot } from './definitions-deployer/root';
import { createFlowApiHandler } from './flow-api/handler';
import { flowApiRoot, type FlowApiRoot } from './flow-api/root';
import { createFlowExecutorHandler } from './flow-executor/handler';
import { FUNCTIONS, type FunctionKey } from './manifest';
import { lazy, type Adapters } from './roots/adapters';
import { executionRoot } from './roots/execution';
import { secretStoreOf } from './roots/parts';
import { createTokenRefresherHandler } from './token-refresher/handler';
import { tokenRefresherRoot } from './token-refresher/root';
import { createWaitSweeperHandler } from './wait-sweeper/handler';
import { createWebhookCallbackHandler } from './webhook-callback/handler';

/** What the local stack's callers use directly: the flow-api's services (to deploy the examples, to look at token records). */
export interface LocalRoots {
  flowApi: FlowApiRoot;
}

/** The local function set: every manifest entry, each handler over a root of its own (as in Lambda). */
export const localFunctions: LocalFunctionSet<LocalRoots> = {
  specs: Object.values(FUNCTIONS),
  build(config: ServiceConfig, adapters: Adapters) {
    const flowApi = lazy(() => flowApiRoot(config, adapters));
    const execution = () => lazy(() => executionRoot(config, adapters));
    const handlers: Record<FunctionKey, LocalHandler> = {
      flowApi: createFlowApiHandler(flowApi) as LocalHandler,
      flowExecutor: createFlowExecutorHandler(execution()) as LocalHandler,
      webhookCallback: createWebhookCallbackHandler(execution()) as LocalHandler,
      agentEvents: createAgentEventsHandler(lazy(() => agentEventsRoot(config, adapters))) as LocalHandler,
      connectInvoke: createConnectInvokeHandler(execution()),
      tokenRefresher: createTokenRefresherHandler(lazy(() => tokenRefresherRoot(config, adapters))),
      waitSweeper: createWaitSweeperHandler(execution()),
      basicAuthorizer: createBasicAuthorizerHandler(
        lazy(() => secretStoreOf(adapters.secretsManager)),
        () => new SecretNames(config.secretPrefix).caller('basic'),
      ) as LocalHandler,
      definitionsDeployer: createDefinitionsDeployerHandler(lazy(() => definitionsDeployerRoot(config, adapters))) as LocalHandler,
    };
    const byId = Object.fromEntries((Object.keys(FUNCTIONS) as FunctionKey[]).map((key) => [FUNCTIONS[key].id, handlers[key]]));
    return {
      handlers: byId,
      roots: {
        get flowApi() {
          return flowApi();
        },
      },
    };
  },
};
