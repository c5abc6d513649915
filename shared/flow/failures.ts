/**
 * The one taxonomy of step failures (docs/architecture.md, "Step failures"). Every routed failure
 * is a {@link StepFailure} `{ type, message, retryable, statusCode? }` made by {@link stepFailure}
 * from this registry, which says for each type whether trying again later may succeed
 * (`retryable`, as Temporal's `ApplicationFailure`), whether it counts toward the circuit breaker
 * and which branch it takes. Types are lower snake case in the trace, `http_error`,
 * `requestErrorDetails`, metrics and logs alike. Engine faults (a bug, a missing table, bad
 * configuration) are never StepFailures: they are answered 500 at the edge.
 */
import { ExpressionError, TemplateError } from '../errors';

interface FailureKind {
  /** Trying again later may succeed. */
  retryable: boolean;
  /** Counts toward the circuit breaker's failures (a backend that is sick, not a request that is wrong). */
  breaker: boolean;
  /** The branch it takes where the step declares it; else the step's `OnError` (see {@link branchOf}). */
  branch: string;
  /** What it means, for docs and messages. */
  meaning: string;
}

/** The registry of failure types: for each, whether it is retryable, counts toward the breaker, its branch and its meaning (the table of docs/architecture.md, "Step failures"). */
export const FAILURES = {
  timeout: { retryable: true, breaker: true, branch: 'OnTimeout', meaning: 'no answer within the timeout (or the async wait)' },
  deadline: { retryable: false, breaker: false, branch: 'OnTimeout', meaning: "too little of the run's deadline was left to send the request" },
  connection: { retryable: true, breaker: true, branch: 'OnError', meaning: 'the connection was refused, reset or failed' },
  dns: { retryable: true, breaker: true, branch: 'OnError', meaning: 'the host name did not resolve' },
  http_3xx: { retryable: false, breaker: false, branch: 'OnError', meaning: 'a redirect (never followed)' },
  http_4xx: { retryable: false, breaker: false, branch: 'OnClientError', meaning: 'the backend refused the request (4xx other than 401, 403, 429)' },
  auth: { retryable: false, breaker: false, branch: 'OnClientError', meaning: '401 or 403, or no credential could be had' },
  throttled: { retryable: true, breaker: false, branch: 'OnClientError', meaning: '429 Too Many Requests (Retry-After honoured within the deadline)' },
  http_5xx: { retryable: true, breaker: true, branch: 'OnServerError', meaning: 'the backend failed (5xx)' },
  circuit_open: { retryable: true, breaker: false, branch: 'OnCircuitOpen', meaning: 'the circuit is open: no request was sent' },
  invalid_request: { retryable: false, breaker: false, branch: 'OnError', meaning: 'the request could not be built (a template) or its destination is not allowed' },
  invalid_payload: { retryable: false, breaker: false, branch: 'OnError', meaning: 'an IntegrationHubExecute requestPayload that is not what the request needs' },
  unknown_connection: { retryable: false, breaker: false, branch: 'OnError', meaning: 'the connection does not exist' },
  unknown_request: { retryable: false, breaker: false, branch: 'OnError', meaning: 'the connection has no such request' },
  invalid_response: { retryable: false, breaker: false, branch: 'OnError', meaning: 'the response body cannot be used (not parseable, too deep, over a budget)' },
  mapping: { retryable: false, breaker: false, branch: 'OnError', meaning: 'a responseMapping or an expression failed' },
  budget: { retryable: false, breaker: false, branch: 'BudgetExceeded', meaning: 'a budget of the run ran out (steps, sizes, depth)' },
  subflow_failed: { retryable: false, breaker: false, branch: 'OnError', meaning: 'the sub-flow or workflow ended FAILED' },
  validation_failure: { retryable: false, breaker: false, branch: 'OnValidationFailure', meaning: 'a WorkflowExecute input, configuration or payload is not valid' },
  integration_disabled: { retryable: false, breaker: false, branch: 'OnIntegrationDisabled', meaning: 'the workflow configuration is disabled' },
  invalid_workflow: { retryable: false, breaker: false, branch: 'OnInvalidWorkflow', meaning: 'the workflow is not one of the configuration, or its flow is gone' },
  agent_not_connected: { retryable: false, breaker: false, branch: 'OnAgentNotConnected', meaning: 'the agent has not joined and the event does not persist' },
} as const satisfies Record<string, FailureKind>;

/** A failure type of the registry, e.g. `http_5xx`. */
export type FailureType = keyof typeof FAILURES;

/** A routed failure of one step. */
export interface StepFailure {
  type: FailureType;
  message: string;
  retryable: boolean;
  /** The HTTP status of the last answer, when there was one. */
  statusCode?: number | null;
}

/** A {@link StepFailure} of `type`, `retryable` from the registry. */
export function stepFailure(type: FailureType, message: string, statusCode?: number | null): StepFailure {
  return { type, message, retryable: FAILURES[type].retryable, ...(statusCode === undefined ? {} : { statusCode }) };
}

/** The branch a failure takes on a step that declares `branches`: the registry's when declared, else `OnError`. */
export function branchOf(type: FailureType, branches: readonly string[]): string {
  const branch: string = FAILURES[type].branch;
  return branches.includes(branch) ? branch : 'OnError';
}

/** Whether a failure counts toward the circuit breaker. */
export function countsForBreaker(type: FailureType | undefined): boolean {
  return type !== undefined && FAILURES[type].breaker;
}

/** The type of a flow failure a step threw and did not classify itself: an expression (or mapping) is `mapping`, a template or anything else `invalid_request`. */
export function failureTypeOf(err: unknown): FailureType {
  return err instanceof ExpressionError && !(err instanceof TemplateError) ? 'mapping' : 'invalid_request';
}
