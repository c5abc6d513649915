/**
 * Typed errors shared by every module (Powertools `errors.ts` style).
 *
 * Every error the engine raises on purpose extends {@link IvrflowError}; it carries a stable
 * `code` (persisted and routed on) and an HTTP `statusCode` used only at the edge
 * (functions' error middleware and the local server). Anything that is not an `IvrflowError`
 * is unexpected and becomes a generic 500 without details.
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
  /** HTTP status the edge maps this error to (4xx = the caller's fault). */
  readonly statusCode: number;
  /** Extra JSON-safe detail for the API answer (never secrets). */
  readonly details?: unknown;

  constructor(code: string, message: string, options: { statusCode?: number; details?: unknown; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IvrflowError';
    this.code = code;
    this.statusCode = options.statusCode ?? 400;
    this.details = options.details;
  }
}

/** A flow definition (or another definition) failed validation; `details` lists every problem. */
export class FlowValidationError extends IvrflowError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[], message = 'the flow definition is invalid') {
    super('INVALID_FLOW', `${message}: ${diagnostics.length} problem(s); first: ${diagnostics[0]?.path ?? ''} ${diagnostics[0]?.message ?? ''}`.trim(), {
      statusCode: 422,
      details: diagnostics,
    });
    this.name = 'FlowValidationError';
    this.diagnostics = diagnostics;
  }
}

/** An expression or template did not parse, or used something the language forbids. */
export class ExpressionError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BAD_EXPRESSION', message, { statusCode: 400, ...options });
    this.name = 'ExpressionError';
  }
}

/** Rendering a template produced something unusable (e.g. a JSON body that does not parse). */
export class TemplateError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BAD_TEMPLATE', message, { statusCode: 400, ...options });
    this.name = 'TemplateError';
  }
}

/** A referenced definition does not exist. */
export class NotFoundError extends IvrflowError {
  constructor(message: string, details?: unknown) {
    super('NOT_FOUND', message, { statusCode: 404, details });
    this.name = 'NotFoundError';
  }
}

/** A conditional write lost a race (e.g. two deploys of one version); `details.currentVersion` says what won. */
export class VersionConflictError extends IvrflowError {
  constructor(message: string, details?: unknown, options: { cause?: unknown } = {}) {
    super('VERSION_CONFLICT', message, { statusCode: 409, details, ...options });
    this.name = 'VersionConflictError';
  }
}

/** A request to an API was malformed (body not JSON, wrong types, too large...). */
export class BadRequestError extends IvrflowError {
  constructor(code: string, message: string, statusCode = 400, details?: unknown) {
    super(code, message, { statusCode, details });
    this.name = 'BadRequestError';
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
    super('BUDGET_EXCEEDED', message, { statusCode: 422, details: { budget, limit } });
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

/** A required configuration value (environment variable) is missing or malformed. */
export class ConfigError extends IvrflowError {
  constructor(message: string) {
    super('CONFIG_ERROR', message, { statusCode: 500 });
    this.name = 'ConfigError';
  }
}
