/**
 * What the checks of a flow definition share (docs/architecture.md, "Validation"): the options and
 * result of `validateFlow`, the state one validation builds as it goes (diagnostics, step ids,
 * transitions, variables read and set, secrets, allowed hosts), and the wrapper that carries an
 * error thrown by a caller's callback through the safety net.
 */
import type { Diagnostic } from '../../errors';
import type { Flow } from '../schema';

/** Options of {@link validateFlow}: how sub-flow and connection references are checked, and whether private hosts are accepted. */
export interface ValidateOptions {
  /**
   * Answers whether a sub-flow target exists; when absent, sub-flow references are not checked.
   * `true`: it exists; `false`: it does not (`MISSING_FLOW`); a string: it exists but cannot be
   * used, and the string says why; it becomes the message of an `INVALID_SUBFLOW` error as is,
   * so name the flow in it (`flow 'x' (file flows/x.json) is invalid: BAD_URL steps[0]...: ...`).
   * Whatever it throws is thrown by {@link validateFlow} (a store failure is not a flow problem).
   */
  flowExists?: (flowId: string, version?: number) => boolean | string | Promise<boolean | string>;
  /** Accept loopback/private hosts (local development). @default false */
  allowPrivateHosts?: boolean;
  /**
   * The connection a step names: its hosts and request names, or undefined when it does not exist
   * (`MISSING_CONNECTION`). When absent, connection references are not checked. Whatever it throws
   * is thrown by {@link validateFlow}.
   */
  connection?: (name: string) => Promise<{ hosts: string[]; requests: string[] } | undefined>;
}

/** What {@link validateFlow} found: every error and warning, and the parsed flow when it is valid. */
export interface ValidationResult {
  valid: boolean;
  /** The parsed flow with defaults applied, when valid. */
  flow?: Flow;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** Carries an error thrown by a caller's callback through the safety net of {@link validateFlow}. */
export class CallbackFailure extends Error {
  constructor(readonly error: unknown) {
    super('a validateFlow callback failed');
  }
}

/** The state of one validation, shared by the checks of every step; each check pushes its diagnostics in order. */
export interface Validation {
  readonly options: ValidateOptions;
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
  /** Step ids, each with the index of the first step that has it (steps that failed the schema included). */
  readonly ids: Map<string, number>;
  /** The steps each step can go to (its transitions and the steps its configuration names). */
  readonly edges: Map<string, string[]>;
  /** Variables read, each with the path of its first read. */
  readonly reads: Map<string, string>;
  /** Variables set: built-in ones, inputs, session variables, then what the steps set. */
  readonly sets: Set<string>;
  /** Variables bound to secrets (the keys of `secrets`). */
  readonly secretNames: Set<string>;
  /** The flow's `allowedHosts` (its strings), when it sets them. */
  readonly allowedHosts: string[] | undefined;
}
