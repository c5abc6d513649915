/**
 * Record mode of `ivrflow run … --record <file.test.json> [--case-name <name>]` (docs/testing.md):
 * the run's HTTP answers are kept per step path, and a flow test case is appended to the file:
 * the variables, each step's answers as `mocks`, and the observed status, branch, path and output
 * variables as `expect`. No credential is written: request headers are never kept, a value the run
 * sent as a credential is `***` in answers and outputs (and an input variable holding one becomes
 * a `test-<name>` placeholder), OAuth2 token requests are not recorded (a test answers them
 * itself), and the flow's `--secrets` become placeholders in the file's own `secrets`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { SecretRedactor } from '#shared/executor/redact';
import type { ExecutionSnapshot } from '#shared/executor/snapshot';
import { readJsonFile } from '#shared/flow/files';
import type { HttpClient, HttpFailure, HttpRequest, HttpResponse } from '#shared/http/client';
import { parseUntrustedJson } from '#shared/json';
import type { ExecutionResult } from '#shared/steps/types';
import { stepsOf } from '#shared/testing/runner';
import { checkTestFile, type MockAnswer, type TestCase, type TestFile } from '#shared/testing/test-file';

/** Response headers worth replaying; every other one (cookies, tokens, tracing) is left out. */
const KEPT_HEADERS = new Set(['content-type', 'retry-after', 'location']);

/** An HTTP client that passes every request on and keeps each step's answers as mocks. */
export class RecordingHttpClient implements HttpClient {
  /** The path of the step running now (set by the executor's `onStep`). */
  step = '';
  readonly answers = new Map<string, MockAnswer[]>();

  constructor(private readonly inner: HttpClient) {}

  async send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    const answer = await this.inner.send(request);
    if (request.method === 'POST' && /(^|&)grant_type=/.test(request.body ?? '')) return answer;
    const list = this.answers.get(this.step) ?? [];
    list.push(mockOf(answer));
    this.answers.set(this.step, list);
    return answer;
  }
}

function mockOf(answer: HttpResponse | HttpFailure): MockAnswer {
  if (answer.kind === 'timeout') return { timeout: true };
  if (answer.kind === 'dns') return { error: 'ENOTFOUND' };
  if (answer.kind !== 'response') return { error: 'ECONNREFUSED' };
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([k]) => KEPT_HEADERS.has(k)));
  const text = answer.body.toString('utf8');
  let body: unknown = text;
  try {
    body = text === '' ? undefined : parseUntrustedJson(text);
  } catch {
    body = text;
  }
  return { status: answer.status, ...(Object.keys(headers).length ? { headers } : {}), ...(body === undefined ? {} : { body }) };
}

/** What a recorded run leaves: the run, its snapshot (for the credentials it sent), the answers, and the flow-bound secrets it used. */
export interface RecordedRun {
  flowFile: string;
  flowsDir?: string;
  variables: Record<string, unknown>;
  result: ExecutionResult;
  snapshot: ExecutionSnapshot;
  answers: ReadonlyMap<string, MockAnswer[]>;
  secrets?: Record<string, Record<string, string>>;
}

/** The case a recorded run makes, credentials left out (see the module's header). */
export function recordedCase(run: RecordedRun, name: string): TestCase {
  const redactor = new SecretRedactor();
  for (const value of run.snapshot.secrets) redactor.add(value);
  for (const keys of Object.values(run.secrets ?? {})) for (const value of Object.values(keys)) redactor.add(value);
  const sent = new Set(run.snapshot.secrets);
  const variables = Object.fromEntries(Object.entries(run.variables).map(([k, v]) => [k, typeof v === 'string' && sent.has(v) ? `test-${k}` : redactor.redact(v)]));
  const mocks = Object.fromEntries([...run.answers].map(([step, list]) => [step, redactor.redact(list.length === 1 ? list[0]! : list)]));
  // Outputs that held a credential are not expected (they are `***` in the answer).
  const outputs = Object.fromEntries(Object.entries(run.result.variables).filter(([, v]) => !JSON.stringify(v ?? null).includes('***')));
  const { path } = stepsOf(run.result.trace, run.result.flowId);
  return {
    name,
    ...(Object.keys(variables).length ? { variables } : {}),
    ...(Object.keys(mocks).length ? { mocks } : {}),
    expect: { status: run.result.status === 'RUNNING' ? 'WAITING' : run.result.status, branch: run.result.branch, path, variables: redactor.redact(outputs) },
  };
}

/**
 * Appends the recorded case to `file` (created when missing, naming the flow relative to it).
 * @returns an error message (the file is left as it was), or undefined when written
 */
export function appendRecordedCase(file: string, run: RecordedRun, name: string | undefined): string | undefined {
  let test: TestFile;
  if (existsSync(file)) {
    const { value, error } = readJsonFile(file, parseUntrustedJson);
    if (error) return `${file}: ${error.code}: ${error.message}`;
    const checked = checkTestFile(value);
    if (!checked.file) return `${file}: ${checked.errors[0]!.code} ${checked.errors[0]!.path}: ${checked.errors[0]!.message}`;
    test = checked.file;
  } else {
    const at = (target: string) => relative(dirname(resolve(file)), resolve(target)) || '.';
    test = { flow: at(run.flowFile), ...(run.flowsDir ? { flows: at(run.flowsDir) } : {}), cases: [] as TestCase[] };
  }
  const caseName = name ?? `recorded ${run.result.startedAt}`;
  if (test.cases.some((c) => c.name === caseName)) return `${file}: a case named '${caseName}' exists; pass another --case-name`;
  if (run.secrets) {
    const placeholders = Object.fromEntries(Object.entries(run.secrets).map(([id, keys]) => [id, Object.fromEntries(Object.keys(keys).map((k) => [k, `test-${k}`]))]));
    test.secrets = { ...placeholders, ...test.secrets };
  }
  test.cases.push(recordedCase(run, caseName));
  writeFileSync(file, `${JSON.stringify(test, null, 2)}\n`);
  return undefined;
}
