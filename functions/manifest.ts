/**
 * The function manifest: every Lambda function of ivrflow, once — its handler, what triggers it,
 * its timeout and what it may touch, by intent. The CDK stack (infra/ivrflow-stack.ts) creates
 * functions, routes, schedules, permissions and IAM grants from it, and the local stack
 * (`ivrflow serve`, the Lambda Invoke API; functions/local.ts) serves the same functions from it.
 * Adding a function is one entry here and its `functions/<dir>/handler.ts`.
 *
 * Data only: nothing here imports a handler, so reading the manifest loads no engine code.
 */
import { ROUTES } from '#shared/api/routes';
import { CONNECT_INVOKE_TIMEOUT_MS } from '#shared/platforms/connect';

/** How a function is invoked. */
export type Trigger =
  /** HTTP API routes; `operator` routes are IAM-authorised, `caller` routes use the stack's `callerAuthorization`, `none` has no authorizer (the callback token and signature authenticate). */
  | { type: 'http'; routes: readonly string[]; authorization: 'operator' | 'caller' | 'none' }
  /** An EventBridge schedule, every `minutes`. */
  | { type: 'schedule'; minutes: number; description: string }
  /** Invoked directly by Amazon Connect's "Invoke AWS Lambda function" block. */
  | { type: 'connect' }
  /** The API's Lambda authorizer for callers with HTTP Basic credentials (created when `callerAuthorization` is `basic`). */
  | { type: 'authorizer' }
  /** The onEvent handler of a CloudFormation custom resource, through the CDK Provider framework (created when the stack has `definitionsDir`). */
  | { type: 'customResource' };

/** What a function may touch, by intent; each maps to one grant method of the construct that owns the resource. */
export interface Access {
  /** `read` (flows, connections, workflow configurations) or `manage` (read and write them). */
  definitions?: 'read' | 'manage';
  /** `execution` (executions, waits, idempotency, sessions, circuits, agents: read/write), `operator` (circuits and token records: read, reset, forget), `tokens` (token records: list, lease, update), `agents` (agent sessions and events). */
  state?: 'execution' | 'operator' | 'tokens' | 'agents';
  /** `executor` (read flows/, connections/, tokens/; write tokens/), `connections` (manage connections/, delete tokens/), `caller` (read its callers/ secret). */
  secrets?: 'executor' | 'connections' | 'caller';
}

/** One function of the manifest: what the stack and the local stack need to create and serve it. */
export interface FunctionSpec {
  /** The logical id in the stack, and the name the local Lambda Invoke API serves it by. */
  id: string;
  /** Its folder: `functions/<dir>/handler.ts` exports `handler`. Also its Powertools service name, `ivrflow-<dir>`. */
  dir: string;
  trigger: Trigger;
  /** Lambda timeout, ms. */
  timeoutMs: number;
  access: Access;
  /** Needs the table names and the secret prefix in its environment. */
  tables: boolean;
  /** May start a wait: needs `IVRFLOW_PUBLIC_URL`, the base of callback URLs. */
  publicUrl?: boolean;
  /** Executor-class: the stack's `reservedConcurrency` applies to it. */
  reservedConcurrency?: boolean;
  /**
   * Packages left out of the bundle and shipped beside it (`node_modules/<name>` in the asset,
   * each with its own dependencies listed too), for code that loads them by a dynamic `import()`
   * on a rare path only: the bundle, and so every cold start, stays without them.
   */
  lazyModules?: readonly string[];
}

const EXECUTOR: Access = { definitions: 'read', state: 'execution', secrets: 'executor' };
/** A DataAPI `validate` compiles its JSON Schema with Ajv and re2js (shared/steps/data-api.ts): about 270 KB minified, with Ajv's dependencies. */
const SCHEMA_VALIDATOR = ['ajv', 'fast-deep-equal', 'fast-uri', 'json-schema-traverse', 'require-from-string', 're2js'] as const;
/** The expression functions formatPhoneNumber and validateE164 (shared/expressions/functions.ts): about 120 KB minified. */
const PHONE_NUMBERS = ['libphonenumber-js'] as const;
/** What every executor-class function (runs flows for callers) has alike. */
const EXECUTOR_CLASS = { access: EXECUTOR, tables: true, publicUrl: true, reservedConcurrency: true, lazyModules: [...SCHEMA_VALIDATOR, ...PHONE_NUMBERS] } as const;
/** `GET /flows/{flowId}/graph?format=svg` renders with Graphviz compiled to WASM (shared/flow/graph-svg.ts), 800 KB. */
const SVG_RENDERER = ['@hpcc-js/wasm-graphviz'] as const;

