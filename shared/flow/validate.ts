/**
 * Deploy-time validation of flow definitions (docs/architecture.md, "Validation"). The Flow API and
 * `ivrflow validate` run this same code. Every problem is reported, each as
 * `{ code, path, message }`; the message names the offending value (`unknown step type 'Teleport'`,
 * `timeout 999999 is too big: must be <= 30000`, `got "abc"`: a JSON preview of at most 60
 * characters), except where the value may be a secret (passwords, API keys, credentials), whose
 * type only is named.
 *
 * | code | problem |
 * | --- | --- |
 * | INVALID_JSON | the file is not JSON |
 * | INVALID_VALUE | wrong type or format |
 * | MISSING_FIELD | a required key is absent |
 * | UNKNOWN_KEY | a key the schema does not define |
 * | UNKNOWN_STEP_TYPE | `type` is not a registered step type |
 * | UNKNOWN_BRANCH | a branch the step type cannot take |
 * | OUT_OF_BOUNDS | a number outside its range (timeouts, retries, deadline...) |
 * | DUPLICATE_STEP_ID | two steps share an id |
 * | MISSING_STEP | a transition or `startStepId` names no step |
 * | MISSING_FLOW | a SubFlow names a flow that does not exist |
 * | INVALID_SUBFLOW | a SubFlow names a flow that exists but cannot be used (e.g. its file is invalid; see {@link ValidateOptions.flowExists}) |
 * | BAD_EXPRESSION | an expression or `{{ }}` template does not parse |
 * | BAD_BODY_TEMPLATE | a string `body` template that cannot render to JSON (checked with placeholder values) |
 * | BAD_SCHEMA | a DataAPI `validate` JSON Schema that does not compile (e.g. a `pattern` the linear-time regex engine cannot run) |
 * | BAD_JSONPATH | a response mapping JSONPath does not parse |
 * | BAD_URL | a URL that cannot become an absolute http(s) URL |
 * | LITERAL_SECRET | a literal where a secret reference belongs: a credential field or header, or an `api_key`, `apikey`, `access_token`, `client_secret` or `password` query parameter or body field, or a body `Authorization` (shared/http/credential-literals.ts) |
 * | PRIVATE_HOST | a loopback, private or link-local host (unless allowed) |
 * | HOST_NOT_ALLOWED | a host outside `allowedHosts`, or outside the hosts of the connection the step uses |
 * | SECRET_MISUSE | a variable bound to a secret read outside authentication fields and headers |
 * | SECRET_VARIABLE_CONFLICT | a variable bound to a secret that is also an input, an output, a session variable or set by a step |
 * | UNBOUND_SECRET | an inline oauth2 `clientSecret` that is not a `{{ reference }}` to a variable bound in `secrets` |
 * | MISSING_CONNECTION | a step names a connection that does not exist (see {@link ValidateOptions.connection}) |
 * | UNKNOWN_REQUEST | an IntegrationHubExecute `requestName` the connection does not define |
 *
 * Warnings:
 *
 * | code | problem |
 * | --- | --- |
 * | UNREACHABLE_STEP | no transition leads to the step |
 * | UNSET_VARIABLE | a variable is read but never set nor declared in `inputs` |
 * | POSSIBLE_LITERAL_SECRET | a `token`, `key`, `sig` or `signature` query parameter or body field with a literal value of 16 characters or more |
 * | UNRESTRICTED_HOST | an HTTPRequest URL takes its host from a value (`{{base_url}}/x`, `https://{{host}}/x`) and the flow sets no `allowedHosts`: a caller or backend can then send the request, with its credentials, to any public host |
 *
 * `validateFlow` never throws for any input: whatever the value (not an object, steps that are
 * not objects, huge or deeply nested values), the answer is a list of diagnostics.
 */
import type { Diagnostic } from '../errors';
import { FlowValidationError } from '../errors';
import { getStepDefinition } from '../steps/registry';
import type { StepAnalysis } from '../steps/types';
import type { Flow, Step } from './schema';
import { CallbackFailure, type ValidateOptions, type ValidationResult, type Validation } from './validate/context';
import { allowedHostsOf, checkConnectionRefs, checkSecrets, checkUrls } from './validate/hosts-secrets';
import { messageOf } from './validate/messages';
import { checkDeclaredVariables, checkFlowRefs, checkGraph, checkSets, checkStepIds, checkStepRefs, checkTransitions, stepEdges } from './validate/references';
import { checkSources } from './validate/sources';
import { checkShell, parseSteps, parseWhole } from './validate/structure';

export type { ValidateOptions, ValidationResult } from './validate/context';
export { preview } from './validate/messages';
export { diagnosticsOf } from './validate/structure';

/**
 * Validates a flow definition (already parsed from JSON). Never throws for any `raw` value.
 * @returns every error and warning; `flow` (defaults applied) when there is no error.
 * @throws only what `options.flowExists` throws.
 * @example const { valid, errors } = await validateFlow(JSON.parse(text), { allowPrivateHosts: true });
 */
export async function validateFlow(raw: unknown, options: ValidateOptions = {}): Promise<ValidationResult> {
  try {
    return await check(raw, options);
  } catch (err) {
    if (err instanceof CallbackFailure) throw err.error;
    // A safety net: a bug here must not become a 500 or a crashed CLI; the flow is refused.
    return { valid: false, errors: [{ code: 'INVALID_VALUE', path: '', message: `the flow could not be checked: ${messageOf(err)}` }], warnings: [] };
  }
}

/** The groups of checks, in the order their diagnostics are reported. */
async function check(raw: unknown, options: ValidateOptions): Promise<ValidationResult> {
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  const shellParsed = checkShell(raw, errors);
  const { rawSteps, steps } = parseSteps(raw, errors);
  const ids = checkStepIds(rawSteps, errors);
  const startStepId = checkTransitions(raw, rawSteps, { ids, errors });
  const allowedHosts = allowedHostsOf(raw);
  const v: Validation = { options, errors, warnings, ids, edges: new Map(), allowedHosts, ...checkDeclaredVariables(raw, errors) };
  for (const { step, index } of steps) await checkStep(v, step, index);
  checkGraph(v, startStepId, steps, rawSteps);

  if (errors.length > 0 || !shellParsed) return { valid: false, errors, warnings };
  return parseWhole(raw, errors, warnings);
}

/** The checks of one parsed step, on what its type's `analyze` finds in its configuration. */
async function checkStep(v: Validation, step: Step, index: number): Promise<void> {
  const targets = stepEdges(v, step);
  const cfg = `steps[${index}].configuration`;
  let analysis: StepAnalysis;
  try {
    analysis = getStepDefinition(step.type)!.analyze(step.configuration);
  } catch (err) {
    // e.g. a body nested so deep that walking it overflows the stack.
    v.errors.push({ code: 'INVALID_VALUE', path: cfg, message: `the configuration cannot be analyzed: ${messageOf(err)}` });
    return;
  }
  checkStepRefs(v, analysis, cfg, targets);
  await checkSources(v, analysis, cfg);
  checkUrls(v, analysis, cfg);
  checkSecrets(v, analysis, cfg);
  await checkConnectionRefs(v, analysis, cfg);
  await checkFlowRefs(v, analysis, cfg);
  checkSets(v, analysis, cfg);
}

/**
 * Validates and returns the flow.
 * @throws FlowValidationError (422) listing every problem.
 */
export async function parseFlow(raw: unknown, options: ValidateOptions = {}): Promise<Flow> {
  const result = await validateFlow(raw, options);
  if (!result.flow) throw new FlowValidationError(result.errors);
  return result.flow;
}
