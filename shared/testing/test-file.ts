/**
 * The flow test file format (`*.test.json`, usually next to its flow): one flow, the definitions it
 * needs, and cases of variables, mocks and expectations. The same zod schema validates the files
 * and generates the shipped `flow-test.schema.json` (`npm run schema`). Strict everywhere: an unknown
 * key is an error naming its JSON path. Paths in a file are relative to the file.
 *
 * Step ids in `mocks`, `circuits`, `expect.requests` and `expect.trace`: a step inside a sub-flow
 * (or a workflow run by `WorkflowExecute`) is `<callingStepId>/<stepId>`, nested as deep as the
 * flows are.
 */
import * as z from 'zod';
import type { Diagnostic } from '../errors';
import { diagnosticsOf } from '../flow/validate';

/** A step id, or a `/`-separated path of step ids through sub-flows and workflows. */
const StepPath = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a step id, or <callingStepId>/<stepId> for a step inside a sub-flow or workflow'),
);

/** Secrets of a test: `{ "<secretId>": { "<key>": "value" } }` (the shape of `ivrflow run --secrets`). */
export const TestSecrets = z.lazy(() => z.record(z.string().min(1).max(256), z.record(z.string().min(1), z.string())));

const Headers = z.lazy(() => z.record(z.string().min(1), z.string()));

/** A 202's callback: delivered `afterMs` (virtual ms) after the request, signed when the connection has a signing secret; `null`: never comes. */
const Callback = z.lazy(() => z.union([z.object({ afterMs: z.number().int().min(0).max(3_600_000), body: z.unknown(), headers: Headers.optional() }).strict(), z.null()]));

/** How one attempt is answered. */
export const MockAnswer = z.lazy(() =>
  z.union([
    z
      .object({
        status: z.number().int().min(100).max(599),
        headers: Headers.optional(),
        body: z.unknown().optional().describe('A JSON value, or a string sent as is'),
        delayMs: z.number().int().min(0).max(3_600_000).optional().describe('Virtual ms before the answer; at or over the attempt timeout it is a timeout'),
        callback: Callback.optional().describe('With a 202: the result delivered later to the callback URL'),
      })
      .strict(),
    z
      .object({ timeout: z.literal(true) })
      .strict()
      .describe('Never answers: the attempt ends at its timeout'),
    z
      .object({ error: z.enum(['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND']) })
      .strict()
      .describe('The connection fails'),
  ]),
);
export type MockAnswer = z.infer<typeof MockAnswer>;

/** A request as the expectation checks it: method and url exact, headers a case-insensitive subset, body a deep subset. */
const ExpectedRequest = z.lazy(() => z.object({ method: z.string().min(1).optional(), url: z.string().min(1).optional(), headers: Headers.optional(), body: z.unknown().optional() }).strict());

export const TestExpect = z.lazy(() =>
  z
    .object({
      status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'WAITING']).optional(),
      branch: z.string().optional(),
      path: z.array(StepPath).optional().describe('Every step entered, in order (exact)'),
      variables: z.record(z.string(), z.unknown()).optional().describe("A deep subset of the answer's variables"),
      error: z.record(z.string(), z.unknown()).optional().describe("A subset of the answer's error"),
      maxElapsedMs: z.number().int().min(0).optional().describe('Virtual ms the run may take at most'),
      requests: z.record(StepPath, z.array(ExpectedRequest)).optional().describe('Per step, per attempt'),
      trace: z.record(StepPath, z.record(z.string(), z.unknown())).optional().describe('Per step, a subset of its trace entry'),
    })
    .strict(),
);

export const TestCase = z.lazy(() =>
  z
    .object({
      name: z.string().min(1).max(256),
      variables: z.record(z.string(), z.unknown()).optional(),
      deadlineMs: z.number().int().min(100).max(30_000).optional(),
      agents: z
        .record(z.string().min(1), z.object({ joined: z.boolean() }).strict())
        .optional()
        .describe('Agent sessions for CustomEvent steps'),
      circuits: z
        .record(z.string().min(1), z.enum(['open', 'half-open', 'closed']))
        .optional()
        .describe('Circuit key → state at the start'),
      tokens: z
        .record(z.string().min(1), z.union([MockAnswer, z.array(MockAnswer).min(1)]))
        .optional()
        .describe('OAuth2 token requests by connection name or token endpoint URL; default: a valid token'),
      mocks: z
        .record(StepPath, z.union([MockAnswer, z.array(MockAnswer).min(1)]))
        .optional()
        .describe('Per step: one answer, or successive attempts (the last repeats)'),
      expect: TestExpect.optional(),
    })
    .strict(),
);
export type TestCase = z.infer<typeof TestCase>;

const FolderOrInline = z.lazy(() => z.union([z.string().min(1), z.record(z.string(), z.unknown())]));

export const TestFile = z.lazy(() =>
  z
    .object({
      $schema: z.string().optional(),
      flow: z.string().min(1).describe('The flow file, relative to this file'),
      flows: z
        .union([z.string().min(1), z.array(z.string().min(1))])
        .optional()
        .describe("Folder or files of sub-flows and workflow flows (default: the flow's folder)"),
      connections: FolderOrInline.optional().describe('A folder of connections, or inline ones by name (Flow API format)'),
      workflowConfigurations: FolderOrInline.optional(),
      secrets: TestSecrets.optional(),
      now: z.iso.datetime({ offset: true }).optional().describe('Start of the virtual clock; default 2026-01-01T00:00:00Z'),
      seed: z
        .number()
        .int()
        .min(0)
        .max(2 ** 31 - 1)
        .optional()
        .describe('Seed of the jitter'),
      cases: z.array(TestCase).min(1).max(1000),
    })
    .strict()
    .superRefine((file, ctx) => {
      const seen = new Map<string, number>();
      file.cases.forEach((c, i) => {
        if (seen.has(c.name)) ctx.addIssue({ code: 'custom', path: ['cases', i, 'name'], message: `case name '${c.name}' is already used by cases[${seen.get(c.name)}]` });
        else seen.set(c.name, i);
      });
    }),
);
export type TestFile = z.infer<typeof TestFile>;

/**
 * Checks a parsed test file. Never throws for any input.
 * @returns the file, or every problem as `{ code, path, message }` (JSON path into the file)
 */
export function checkTestFile(raw: unknown): { file: TestFile; errors: [] } | { file?: undefined; errors: Diagnostic[] } {
  const parsed = TestFile.safeParse(raw);
  return parsed.success ? { file: parsed.data, errors: [] } : { errors: diagnosticsOf(parsed.error.issues, { type: TestFile, input: raw }) };
}

/** The JSON Schema (draft 2020-12) of test files, shipped as `flow-test.schema.json`. */
export function testFileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(TestFile, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://ivrflow.dev/schemas/flow-test.schema.json', title: 'ivrflow flow test file' };
}
