/**
 * Typed errors shared by every module (Powertools `errors.ts` style).
 *
 * Every error the engine raises on purpose extends {@link IvrflowError} and carries a stable
 * `code` (persisted and routed on). Errors carry no HTTP status: the edge maps error classes to
 * statuses in one table (`statusOf` in `shared/api/http.ts`); anything it does not map (an engine
 * fault, a budget, a configuration error, a bug) becomes a generic 500 without details.
 *
 * Two kinds of failure (docs/architecture.md, "Executing a flow"): flow failures (the flow's or a
 * backend's fault; {@link isFlowFailure}) are routed to a step's branches; engine faults never are.
 */

/** One problem found in a definition or a request: `path` is a JSON Pointer-like list of keys. */
export interface Diagnostic {
  /** Stable code such as `MISSING_STEP`, `BAD_EXPRESSION`. */
  code: string;
  /** Location, e.g. `steps[2].configuration.url`. */
  path: string;
  message: string;
}

/** Base of all deliberate ivrflow errors. */
export class IvrflowError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** Extra JSON-safe detail for the API answer (never secrets). */
  readonly details?: unknown;

  constructor(code: string, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IvrflowError';
    this.code = code;
    this.details = options.details;
  }
}

/** A flow definition (or another definition) failed validation; `details` lists every problem. */
export class FlowValidationError extends IvrflowError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], message = 'the flow definition is invalid') {
    super('INVALID_FLOW', `${message}: ${diagnostics.length} problem(s); first: ${diagnostics[0]?.path ?? ''} ${diagnostics[0]?.message ?? ''}`.trim(), { details: diagnostics });
    this.name = 'FlowValidationError';
    this.diagnostics = diagnostics;
  }
}

/** An expression or template did not parse, or used something the language forbids. */
export class ExpressionError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BAD_EXPRESSION', message, options);
    this.name = 'ExpressionError';
  }
}

/** Rendering a template produced something unusable (e.g. a JSON body that does not parse). */
export class TemplateError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BAD_TEMPLATE', message, options);
    this.name = 'TemplateError';
  }
}

/** A referenced definition does not exist. */
export class NotFoundError extends IvrflowError {
  constructor(message: string, details?: unknown) {
    super('NOT_FOUND', message, { details });
    this.name = 'NotFoundError';
  }
}

/** A request conflicts with the current state (an Idempotency-Key still in use, an execution not waiting). */
export class ConflictError extends IvrflowError {
  constructor(code: string, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ConflictError';
  }
}

/** A conditional write lost a race (e.g. two deploys of one version); `details.currentVersion` says what won. */
export class VersionConflictError extends ConflictError {
  constructor(message: string, details?: unknown, options: { cause?: unknown } = {}) {
    super('VERSION_CONFLICT', message, { details, ...options });
    this.name = 'VersionConflictError';
  }
}

/** A request to an API was malformed (body not JSON, a bad parameter or cursor...). */
export class BadRequestError extends IvrflowError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, { details });
    this.name = 'BadRequestError';
  }
}

/** A well-formed request the API cannot process (a body of the wrong shape, an Idempotency-Key reused with another body). */
export class UnprocessableRequestError extends IvrflowError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, { details });
    this.name = 'UnprocessableRequestError';
  }
}

/** A request without valid credentials (e.g. a callback whose webhook signature does not verify). */
export class UnauthorizedError extends IvrflowError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'UnauthorizedError';
  }
}

/** Something that existed and is gone for good (e.g. a callback after its wait timed out). */
export class GoneError extends IvrflowError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'GoneError';
  }
}

/** A request body larger than the API accepts (`BODY_TOO_LARGE`), or an answer larger than the caller can read. */
export class PayloadTooLargeError extends IvrflowError {
  constructor(message: string, code = 'BODY_TOO_LARGE') {
    super(code, message);
    this.name = 'PayloadTooLargeError';
  }
}

/** A request body of a media type the API does not read. */
export class UnsupportedMediaTypeError extends IvrflowError {
  constructor(message: string) {
    super('UNSUPPORTED_MEDIA_TYPE', message);
    this.name = 'UnsupportedMediaTypeError';
  }
}

/**
 * An execution ran out of one of its budgets (docs/architecture.md, "Budgets"): steps across
 * sub-flows, the size or depth of a value, all variables together. It is never routed as a step
 * branch: the execution ends FAILED with `error.code` `BUDGET_EXCEEDED` and `error.budget`.
 */
export class BudgetExceededError extends IvrflowError {
  /** Which budget: `steps`, `valueBytes`, `valueDepth`, `variablesBytes`. */
  readonly budget: string;
  /** Its limit (bytes, levels or steps). */
  readonly limit: number;
  constructor(budget: string, limit: number, message: string) {
    super('BUDGET_EXCEEDED', message, { details: { budget, limit } });
    this.name = 'BudgetExceededError';
    this.budget = budget;
    this.limit = limit;
  }
}

/**
 * True for an error that a step turns into a routed failure (its OnError branch): a deliberate
 * error caused by the flow or its data. Budgets and configuration errors are never routed.
 */
export function isFlowFailure(err: unknown): err is IvrflowError {
  return err instanceof IvrflowError && !(err instanceof BudgetExceededError) && !(err instanceof ConfigError);
}

/**
 * A store (the DynamoDB tables) cannot be reached now: no connection, a timeout, a 5xx or
 * throttling. Answered 503 `STATE_UNAVAILABLE` at the edge (a coded answer a caller's IVR can
 * branch on, never a 500); nothing was changed by the request that got it.
 */
export class StoreUnavailableError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('STATE_UNAVAILABLE', message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A required configuration value (environment variable) is missing or malformed. */
export class ConfigError extends IvrflowError {
  constructor(message: string) {
    super('CONFIG_ERROR', message);
    this.name = 'ConfigError';
  }
}