/** Every function of ivrflow, by key. */
export const FUNCTIONS = {
  flowApi: {
    id: 'FlowApi',
    dir: 'flow-api',
    trigger: { type: 'http', routes: ROUTES.flowApi, authorization: 'operator' },
    timeoutMs: 30_000,
    access: { definitions: 'manage', state: 'operator', secrets: 'connections' },
    tables: true,
    // Validating a flow compiles its DataAPI schemas; its graph route may render SVG.
    lazyModules: [...SCHEMA_VALIDATOR, ...PHONE_NUMBERS, ...SVG_RENDERER],
  },
  flowExecutor: {
    id: 'FlowExecutor',
    dir: 'flow-executor',
    trigger: { type: 'http', routes: ROUTES.flowExecutor, authorization: 'caller' },
    timeoutMs: 30_000,
    ...EXECUTOR_CLASS,
  },
  webhookCallback: {
    id: 'WebhookCallback',
    dir: 'webhook-callback',
    trigger: { type: 'http', routes: ROUTES.webhookCallback, authorization: 'none' },
    timeoutMs: 30_000,
    ...EXECUTOR_CLASS,
  },
  agentEvents: { id: 'AgentEvents', dir: 'agent-events', trigger: { type: 'http', routes: ROUTES.agentEvents, authorization: 'operator' }, timeoutMs: 30_000, access: { state: 'agents' }, tables: true },
  connectInvoke: {
    id: 'ConnectInvoke',
    dir: 'connect-invoke',
    trigger: { type: 'connect' },
    timeoutMs: CONNECT_INVOKE_TIMEOUT_MS,
    ...EXECUTOR_CLASS,
  },
  tokenRefresher: {
    id: 'TokenRefresher',
    dir: 'token-refresher',
    trigger: { type: 'schedule', minutes: 5, description: 'Refreshes the OAuth2 tokens that expire soon' },
    timeoutMs: 60_000,
    // Client secrets are a connection's or a flow's (an inline oauth2 form); tokens are the only secrets it writes.
    access: { state: 'tokens', secrets: 'executor' },
    tables: true,
  },
  waitSweeper: {
    id: 'WaitSweeper',
    dir: 'wait-sweeper',
    trigger: { type: 'schedule', minutes: 1, description: 'Sends executions still waiting past their deadline down their timeout branch' },
    timeoutMs: 60_000,
    access: EXECUTOR,
    tables: true,
    publicUrl: true,
    lazyModules: [...SCHEMA_VALIDATOR, ...PHONE_NUMBERS],
  },
  basicAuthorizer: { id: 'BasicAuthorizer', dir: 'basic-authorizer', trigger: { type: 'authorizer' }, timeoutMs: 5_000, access: { secrets: 'caller' }, tables: false },
  definitionsDeployer: {
    id: 'DefinitionsDeployer',
    dir: 'definitions-deployer',
    trigger: { type: 'customResource' },
    // A whole folder, one definition after the other; far below the Provider framework's 15 minutes.
    timeoutMs: 300_000,
    // What the Flow API's deploys touch: definitions, connections' credentials (a PUT keeps the stored ones) and their token records.
    access: { definitions: 'manage', state: 'operator', secrets: 'connections' },
    tables: true,
    // It builds flow-api's definitions services (functions/roots/definitions.ts): validation, no graph.
    lazyModules: [...SCHEMA_VALIDATOR, ...PHONE_NUMBERS],
  },
} as const satisfies Record<string, FunctionSpec>;

/** The key of a function in {@link FUNCTIONS}. */
export type FunctionKey = keyof typeof FUNCTIONS;
