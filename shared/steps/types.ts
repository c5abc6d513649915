/**
 * The contract every step type implements. A step type is one module exporting a
 * {@link StepDefinition}; the registry collects them and the flow schema is built from it, so a
 * new step type plugs in without touching the executor or the validator.
 */
import type * as z from 'zod';
import type { Clock, Randomness } from '../clock';
import type { FunctionContext } from '../expressions/functions';
import type { StepFailure } from '../flow/failures';
import type { CredentialLiteral } from '../http/credential-literals';
import type { CircuitState } from '../resilience/circuit-breaker';
import type { ServiceContainer, ServiceDefinition } from '../services';

/** Statuses of an execution: RUNNING and WAITING while it runs or waits, then one of the final three (docs/architecture.md, "Durable executions"). */
export type ExecutionStatus = 'RUNNING' | 'WAITING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';

/** What one step did, as recorded in the execution trace (docs/architecture.md, "Executing a flow"). */
export interface TraceEntry {
  stepId: string;
  type: string;
  /** The outcome branch (OnSuccess, OnServerError, ...), or the condition that matched. */
  branch: string;
  status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  durationMs: number;
  /** The step followed next, when any. */
  nextStepId?: string;
  /** HTTP only: final status code (null when no response), attempts made, SHA-256 of the final body. */
  statusCode?: number | null;
  attempts?: number;
  bodySha256?: string | null;
  /** HTTP with a circuit breaker: its key, its state after the step, and the transitions the step caused (e.g. `CLOSED→OPEN`). */
  circuit?: { key: string; state: CircuitState; transitions?: string[] };
  /** Failure class and message, when the step failed. */
  /** Why the step failed: the taxonomy's {@link StepFailure} (shared/flow/failures.ts). */
  error?: StepFailure;
  /** SubFlow only: the child execution's status and trace. */
  subFlow?: { flowId: string; version: number; status: ExecutionStatus; trace: TraceEntry[] };
}

/** The answer of an execution (docs/architecture.md, "Executing a flow"). */
export interface ExecutionResult {
  executionId: string;
  flowId: string;
  flowVersion: number;
  status: ExecutionStatus;
  /** The branch the flow ended on: an End step's outcome or the last step's branch. */
  branch: string;
  /** Declared outputs (when the flow declares none: the variables its steps set). */
  variables: Record<string, unknown>;
  trace: TraceEntry[];
  /**
   * Set when the run stopped on an engine condition (MAX_STEPS_EXCEEDED, DEADLINE_EXCEEDED,
   * BUDGET_EXCEEDED with `budget` naming which: steps, valueBytes, valueDepth, variablesBytes).
   */
  error?: { code: string; message: string; budget?: string };
  /** WAITING only: when the wait times out (ISO 8601), and how long to wait before polling again, ms. */
  waitUntil?: string;
  pollAfterMs?: number;
  /** The call's contact id (the `contact_id` variable), when it had one: what execution search finds the call by. */
  contactId?: string;
  /** Set when the stored record had to be shrunk to fit (the trace cut first; never the outcome). */
  truncated?: boolean;
  startedAt: string;
  durationMs: number;
}

/** What a step returns to the executor. */
export interface StepOutcome {
  branch: string;
  status: TraceEntry['status'];
  /** Variables to set (merged into the execution's variables). */
  variables?: Record<string, unknown>;
  /** An explicit next step (Condition); bypasses branch lookup. */
  nextStepId?: string;
  /** Ends the flow now (End). */
  end?: { status: 'SUCCEEDED' | 'FAILED'; outcome: string };
  trace?: Pick<TraceEntry, 'statusCode' | 'attempts' | 'bodySha256' | 'error' | 'subFlow' | 'circuit'>;
}

/** Everything a step may use while it runs. */
export interface StepContext {
  readonly executionId: string;
  /** The id of the whole execution (a sub-flow's `executionId` is `<root>/<flowId>`): what a callback resumes. */
  readonly rootExecutionId: string;
  readonly flowId: string;
  /** The execution's variables; read-only for steps (they return changes). */
  readonly variables: Readonly<Record<string, unknown>>;
  /** Absolute deadline of the current frame (the run, or a sub-flow within it), epoch ms (clock time). */
  readonly deadlineAt: number;
  /**
   * When every outbound call of the step must have ended, epoch ms: `deadlineAt` less the flow's
   * finish reserve, kept for the steps after a failure (docs/architecture.md, "The deadline is the caller's").
   */
  readonly callDeadlineAt: number;
  readonly clock: Clock;
  readonly randomness: Randomness;
  /** The services steps use (HTTP, circuit breaker, step metrics...; see `shared/services.ts`). */
  readonly services: ServiceContainer;
  readonly functions: FunctionContext;
  /**
   * Hosts the current flow may call (its `allowedHosts`; `*.example.com` patterns), checked on the
   * URL actually requested; undefined when the flow sets none (any host the network policy allows).
   */
  readonly allowedHosts: readonly string[] | undefined;
  /**
   * The current flow's `secrets`: variables bound to a secret (`{ secretId, key }`, the id relative
   * to the deployment's secret prefix). Their values are not in `variables`: a step reads them
   * when it needs them, registers them with {@link StepContext.markSecret}, and uses them only in
   * authentication and headers.
   */
  readonly secretVariables: Readonly<Record<string, { secretId: string; key: string }>> | undefined;
  /** Registers a value the step sends as a credential: it is redacted (`***`) from every trace, record, output and log. */
  markSecret(value: string): void;
  /** `value` with every credential registered so far replaced by `***` (for what a step stores or logs, e.g. a circuit key). */
  redact<T>(value: T): T;
}

