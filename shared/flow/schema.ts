/**
 * The flow definition schema (docs/architecture.md, "Validation"): a Flow API payload (`id`,
 * `name`, `flowType`, `version`, `steps[]` of `{ id, type, configuration }`) plus ivrflow's
 * optional `startStepId`, `next`, `branches`, `inputs`, `outputs`, `deadlineMs`, `maxSteps`,
 * `finishReserveMs`, `session`, `allowedHosts`. Types are inferred from it, and `flow.schema.json` is generated
 * from it.
 */
import * as z from 'zod';
import { DEFAULT_FINISH_RESERVE_MS, MAX_STEPS_CEILING, MIN_CALL_MS } from '../budgets';
import { StepId, VariableName } from '../steps/common';
import { FlowId } from '../ids';
import { STEP_DEFINITIONS } from '../steps/registry';

/** The default budget of a synchronous run: 8000 ms, Amazon Connect's Lambda invocation limit. */
export const DEFAULT_DEADLINE_MS = 8000;
/** The default cap on steps executed in one run (loops are allowed; this stops runaway ones). */
export const DEFAULT_MAX_STEPS = 200;

/** One object schema per registered step type (its `type` literal, branches and configuration). */
const stepSchemas = () =>
  STEP_DEFINITIONS.map((def) =>
    z
      .object({
        id: StepId,
        type: z.literal(def.type),
        description: z.string().max(1024).optional(),
        next: StepId.optional().describe('Default transition (same as branches.Default)'),
        branches: z
          .partialRecord(z.enum(['Default', ...def.branches] as unknown as [string, ...string[]]), StepId)
          .optional()
          .describe(`Branch → step id; this type's branches: ${[...def.branches, 'Default'].join(', ')}`),
        configuration: def.configSchema,
      })
      .strict(),
  );

/** One step: a discriminated union on `type`, one member per registered step type. */
export const StepSchema = z.lazy(() => {
  const members = stepSchemas();
  return z.discriminatedUnion('type', members as unknown as [(typeof members)[number], ...(typeof members)[number][]]);
});

/** First segments of secret ids that name another namespace; refused in a binding so nobody believes it reaches one. */
const RESERVED_SECRET_SEGMENTS = ['connections', 'tokens', 'flows', 'callers'];

/**
 * A variable bound to a key of a secret. The id resolves under the deployment's flow namespace
 * only, `<prefix>flows/<secretId>` (`ivrflow/flows/crm-oauth`), where IAM lets the executors read:
 * connections' credentials, cached tokens and callers' credentials are out of a flow's reach.
 */
export const SecretBinding = z.lazy(() =>
  z
    .object({
      secretId: z
        .string()
        .min(1)
        .max(256)
        .regex(/^[A-Za-z0-9/_+=.@-]+$/, 'use letters, digits and /_+=.@- only')
        .refine((id) => !id.startsWith('/') && !id.split('/').some((segment) => segment === '' || segment === '.' || segment === '..'), 'no leading /, empty, . or .. segments: the id names a secret under the flows/ namespace')
        .refine(
          (id) => !RESERVED_SECRET_SEGMENTS.includes(id.split('/')[0]!),
          `its first segment may not be ${RESERVED_SECRET_SEGMENTS.join(', ')}: a binding reaches <prefix>flows/<secretId> only (use authentication { "connection": ... } for a connection)`,
        ),
      key: z.string().min(1).max(256),
    })
    .strict(),
);

/** A declared input: a variable name, or `{ name, type?, required? }` (shared/flow/inputs.ts enforces them). */
export const InputDeclarationSchema = z.lazy(() =>
  z.union([
    VariableName,
    z
      .object({
        name: VariableName,
        type: z.enum(['string', 'number', 'boolean', 'object']).optional().describe('Checked when the flow starts; text is accepted for number ("42") and boolean ("true"/"false")'),
        required: z.boolean().optional().describe('A missing or null value is refused (400 MISSING_INPUT); default false: a missing input is null'),
      })
      .strict(),
  ]),
);

