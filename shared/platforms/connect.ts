/**
 * Amazon Connect's "Invoke AWS Lambda function" block (Amazon Connect Administrator Guide,
 * "Grant Amazon Connect access to your AWS Lambda functions" and "Invoke AWS Lambda function
 * block"): Connect invokes the function with a `ContactFlowEvent` and reads the answer as
 * STRING_MAP (a flat object of string values, the default) or JSON, at most 32 KB; it allows at
 * most 8 s for a synchronous call and retries on errors.
 *
 * `Parameters.flowId` names the flow; `Parameters.responseType` `JSON` asks for JSON; every other
 * parameter becomes a variable (strings, or nested values as Connect now allows). The contact maps
 * to `contact_id`, `initial_contact_id`, `customer_number`, `system_number`, `channel`,
 * `queue_name`, `language_code` and `contact_attributes`. The deadline is the function's remaining
 * time less a margin. The flow, the contact id and every variable the event gives are the
 * idempotency key, so a retried invocation answers what the first did without running the flow
 * again, while the same contact running the flow with other inputs runs it again. Caller mistakes (no flowId, an unknown
 * flow, a parameter that is not a variable name) are coded answers (`ivrflow_status` ERROR,
 * `ivrflow_error`), which a contact flow can branch on; they are not thrown (Connect would retry).
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { ExecutionService } from '../api/execution-service';
import { jsonSizeWithin, MAX_JSON_DEPTH } from '../budgets';
import { IvrflowError } from '../errors';
import { FlowId } from '../ids';
import { answerBytes, answerOf, DEFAULT_MAX_ANSWER_BYTES, errorAnswer } from './answers';

/** The `ContactFlowEvent` fields ivrflow reads (`@types/aws-lambda`'s type lags the documentation: LanguageCode, nested parameters). */
export const ConnectContactFlowEvent = z.lazy(() =>
  z.object({
    Name: z.literal('ContactFlowEvent').optional(),
    Details: z.object({
      ContactData: z
        .object({
          ContactId: z.string().min(1).max(256),
          InitialContactId: z.string().max(256).optional(),
          Channel: z.string().max(64).optional(),
          CustomerEndpoint: z
            .object({ Address: z.string().max(256).optional() })
            .passthrough()
            .nullish(),
          SystemEndpoint: z
            .object({ Address: z.string().max(256).optional() })
            .passthrough()
            .nullish(),
          Queue: z
            .object({ Name: z.string().max(256).optional() })
            .passthrough()
            .nullish(),
          LanguageCode: z.string().max(64).optional(),
          Attributes: z.record(z.string(), z.unknown()).optional(),
        })
        .passthrough(),
      Parameters: z.record(z.string(), z.unknown()).default({}),
    }),
  }),
);
/** A `ContactFlowEvent` as ivrflow reads it (defaults applied; other fields passed through). */
export type ConnectContactFlowEvent = z.infer<typeof ConnectContactFlowEvent>;

/** The connect-invoke function's timeout, ms (Connect waits at most 8 s for a synchronous invocation). */
export const CONNECT_INVOKE_TIMEOUT_MS = 8_000;

/** Time kept back from the function's remaining time for answering, ms. */
export const CONNECT_MARGIN_MS = 500;

const CONTROL_PARAMETERS = new Set(['flowId', 'responseType']);

/**
 * The idempotency key of an invocation: the flow, the contact and every variable the invocation
 * gives the flow (parameters and contact data), hashed. A retry (the same event) gets the first
 * answer; the same contact running the flow again with other inputs or attributes (a re-prompt
 * loop) runs it again. An identical repeat within 24 h gets the first answer too.
 */
function idempotencyKeyOf(flowId: string, contactId: string, variables: Record<string, unknown>): string {
  return `connect:${createHash('sha256')
    .update(JSON.stringify([flowId, contactId, variables]))
    .digest('hex')}`;
}

/**
 * Runs the flow a Connect event names and answers as the block expects.
 * @param remainingMs the function's remaining time (`context.getRemainingTimeInMillis()`)
 * @returns a STRING_MAP (or, with `responseType` JSON, a JSON object) under 32 KB, or a coded error answer
 * @throws only engine faults (Connect then takes the block's Error branch)
 */
export async function invokeFromConnect(executions: ExecutionService, raw: unknown, remainingMs: number): Promise<Record<string, unknown>> {
  const parsed = ConnectContactFlowEvent.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return errorAnswer('INVALID_EVENT', `not an Amazon Connect ContactFlowEvent: ${issue.path.join('.') || '(event)'}: ${issue.message}`);
  }
  const { ContactData: contact, Parameters: parameters } = parsed.data.Details;
  const flowId = parameters['flowId'];
  if (typeof flowId !== 'string' || flowId === '') return errorAnswer('MISSING_FLOW_ID', 'set the parameter flowId in the Invoke AWS Lambda function block to the id of the flow to run');
  if (!FlowId.safeParse(flowId).success) return errorAnswer('INVALID_FLOW_ID', 'the parameter flowId must be 1–128 letters, digits, _ . or -');
  if (jsonSizeWithin(parsed.data.Details, 6 * 1024 * 1024) === -1) return errorAnswer('INVALID_EVENT', `the event's parameters or attributes nest deeper than ${MAX_JSON_DEPTH} levels`);
  const shape = parameters['responseType'] === 'JSON' ? 'json' : 'flat';
  const variables: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parameters)) if (!CONTROL_PARAMETERS.has(name)) variables[name] = value;
  Object.assign(variables, {
    initial_contact_id: contact.InitialContactId ?? contact.ContactId,
    customer_number: contact.CustomerEndpoint?.Address ?? null,
    system_number: contact.SystemEndpoint?.Address ?? null,
    channel: contact.Channel ?? null,
    queue_name: contact.Queue?.Name ?? null,
    language_code: contact.LanguageCode ?? null,
    contact_attributes: contact.Attributes ?? {},
  });
  const deadlineMs = Math.max(100, Math.min(30_000, remainingMs - CONNECT_MARGIN_MS));
  try {
    const result = await executions.start(flowId, { variables, contactId: contact.ContactId, deadlineMs }, idempotencyKeyOf(flowId, contact.ContactId, variables));
    const answer = answerOf(result, shape);
    if (answerBytes(answer) > DEFAULT_MAX_ANSWER_BYTES) return errorAnswer('RESPONSE_TOO_LARGE', `the flow's outputs are larger than Amazon Connect accepts (${DEFAULT_MAX_ANSWER_BYTES} bytes); declare fewer outputs`, result.executionId);
    return answer;
  } catch (err) {
    if (err instanceof IvrflowError && err.code !== 'ENGINE_ERROR') return errorAnswer(err.code, err.message);
    throw err;
  }
}
