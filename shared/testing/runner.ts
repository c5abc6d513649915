/**
 * The flow test runner (docs/testing.md): loads a `*.test.json` file with the flows, connections
 * and workflow configurations it names, and runs each case through the production executor,
 * steps, circuit breaker, token provider, callback verification and redaction, with only the
 * ports swapped (shared/testing/test-ports.ts): HTTP answered by step path, memory stores, a
 * virtual clock starting at the file's `now`, seeded jitter, execution ids `test-<n>`. No socket
 * is opened and no AWS client is built.
 *
 * An execution that suspends on an async step (202 Accepted) is resumed the way a deployment
 * resumes it: by the mocked callback, signed with the connection's webhook signing secret when
 * it has one and checked by the same verification as `POST /callbacks/{token}`, at its `afterMs`;
 * or by the wait's timeout when the callback is `null` or comes too late.
 */
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { AgentEventService, agentEventsService, MemoryAgentEventStore } from '../agents/agent-events';
import { ConnectionService } from '../api/connection-service';
import { parseCallbackBody, verifyCallbackSignature } from '../api/callback-service';
import { WorkflowConfigurationService } from '../api/workflow-configuration-service';
import { callbackEndpointService } from '../callbacks/callback-token';
import { FakeClock } from '../clock';
import { connectionsService, secretNamesService, secretStoreService, tokenProviderService } from '../connections/auth';
import { SecretNames } from '../connections/secret-names';
import { MemoryTokenRegistry } from '../connections/token-registry';
import { TokenProvider } from '../connections/token-provider';
import { IvrflowError, type Diagnostic } from '../errors';
import { advance, resume, resultOf, startExecution, type ExecutorDeps } from '../executor/executor';
import type { ExecutionSnapshot } from '../executor/snapshot';
import { folderResolver, readJsonFile } from '../flow/files';
import { acceptInputs, inputProblemsMessage } from '../flow/inputs';
import type { Flow } from '../flow/schema';
import { validateFlow } from '../flow/validate';
import { parseUntrustedJson } from '../json';
import { CircuitBreaker } from '../resilience/circuit-breaker';
import { circuitsService, clockService, httpService, ServiceContainer } from '../services';
import type { ExecutionResult, TraceEntry } from '../steps/types';
import { MemorySecretStore } from '../stores/secrets/memory-secret-store';
import { workflowConfigurationsService } from '../workflows/workflow-configuration';
import { shown, subsetMismatches, type Mismatch } from './match';
import { LoadedFlowStore, MemoryConnectionStore, MemoryWorkflowConfigurationStore } from './memory-stores';
import { checkTestFile, type TestCase, type TestFile } from './test-file';
import { MockHttpClient, SeededCircuitStore, seededRandomness, TEST_CALLBACK_BASE } from './test-ports';

/** A problem of a test file or of what it names: the file it is in, the JSON path there, a code and a message. */
export interface FileDiagnostic extends Diagnostic {
  file: string;
}

/** A test file, loaded and checked: ready to run. */
export interface LoadedTestFile {
  /** The file as given. */
  file: string;
  test: TestFile;
  /** The flow under test. */
  flow: Flow;
  /** Every flow the file's runs can reach (the flow under test, sub-flows, workflow flows), latest version first per id. */
  flows: ReadonlyMap<string, readonly Flow[]>;
  /** Connection bodies (Flow API format), by name. */
  connections: ReadonlyMap<string, unknown>;
  /** Workflow configuration bodies (Flow API format), by id. */
  workflowConfigurations: ReadonlyMap<string, unknown>;
}

/** A step a case took and the branch it left by, in the flow that step belongs to. */
export interface TakenBranch {
  flowId: string;
  stepId: string;
  /** The trace's branch (`OnSuccess`, `conditions[0]`, `defaultStepId`, `Default`, …). */
  branch: string;
  /** The step followed next; absent when the flow ended there. */
  next?: string;
}