/** References and sources a step's configuration holds, for deploy-time validation. Paths are relative to `configuration`. */
export interface StepAnalysis {
  expressions?: Array<{ path: string; source: string }>;
  /** `credential`: an authentication field or header, the only templates that may read variables bound to secrets. */
  templates?: Array<{ path: string; text: string; credential?: boolean }>;
  mappings?: Array<{ path: string; source: string }>;
  urls?: Array<{ path: string; text: string }>;
  stepRefs?: Array<{ path: string; stepId: string }>;
  flowRefs?: Array<{ path: string; flowId: string; version?: number }>;
  /** String templates that must render to JSON (a string `body`): checked with placeholder values at deploy time. */
  jsonTemplates?: Array<{ path: string; text: string }>;
  /** JSON Schemas the step compiles (DataAPI `validate`): compiled at deploy time. */
  jsonSchemas?: Array<{ path: string; schema: Record<string, unknown> }>;
  /** Values that carry a secret and must be a `{{ reference }}`, never a literal. */
  secrets?: Array<{ path: string; value: string }>;
  /** Literal credentials in a URL query or body (shared/http/credential-literals.ts): errors when certain, warnings otherwise. */
  credentialLiterals?: CredentialLiteral[];
  /** Values that must be exactly `{{ name }}` with `name` bound in the flow's `secrets` (an inline oauth2 client secret). */
  boundSecrets?: Array<{ path: string; value: string }>;
  /** Connections the step uses: `name` at `path`; `requestName` must be one of its requests; `url` must be on its hosts. */
  connectionRefs?: Array<{ path: string; name: string; requestName?: { path: string; name: string }; url?: { path: string; text: string } }>;
  /** Variables the step sets. */
  sets?: string[];
  /** Variables the step itself provides to some of its own templates (e.g. an async HTTPRequest's `callback_url`), with the configuration paths (and their children) where they are set. */
  locals?: Array<{ name: string; paths: string[] }>;
}

/** A step with its parsed configuration. */
export interface StepOf<C> {
  id: string;
  type: string;
  next?: string | undefined;
  branches?: Partial<Record<string, string>> | undefined;
  configuration: C;
}

/** A sub-flow a step asks the executor to run (a frame pushed on the execution's stack). */
export interface SubFlowCall {
  flowId: string;
  /** Default: the latest version. */
  version?: number | undefined;
  variables: Record<string, unknown>;
  /** The child's own time limit, ms (its deadline is also bounded by the caller's and its flow's `deadlineMs`). */
  deadlineMs?: number;
}

/**
 * A suspension: the step waits until something resumes it with a payload (`waitId` names the wait),
 * or its timeout at `until` (epoch ms). `callback`: the wait is resumed by `POST /callbacks/{token}`,
 * whose signature is checked with `connection`'s webhook signing secret when it has one. `state`:
 * small JSON the step keeps for its `resume` (e.g. what the call that suspended answered).
 */
export interface Suspension {
  waitId: string;
  until: number;
  onTimeout: string;
  callback?: { connection?: string };
  state?: Record<string, unknown>;
}

/**
 * What a step's `execute` or `resume` returns: an outcome (it finished with a branch), a call of a
 * sub-flow (it finishes, through `resume`, with the child's result), or a {@link Suspension}.
 */
export type StepResult = StepOutcome | { call: SubFlowCall } | { suspend: Suspension };

/**
 * What a calling or suspended step is resumed with: the sub-flow's result, the payload its wait
 * got, or its wait's timeout (`state` as the step left it when it suspended).
 */
export type ResumeEvent =
  { kind: 'child'; result: ExecutionResult } | { kind: 'resume'; waitId: string; payload: unknown; state?: Record<string, unknown> } | { kind: 'timeout'; waitId: string; until: number; state?: Record<string, unknown> };

/** A step type (docs/architecture.md, "Adding a step type"): its configuration schema, branches, services, what validation checks, and how it runs and resumes. */
export interface StepDefinition<C = unknown> {
  readonly type: string;
  /** zod schema of `configuration` (strict: unknown keys are errors). */
  readonly configSchema: z.ZodType<C>;
  /** Branch names this step can take; `Default` is always allowed. */
  readonly branches: readonly string[];
  /** The services this step type uses (built when a step first asks; listed so a function can build them at cold start). */
  readonly services?: readonly ServiceDefinition<unknown>[];
  analyze(config: C): StepAnalysis;
  /**
   * Runs the step. A step without I/O returns its result directly (no promise: the executor then
   * moves on synchronously); one that waits returns a promise. A flow failure it throws (an
   * expression failing at run time) becomes its `OnError`; anything else is an engine fault.
   */
  execute(step: StepOf<C>, ctx: StepContext): StepResult | Promise<StepResult>;
  /** Finishes a step that called a sub-flow or suspended. Required for steps that do. */
  resume?(step: StepOf<C>, event: ResumeEvent, ctx: StepContext): StepOutcome | Promise<StepOutcome>;
}

/** Helper preserving the config type. */
export function defineStep<C>(definition: StepDefinition<C>): StepDefinition<C> {
  return definition;
}