/**
 * A flow's re-dial session: `key` (a template naming the caller, e.g. `{{phone_number}}`), how long
 * the session is kept (`ttlSeconds`, seconds, default 900) and the variables an ended run saves under it, restored
 * into a later run with the same key where that run's variable is missing or null.
 */
export const SessionConfig = z.lazy(() =>
  z
    .object({
      key: z.string().min(1).max(512).describe('Template naming the caller, e.g. {{phone_number}}'),
      ttlSeconds: z.number().int().min(1).max(86400).default(900),
      variables: z.array(VariableName).min(1).max(100),
    })
    .strict(),
);

/** A flow definition (the flow format, and `flow.schema.json` generated from it). */
export const FlowSchema = z.lazy(() =>
  z
    .object({
      $schema: z.string().optional(),
      id: FlowId,
      name: z.string().min(1).max(256),
      flowType: z.enum(['IVR', 'Integration', 'Workflow']).default('IVR'),
      version: z.number().int().min(1).optional().describe('Set by the Flow API on deploy; current + 1 when given'),
      description: z.string().max(4096).optional(),
      startStepId: StepId.optional().describe('Default: the first step'),
      inputs: z
        .array(InputDeclarationSchema)
        .max(200)
        .superRefine((entries, ctx) => {
          const seen = new Set<string>();
          entries.forEach((entry, index) => {
            const name = typeof entry === 'string' ? entry : entry.name;
            if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [index], message: `input '${name}' is declared twice` });
            seen.add(name);
          });
        })
        .optional()
        .describe('The variables a caller may give; when declared, everything else a caller sends is dropped'),
      outputs: z.array(VariableName).max(200).optional().describe('Variables the API returns (default: all)'),
      deadlineMs: z.number().int().min(100).max(30000).default(DEFAULT_DEADLINE_MS).describe('Budget of a synchronous run, ms'),
      finishReserveMs: z
        .number()
        .int()
        .min(MIN_CALL_MS)
        .max(10000)
        .optional()
        .describe('Time kept back from every outbound call for the steps after a failure (fallback, End, record write), ms; below deadlineMs. Default 300, or a quarter of deadlineMs when that is less'),
      maxSteps: z.number().int().min(1).max(MAX_STEPS_CEILING).default(DEFAULT_MAX_STEPS),
      session: SessionConfig.optional(),
      allowedHosts: z.array(z.string().min(1).max(253)).max(100).optional().describe('Hosts HTTP steps may call (`*.example.com` allowed)'),
      secrets: z
        .record(VariableName, SecretBinding)
        .refine((r) => Object.keys(r).length <= 50, 'at most 50 secret bindings')
        .optional()
        .describe('Variables bound to secrets, read at run time; usable only in authentication fields and headers, never stored'),
      steps: z.array(StepSchema).min(1).max(1000),
    })
    .strict(),
);

/**
 * The flow's finish reserve, ms: `finishReserveMs`, else {@link DEFAULT_FINISH_RESERVE_MS} or a
 * quarter of `deadlineMs` when that is less (a 200 ms flow keeps 50 ms), never under {@link MIN_CALL_MS}.
 */
export function finishReserveOf(flow: Pick<Flow, 'deadlineMs' | 'finishReserveMs'>): number {
  return flow.finishReserveMs ?? Math.max(MIN_CALL_MS, Math.min(DEFAULT_FINISH_RESERVE_MS, Math.floor(flow.deadlineMs / 4)));
}

/** A validated flow, defaults applied. */
export type Flow = z.infer<typeof FlowSchema>;
/** A flow as written in a file (defaults optional). */
export type FlowInput = z.input<typeof FlowSchema>;
/** One step of a flow, defaults applied. */
export type Step = Flow['steps'][number];