/** What one case did and how it compared. */
export interface CaseResult {
  name: string;
  passed: boolean;
  status: ExecutionResult['status'];
  branch: string;
  /** Every step entered, in order (`<callingStepId>/<stepId>` inside sub-flows and workflows). */
  path: string[];
  /** Virtual ms from the start to the end. */
  elapsedMs: number;
  /** Where the run differs from `expect`. */
  mismatches: Mismatch[];
  /** What fails the case whatever it expects (`NO_MOCK: step …`, a callback with nowhere to go, an engine error). */
  problems: string[];
  /** What happened that a failure's diff should mention (a callback refused, as a deployment would refuse it). */
  notes: string[];
  error?: ExecutionResult['error'];
  /** The steps taken, for coverage. */
  taken: TakenBranch[];
}

/** The results of one file. */
export interface FileResult {
  file: string;
  flowId: string;
  cases: CaseResult[];
}

/** The default start of the virtual clock. */
export const DEFAULT_TEST_NOW = '2026-01-01T00:00:00Z';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON files of a folder, by base name (`crm.json` → `crm`). */
function jsonFilesByName(dir: string): Map<string, string> {
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => [f.slice(0, -'.json'.length), join(dir, f)]),
  );
}

/** Definitions from a folder of `<name>.json` files, or inline; problems name the file they are in. */
function definitions(base: string, given: string | Record<string, unknown> | undefined, key: string, file: string, errors: FileDiagnostic[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (given === undefined) return out;
  if (isObject(given)) {
    for (const [name, body] of Object.entries(given)) out.set(name, body);
    return out;
  }
  const dir = resolvePath(base, given);
  let files: Map<string, string>;
  try {
    files = jsonFilesByName(dir);
  } catch (err) {
    errors.push({ file, code: 'UNREADABLE_FILE', path: key, message: `${given}: ${(err as Error).message}` });
    return out;
  }
  for (const [name, path] of files) {
    const { value, error } = readJsonFile(path, parseUntrustedJson);
    if (error) errors.push({ ...error, file: path });
    else out.set(name, value);
  }
  return out;
}

/** The names a case runs with: definitions stored through the Flow API's own services, into memory. */
interface Definitions {
  clock: FakeClock;
  secrets: MemorySecretStore;
  names: SecretNames;
  connectionStore: MemoryConnectionStore;
  workflowConfigurations: MemoryWorkflowConfigurationStore;
  tokenRegistry: MemoryTokenRegistry;
}

/**
 * Stores a file's secrets, connections and workflow configurations for one case, each checked as
 * `PUT /connections/{name}` and `PUT /workflow-configurations/{id}` check it.
 * @returns the stores, or the problems (at `connections.<name>.<path>` of the file, or in the definition's own file)
 */
async function define(loaded: Omit<LoadedTestFile, 'flow'>, startMs: number): Promise<{ definitions: Definitions; errors: FileDiagnostic[] }> {
  const clock = new FakeClock(startMs);
  const secrets = new MemorySecretStore();
  const names = new SecretNames();
  const connectionStore = new MemoryConnectionStore();
  const workflowConfigurations = new MemoryWorkflowConfigurationStore();
  const tokenRegistry = new MemoryTokenRegistry();
  const errors: FileDiagnostic[] = [];
  for (const [secretId, keys] of Object.entries(loaded.test.secrets ?? {})) await secrets.putSecretJson(names.flowSecret(secretId), keys);
  const put = async (what: string, name: string, store: () => Promise<unknown>) => {
    try {
      await store();
    } catch (err) {
      if (!(err instanceof IvrflowError)) throw err;
      const details = Array.isArray(err.details) ? (err.details as Diagnostic[]) : [{ code: err.code, path: '', message: err.message }];
      for (const d of details) errors.push({ file: loaded.file, code: d.code, path: [what, name, d.path].filter(Boolean).join('.'), message: d.message });
    }
  };
  const connections = new ConnectionService({ store: connectionStore, secrets, names, registry: tokenRegistry, clock, allowPrivateHosts: true });
  for (const [name, body] of loaded.connections) await put('connections', name, () => connections.put(name, body));
  const configurations = new WorkflowConfigurationService({ store: workflowConfigurations, flows: new LoadedFlowStore(loaded.flows), connections: connectionStore, clock });
  for (const [id, body] of loaded.workflowConfigurations) await put('workflowConfigurations', id, () => configurations.put(id, body));
  return { definitions: { clock, secrets, names, connectionStore, workflowConfigurations, tokenRegistry }, errors };
}

/**
 * Reads and checks a test file and everything it names. Never throws for a bad file.
 * @returns the loaded file, or every problem found (test file, flow, sub-flows, connections, workflow configurations)
 */
export async function loadTestFile(file: string): Promise<{ loaded: LoadedTestFile; errors: [] } | { loaded?: undefined; errors: FileDiagnostic[] }> {
  const { value, error } = readJsonFile(file, parseUntrustedJson);
  if (error) return { errors: [{ ...error, file }] };
  const checked = checkTestFile(value);
  if (!checked.file) return { errors: checked.errors.map((d) => ({ ...d, file })) };
  const test = checked.file;
  const base = dirname(file);
  const flowFile = isAbsolute(test.flow) ? test.flow : join(base, test.flow);
  const read = readJsonFile(flowFile);
  if (read.error) return { errors: [{ ...read.error, file: flowFile }] };

  const errors: FileDiagnostic[] = [];
  const flows = new Map<string, Flow[]>();
  const invalid = new Map<string, string>();
  const add = (flow: Flow) => {
    const list = flows.get(flow.id) ?? [];
    list.push(flow);
    list.sort((a, b) => (b.version ?? 0) - (a.version ?? 0));
    flows.set(flow.id, list);
  };
  const folders = test.flows === undefined ? [dirname(flowFile)] : typeof test.flows === 'string' ? [resolvePath(base, test.flows)] : [];
  for (const dir of folders) {
    try {
      const found = await folderResolver(dir, true);
      for (const list of found.flows.values()) list.forEach(add);
      for (const [id, bad] of found.invalid) invalid.set(id, `flow '${id}' (file ${bad.file}) is invalid: ${bad.problem.code} ${bad.problem.path || '(root)'}: ${bad.problem.message}`);
    } catch (err) {
      errors.push({ file, code: 'UNREADABLE_FILE', path: 'flows', message: `${dir}: ${(err as Error).message}` });
    }
  }
  for (const [i, name] of (Array.isArray(test.flows) ? test.flows : []).entries()) {
    const path = resolvePath(base, name);
    const r = readJsonFile(path);
    const result = r.error ? undefined : await validateFlow(r.value, { allowPrivateHosts: true });
    if (r.error || !result?.flow) errors.push({ file: path, ...(r.error ?? result!.errors[0]!), ...(r.error ? { path: `flows[${i}]` } : {}) });
    else add(result.flow);
  }
  const connections = definitions(base, test.connections, 'connections', file, errors);
  const workflowConfigurations = definitions(base, test.workflowConfigurations, 'workflowConfigurations', file, errors);
  if (errors.length) return { errors };

  const stored = await define({ file, test, flows, connections, workflowConfigurations }, Date.parse(test.now ?? DEFAULT_TEST_NOW));
  if (stored.errors.length) return { errors: stored.errors };
  const store = stored.definitions.connectionStore;
  const result = await validateFlow(read.value, {
    allowPrivateHosts: true,
    flowExists: (id, version) => (flows.get(id)?.some((f) => version === undefined || (f.version ?? 1) === version) ? true : (invalid.get(id) ?? false)),
    connection: async (name) => {
      const c = await store.getConnection(name);
      return c && { hosts: c.allowedHosts ?? [new URL(c.baseUrl).hostname], requests: Object.keys(c.requests ?? {}) };
    },
  });
  if (!result.flow) return { errors: result.errors.map((d) => ({ ...d, file: flowFile })) };
  const flow = result.flow;
  // The file's own version of the flow under test wins over a same-id file in `flows`.
  flows.set(flow.id, [flow, ...(flows.get(flow.id) ?? []).filter((f) => (f.version ?? 1) !== (flow.version ?? 1))]);
  return { loaded: { file, test, flow, flows, connections, workflowConfigurations }, errors: [] };
}

/** Every `*.test.json` under the given files and folders (folders searched recursively, `node_modules` and dot folders skipped), sorted. */
export function findTestFiles(paths: readonly string[]): string[] {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) walk(join(dir, entry.name));
      } else if (entry.name.endsWith('.test.json')) out.add(join(dir, entry.name));
    }
  };
  for (const p of paths) {
    if (statSync(p).isDirectory()) walk(p);
    else out.add(p);
  }
  return [...out];
}

/**
 * The steps a trace entered, in order (a calling step before the steps of its sub-flow, as
 * `<callingStepId>/<stepId>`), the branches taken, and the last trace entry of each step path.
 */
export function stepsOf(trace: readonly TraceEntry[], flowId: string): { path: string[]; taken: TakenBranch[]; last: Map<string, TraceEntry> } {
  const out = { path: [] as string[], taken: [] as TakenBranch[], last: new Map<string, TraceEntry>() };
  walkTrace(trace, flowId, '', out.path, out.taken, out.last);
  return out;
}

function walkTrace(trace: readonly TraceEntry[], flowId: string, prefix: string, path: string[], taken: TakenBranch[], last: Map<string, TraceEntry>): void {
  for (const entry of trace) {
    const stepPath = `${prefix}${entry.stepId}`;
    path.push(stepPath);
    last.set(stepPath, entry);
    taken.push({ flowId, stepId: entry.stepId, branch: entry.branch, ...(entry.nextStepId ? { next: entry.nextStepId } : {}) });
    if (entry.subFlow) walkTrace(entry.subFlow.trace, entry.subFlow.flowId, `${stepPath}/`, path, taken, last);
  }
}

/** Where the run differs from what the case expects. */
function compare(expect: NonNullable<TestCase['expect']>, result: ExecutionResult, path: string[], elapsedMs: number, http: MockHttpClient, last: Map<string, TraceEntry>): Mismatch[] {
  const out: Mismatch[] = [];
  if (expect.status !== undefined && expect.status !== result.status) out.push({ path: 'status', expected: expect.status, actual: result.status });
  if (expect.branch !== undefined && expect.branch !== result.branch) out.push({ path: 'branch', expected: expect.branch, actual: result.branch });
  if (expect.path !== undefined && JSON.stringify(expect.path) !== JSON.stringify(path)) out.push({ path: 'path', expected: expect.path, actual: path });
  if (expect.variables !== undefined) out.push(...subsetMismatches(expect.variables, result.variables, 'variables'));
  if (expect.error !== undefined) out.push(...subsetMismatches(expect.error, result.error, 'error'));
  if (expect.maxElapsedMs !== undefined && elapsedMs > expect.maxElapsedMs) out.push({ path: 'maxElapsedMs', expected: `at most ${expect.maxElapsedMs} ms`, actual: `${elapsedMs} ms` });
  for (const [step, expected] of Object.entries(expect.requests ?? {})) {
    const at = `requests[${JSON.stringify(step)}]`;
    const actual = http.requests.get(step) ?? [];
    if (actual.length !== expected.length) out.push({ path: `${at}.length`, expected: expected.length, actual: actual.length });
    expected.forEach((want, i) => {
      const got = actual[i];
      if (!got) return;
      if (want.method !== undefined && want.method.toUpperCase() !== got.method) out.push({ path: `${at}[${i}].method`, expected: want.method, actual: got.method });
      if (want.url !== undefined && want.url !== got.url) out.push({ path: `${at}[${i}].url`, expected: want.url, actual: got.url });
      if (want.headers !== undefined) out.push(...subsetMismatches(want.headers, got.headers, `${at}[${i}].headers`, true));
      if (want.body !== undefined) out.push(...subsetMismatches(want.body, got.body, `${at}[${i}].body`));
    });
  }
  for (const [step, expected] of Object.entries(expect.trace ?? {})) out.push(...subsetMismatches(expected, last.get(step), `trace[${JSON.stringify(step)}]`));
  return out;
}

/** Everything a case runs with: its clock, ports and services. */
async function caseDeps(loaded: LoadedTestFile, testCase: TestCase, defs: Definitions, http: MockHttpClient): Promise<ExecutorDeps> {
  const { clock, secrets, names, connectionStore, workflowConfigurations, tokenRegistry } = defs;
  const circuits = new CircuitBreaker({ store: new SeededCircuitStore(testCase.circuits ?? {}, clock, () => http.step), clock, instanceId: 'test' });
  const agents = new AgentEventService({ store: new MemoryAgentEventStore(), clock });
  for (const [agentId, { joined }] of Object.entries(testCase.agents ?? {})) if (joined) await agents.join(agentId);
  const services = new ServiceContainer()
    .provide(clockService, clock)
    .provide(httpService, http)
    .provide(circuitsService, circuits)
    .provide(secretStoreService, secrets)
    .provide(secretNamesService, names)
    .provide(tokenProviderService, new TokenProvider({ registry: tokenRegistry, secrets, names, http, clock, instanceId: 'test' }))
    .provide(connectionsService, { get: (name) => connectionStore.getConnection(name) })
    .provide(callbackEndpointService, { baseUrl: TEST_CALLBACK_BASE })
    .provide(agentEventsService, agents)
    .provide(workflowConfigurationsService, workflowConfigurations);
  const flows = new LoadedFlowStore(loaded.flows);
  return { clock, randomness: seededRandomness(loaded.test.seed ?? 1), resolveFlow: (id, version) => flows.getFlow(id, version), http, circuits, services, onStep: (stepPath) => (http.step = stepPath) };
}

/**
 * Resumes a suspended execution as a deployment would: with the callback its step's mock promised
 * (delivered at its time, signed and verified when the wait's connection has a signing secret), or
 * with the wait's timeout.
 */
async function settleWait(snapshot: ExecutionSnapshot, deps: ExecutorDeps, defs: Definitions, http: MockHttpClient): Promise<ExecutionSnapshot> {
  const wait = snapshot.wait!;
  const promised = http.callbacks.get(wait.waitId);
  const clock = defs.clock;
  if (promised && promised.at !== null && promised.at < wait.until) {
    if (promised.at > clock.now()) clock.advance(promised.at - clock.now());
    const raw = typeof promised.body === 'string' ? promised.body : JSON.stringify(promised.body ?? null);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const connection = wait.callback?.connection;
    try {
      if (connection !== undefined) {
        const secret = (await defs.secrets.getSecretJson(defs.names.connection(connection)))?.['webhookSigningSecret'];
        // Standard Webhooks checks the timestamp against the real clock (5 minutes' tolerance): signed now.
        if (secret !== undefined) Object.assign(headers, signatureHeaders(secret, `msg_${wait.waitId.slice(0, 24)}`, raw));
      }
      // The mock's own headers come last: a case can send a forged `webhook-signature`.
      for (const [k, v] of Object.entries(promised.headers)) headers[k.toLowerCase()] = v;
      if (connection !== undefined) {
        await verifyCallbackSignature({ connections: { get: (name) => defs.connectionStore.getConnection(name) }, secrets: defs.secrets, names: defs.names }, connection, raw, headers);
      }
      return await resume(snapshot, { waitId: wait.waitId, payload: parseCallbackBody(raw) }, deps);
    } catch (err) {
      if (!(err instanceof IvrflowError)) throw err;
      // Refused as a deployment refuses it (a forged signature, a body that is not JSON): the wait times out.
      http.notes.push(`callback refused: step ${promised.step}: ${err.code}: ${err.message}`);
    }
  }
  if (wait.until > clock.now()) clock.advance(wait.until - clock.now());
  return resume(snapshot, { waitId: wait.waitId, timedOut: true }, deps);
}

/** The Standard Webhooks headers of a body signed with `secret` (`whsec_` + base64). */
function signatureHeaders(secret: string, id: string, body: string): Record<string, string> {
  const at = new Date();
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, body) };
}

/** Runs one case of a loaded file. Never throws for what the flow, its mocks or its expectations do; an engine fault is a problem of the case. */
export async function runCase(loaded: LoadedTestFile, testCase: TestCase): Promise<CaseResult> {
  const startMs = Date.parse(loaded.test.now ?? DEFAULT_TEST_NOW);
  const { definitions: defs } = await define(loaded, startMs);
  const endpoints = new Map<string, string[]>();
  for (const name of loaded.connections.keys()) {
    const c = await defs.connectionStore.getConnection(name);
    if (c?.authentication.type === 'oauth2') endpoints.set(c.authentication.tokenEndpoint, [...(endpoints.get(c.authentication.tokenEndpoint) ?? []), name]);
  }
  const http = new MockHttpClient(defs.clock, testCase, endpoints);
  const deps = await caseDeps(loaded, testCase, defs, http);
  const flow = loaded.flow;
  let result: ExecutionResult;
  const problems: string[] = [];
  const accepted = acceptInputs(flow, testCase.variables ?? {});
  if (accepted.problems.length) {
    result = {
      executionId: '',
      flowId: flow.id,
      flowVersion: flow.version ?? 0,
      status: 'FAILED',
      branch: '',
      variables: {},
      trace: [],
      error: { code: 'INVALID_INPUT', message: inputProblemsMessage(flow.id, accepted.problems) },
      startedAt: new Date(startMs).toISOString(),
      durationMs: 0,
    };
  } else {
    try {
      let snapshot = await advance(startExecution(flow, { variables: accepted.variables, ...(testCase.deadlineMs ? { deadlineMs: testCase.deadlineMs } : {}) }, deps), deps, { flows: [flow] });
      while (snapshot.status === 'WAITING') snapshot = await settleWait(snapshot, deps, defs, http);
      await deps.circuits!.settled();
      result = resultOf(snapshot, defs.clock.now());
    } catch (err) {
      problems.push(`ENGINE_ERROR: ${(err as Error).message}`);
      result = {
        executionId: '',
        flowId: flow.id,
        flowVersion: flow.version ?? 0,
        status: 'FAILED',
        branch: '',
        variables: {},
        trace: [],
        error: { code: 'ENGINE_ERROR', message: (err as Error).message },
        startedAt: new Date(startMs).toISOString(),
        durationMs: 0,
      };
    }
  }
  const { path, taken, last } = stepsOf(result.trace, flow.id);
  const elapsedMs = defs.clock.now() - startMs;
  const mismatches = testCase.expect ? compare(testCase.expect, result, path, elapsedMs, http, last) : [];
  problems.unshift(...http.problems);
  return {
    name: testCase.name,
    passed: mismatches.length === 0 && problems.length === 0,
    status: result.status,
    branch: result.branch,
    path,
    elapsedMs,
    mismatches,
    problems,
    notes: http.notes,
    ...(result.error ? { error: result.error } : {}),
    taken,
  };
}

/**
 * Runs the cases of a loaded file, in order, each from a fresh state.
 * @param only run only the case of this name
 */
export async function runTestFile(loaded: LoadedTestFile, only?: string): Promise<FileResult> {
  const cases: CaseResult[] = [];
  for (const c of loaded.test.cases) if (only === undefined || c.name === only) cases.push(await runCase(loaded, c));
  return { file: loaded.file, flowId: loaded.flow.id, cases };
}

/** The lines that explain a failed case: each problem, each mismatch (expected and actual), and the path taken. */
export function failureLines(result: CaseResult): string[] {
  return [
    ...result.problems,
    ...result.mismatches.map((m) => (m.path === 'path' ? `path: expected ${(m.expected as string[]).join(' → ') || '(none)'}` : `${m.path}: expected ${shown(m.expected)}, got ${shown(m.actual)}`)),
    ...result.notes,
    `path taken: ${result.path.join(' → ') || '(none)'} (${result.status}${result.branch ? ` on ${result.branch}` : ''}${result.error ? `, ${result.error.code}: ${result.error.message}` : ''})`,
  ];
}
