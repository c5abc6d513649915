/**
 * callerFit and parseCaller (docs/caller-fit.md): worst cases computed by hand in each test's name
 * (attempts × timeout + the largest backoffs, sub-flows and workflows folded in, loops counted
 * once, async waits left out), each diagnostic, each caller form, and the example flows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '#shared/errors';
import { CallerError, callerFit, MAX_LISTED_PATHS, parseCaller, type CallerFitReport } from '#shared/flow/caller-fit';
import { folderResolver } from '#shared/flow/files';
import type { Flow } from '#shared/flow/schema';
import { parsed } from '../../support/flows';

const URL = 'https://api.crm.example.com/v2/accounts';
const http = (id: string, configuration: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'HTTPRequest', configuration: { url: URL, ...configuration }, ...extra });
const end = (id: string, outcome = 'Done') => ({ id, type: 'End', configuration: { outcome } });
const assign = (id: string, next: string) => ({ id, type: 'DataAPI', configuration: { operation: 'assign', variables: { x: 1 } }, next });
const condition = (id: string, targets: string[], otherwise: string) => ({
  id,
  type: 'Condition',
  configuration: { conditions: targets.map((t, i) => ({ expression: `x == ${i}`, nextStepId: t })), defaultStepId: otherwise },
});
/** An HTTP step routed on success and failure alike, so it raises no NO_TIMEOUT_FALLBACK. */
const routed = (id: string, configuration: Record<string, unknown>, to: string) => http(id, configuration, { branches: { OnSuccess: to, OnError: to } });

const codes = (list: CallerFitReport['errors']) => list.map((d) => d.code);
const figureOf = (report: CallerFitReport, stepId: string) => report.steps.find((s) => s.stepId === stepId)!;

describe('parseCaller: each caller and its limit', () => {
  it.each([
    ['connect', { name: 'connect', limitMs: 8000 }],
    ['connect:3000', { name: 'connect', limitMs: 3000 }],
    ['connect:8000', { name: 'connect', limitMs: 8000 }],
    ['twilio', { name: 'twilio', limitMs: 10000 }],
    ['twilio:9500', { name: 'twilio', limitMs: 9500 }],
    ['cxone:5000', { name: 'cxone', limitMs: 5000, retries: true }],
    ['cxone:90000', { name: 'cxone', limitMs: 90000, retries: true }],
    ['genesys:4000', { name: 'genesys', limitMs: 4000 }],
    ['6500', { name: 'custom', limitMs: 6500 }],
    [' Connect:2500 ', { name: 'connect', limitMs: 2500 }],
  ])('%s → %o', (text, caller) => {
    expect(parseCaller(text)).toEqual(caller);
  });

  it.each([
    ['connect:abc', /'abc' is not a whole number/],
    ['connect:9000', /9000 ms exceeds connect's 8000 ms maximum/],
    ['twilio:10001', /exceeds twilio's 10000 ms maximum/],
    ['cxone', /caller cxone needs its timeout: cxone:<ms>/],
    ['cxone:95000', /95000 ms exceeds cxone's 90000 ms maximum/],
    ['genesys', /caller genesys needs its timeout/],
    ['0', /positive number of milliseconds/],
    ['connect:0', /positive number of milliseconds/],
    ['-3000', /not a whole number/],
    ['connect:-1', /not a whole number/],
    ['connect:2.5', /not a whole number/],
    ['connect:', /not a whole number/],
    ['avaya:3000', /unknown caller 'avaya'/],
    ['', /the caller is empty/],
  ])('%j is refused: %s, and the message lists the valid forms', (text, why) => {
    let error: unknown;
    try {
      parseCaller(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CallerError);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as CallerError).code).toBe('INVALID_CALLER');
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).toContain('use connect (8000 ms), connect:<ms> (at most 8000), twilio (10000 ms), twilio:<ms> (at most 10000), cxone:<ms> (at most 90000), genesys:<ms>, or <ms>');
  });
});

describe('callerFit: HTTPRequest costs attempts × timeout + the largest backoffs', () => {
  const retried = async (deadlineMs = 10000) => parsed([routed('lookup', { method: 'GET', timeout: 3000, retryPolicy: { maxRetries: 2, backoff: 'exponential' } }, 'done'), end('done')], { deadlineMs });

  it('flat flow: 3 attempts × 3000 ms + backoff 100 + 200 = 9300 ms > connect 8000: CALLER_DEADLINE_EXCEEDED naming the path, its ms and the limit', async () => {
    const report = callerFit(await retried(), { caller: parseCaller('connect') });
    expect(report).toMatchObject({ limitMs: 8000, deadlineMs: 10000, worstCaseMs: 9300, worstCaseExact: true, pathsTruncated: false });
    expect(report.paths).toEqual([{ path: ['lookup', 'done'], worstCaseMs: 9300, endsBy: 'End' }]);
    expect(figureOf(report, 'lookup')).toMatchObject({ worstCaseMs: 9300, timeoutMs: 3000, attempts: 3, backoffMs: [100, 200], basis: '3 attempts × 3000 ms + backoff 100 + 200 ms' });
    expect(report.errors).toEqual([
      {
        code: 'CALLER_DEADLINE_EXCEEDED',
        path: 'steps[0]',
        message: "path lookup → done can take 9300 ms in the worst case, more than the 8000 ms limit of the caller (connect:8000); it passes the limit at step 'lookup' (3 attempts × 3000 ms + backoff 100 + 200 ms)",
      },
    ]);
    expect(report.warnings).toEqual([]);
  });

  it('the same 9300 ms fits twilio 10000 and the flow deadline 10000: no diagnostic', async () => {
    const report = callerFit(await retried(), { caller: parseCaller('twilio') });
    expect(report.limitMs).toBe(10000);
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
  });

  it('the limit is min(deadlineMs 5000, twilio 10000) = 5000 ms: 9300 > 5000 names the flow deadline', async () => {
    const report = callerFit(await retried(5000), { caller: parseCaller('twilio') });
    expect(report.limitMs).toBe(5000);
    expect(report.errors[0]!.message).toContain("more than the flow's 5000 ms deadlineMs (under the caller's twilio:10000)");
  });

  it('without a caller the flow deadline (default 8000) is the limit and the checks are warnings: 9300 > 8000', async () => {
    const flow = await parsed([routed('lookup', { timeout: 3000, retryPolicy: { maxRetries: 2 } }, 'done'), end('done')]);
    const report = callerFit(flow);
    expect(report).toMatchObject({ limitMs: 8000, deadlineMs: 8000, worstCaseMs: 9300 });
    expect(report.errors).toEqual([]);
    expect(codes(report.warnings)).toEqual(['CALLER_DEADLINE_EXCEEDED']);
    expect(report.warnings[0]!.message).toContain("more than the flow's 8000 ms deadlineMs");
  });

  it('defaults: no timeout and no retryPolicy = 1 attempt × 5000 ms = 5000 ms', async () => {
    const report = callerFit(await parsed([routed('lookup', {}, 'done'), end('done')]));
    expect(figureOf(report, 'lookup')).toMatchObject({ worstCaseMs: 5000, attempts: 1, timeoutMs: 5000, backoffMs: [] });
  });

  it('POST without an Idempotency-Key is never retried: maxRetries 2 → 1 attempt × 4000 ms = 4000 ms', async () => {
    const report = callerFit(await parsed([routed('ticket', { method: 'POST', timeout: 4000, retryPolicy: { maxRetries: 2 } }, 'done'), end('done')]));
    expect(report.worstCaseMs).toBe(4000);
    expect(figureOf(report, 'ticket').basis).toContain('never retried: not an idempotent method');
  });

  it('POST with an Idempotency-Key header is retried: 3 attempts × 1000 ms + backoff 100 + 200 = 3300 ms', async () => {
    const flow = await parsed([routed('ticket', { method: 'POST', timeout: 1000, headers: { 'Idempotency-Key': '{{flow_execution_id}}' }, retryPolicy: { maxRetries: 2 } }, 'done'), end('done')]);
    expect(callerFit(flow).worstCaseMs).toBe(3300);
  });

  it('fixed backoff: 4 attempts × 1000 ms + 3 × 250 ms = 4750 ms', async () => {
    const flow = await parsed([routed('lookup', { timeout: 1000, retryPolicy: { maxRetries: 3, backoff: 'fixed', initialDelayMs: 250 } }, 'done'), end('done')]);
    expect(callerFit(flow).worstCaseMs).toBe(4750);
  });

  it('exponential backoff capped by maxDelayMs 1000: 5 attempts × 500 ms + 300 + 600 + 1000 + 1000 = 5400 ms', async () => {
    const flow = await parsed([routed('lookup', { timeout: 500, retryPolicy: { maxRetries: 4, initialDelayMs: 300, maxDelayMs: 1000 } }, 'done'), end('done')]);
    const report = callerFit(flow);
    expect(figureOf(report, 'lookup').backoffMs).toEqual([300, 600, 1000, 1000]);
    expect(report.worstCaseMs).toBe(5400);
  });

  it('nothing retried (retryOnTimeout false, no status codes): maxRetries 3 → 1 attempt × 2000 ms = 2000 ms', async () => {
    const flow = await parsed([routed('lookup', { timeout: 2000, retryPolicy: { maxRetries: 3, retryOnTimeout: false, retryOnStatusCodes: [] } }, 'done'), end('done')]);
    expect(callerFit(flow).worstCaseMs).toBe(2000);
  });

  it('an async step costs its request only: 1 attempt × 2000 ms, the 60000 ms wait not counted = 2000 ms ≤ connect 8000', async () => {
    const flow = await parsed([
      http('job', { method: 'POST', timeout: 2000, body: { notify: '{{callback_url}}' }, async: { maxWaitMs: 60000 } }, { branches: { OnSuccess: 'done', OnTimeout: 'fallback', OnError: 'fallback' } }),
      end('done'),
      end('fallback', 'Fallback'),
    ]);
    const report = callerFit(flow, { caller: parseCaller('connect') });
    expect(report.worstCaseMs).toBe(2000);
    expect(figureOf(report, 'job').basis).toBe('1 attempt × 2000 ms; async: the wait for the callback is not counted');
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
  });

  it('branches: 500 ms then either 1000 ms or 2500 ms; worst path 500 + 2500 = 3000 ms, paths listed worst first', async () => {
    const flow = await parsed([routed('first', { timeout: 500 }, 'pick'), condition('pick', ['cheap'], 'dear'), routed('cheap', { timeout: 1000 }, 'done'), routed('dear', { timeout: 2500 }, 'done'), end('done')]);
    const report = callerFit(flow);
    expect(report.paths).toEqual([
      { path: ['first', 'pick', 'dear', 'done'], worstCaseMs: 3000, endsBy: 'End' },
      { path: ['first', 'pick', 'cheap', 'done'], worstCaseMs: 1500, endsBy: 'End' },
    ]);
  });

  it('how a path ends: at an End (700 ms), where its loop closes (700 ms), at a step without transitions (0 ms)', async () => {
    const flow = await parsed([http('only', { timeout: 700 }, { branches: { OnError: 'fail' } }), end('fail')]);
    expect(callerFit(flow).paths).toEqual([{ path: ['only', 'fail'], worstCaseMs: 700, endsBy: 'End' }]);
    const alone = await parsed([assign('a', 'b'), http('b', { timeout: 700 }, { branches: { OnError: 'b' } })]);
    expect(callerFit(alone).paths).toEqual([{ path: ['a', 'b'], worstCaseMs: 700, endsBy: 'loop' }]);
    const last = await parsed([assign('a', 'b'), assign('b', 'c'), { id: 'c', type: 'DataAPI', configuration: { operation: 'assign', variables: { y: 2 } } }]);
    expect(callerFit(last).paths).toEqual([{ path: ['a', 'b', 'c'], worstCaseMs: 0, endsBy: 'lastStep' }]);
  });
});

describe('callerFit: a loop is counted once (simple paths never repeat a step)', () => {
  it('lookup 1000 → check → (retry 2000 → back to lookup | End): the loop path is 1000 + 2000 = 3000 ms, the exit 1000 ms', async () => {
    const flow = await parsed([routed('lookup', { timeout: 1000 }, 'check'), condition('check', ['retry'], 'done'), routed('retry', { timeout: 2000 }, 'lookup'), end('done')]);
    const report = callerFit(flow, { caller: parseCaller('connect:2500') });
    expect(report.paths).toEqual([
      { path: ['lookup', 'check', 'retry'], worstCaseMs: 3000, endsBy: 'loop' },
      { path: ['lookup', 'check', 'done'], worstCaseMs: 1000, endsBy: 'End' },
    ]);
    expect(report.worstCaseMs).toBe(3000);
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]).toMatchObject({ code: 'CALLER_DEADLINE_EXCEEDED', path: 'steps[2]' });
    expect(report.errors[0]!.message).toContain("path lookup → check → retry can take 3000 ms in the worst case, more than the 2500 ms limit of the caller (connect:2500); it passes the limit at step 'retry'");
  });
});

describe('callerFit: SubFlow counts its flow’s worst case', () => {
  const child = (deadlineMs = 6000) => parsed([routed('get', { timeout: 1500, retryPolicy: { maxRetries: 1 } }, 'ok'), end('ok')], { id: 'child', deadlineMs });
  const parent = () => parsed([routed('pre', { timeout: 1000 }, 'call'), { id: 'call', type: 'SubFlow', configuration: { flowId: 'child' }, branches: { OnSuccess: 'done', OnError: 'done' } }, end('done')], { id: 'parent' });

  it('1000 + sub-flow (2 attempts × 1500 ms + backoff 100 = 3100) = 4100 ms > connect:4000', async () => {
    const c = await child();
    const report = callerFit(await parent(), { caller: parseCaller('connect:4000'), flows: new Map([['child', c]]) });
    expect(figureOf(report, 'call')).toMatchObject({ worstCaseMs: 3100, flowId: 'child', flowPath: ['get', 'ok'], basis: "flow 'child' worst case 3100 ms" });
    expect(report.paths).toEqual([{ path: ['pre', 'call', 'done'], worstCaseMs: 4100, endsBy: 'End' }]);
    expect(report.errors[0]!.message).toContain("path pre → call → done can take 4100 ms in the worst case, more than the 4000 ms limit of the caller (connect:4000); it passes the limit at step 'call' (flow 'child' worst case 3100 ms)");
    expect(report.warnings).toEqual([]);
  });

  it('a sub-flow whose 3100 ms passes its own deadlineMs 2000 is cut there: 1000 + 2000 = 3000 ms, SUBFLOW_DEADLINE_EXCEEDED', async () => {
    const report = callerFit(await parent(), { flows: new Map([['child', await child(2000)]]) });
    expect(report.worstCaseMs).toBe(3000);
    expect(figureOf(report, 'call').basis).toBe("flow 'child' worst case 3100 ms, cut at its deadlineMs 2000 ms");
    expect(report.warnings).toEqual([
      {
        code: 'SUBFLOW_DEADLINE_EXCEEDED',
        path: 'steps[1].configuration.flowId',
        message:
          "flow 'child' (step 'call') can take 3100 ms (get → ok), more than its own 2000 ms deadlineMs: the engine cuts it there (its calls end by that deadline less its finish reserve), so its timeouts and retries do not run as configured",
      },
    ]);
  });

  it('a sub-flow not given counts 0 ms (1000 ms in all) and says so: SUBFLOW_NOT_RESOLVED', async () => {
    const report = callerFit(await parent());
    expect(report.worstCaseMs).toBe(1000);
    expect(codes(report.warnings)).toEqual(['SUBFLOW_NOT_RESOLVED']);
    expect(report.warnings[0]!.path).toBe('steps[1].configuration.flowId');
  });

  it('a grandchild not given is named at the SubFlow step: SUBFLOW_NOT_RESOLVED', async () => {
    const middle = await parsed([{ id: 'deeper', type: 'SubFlow', configuration: { flowId: 'missing' }, next: 'ok' }, end('ok')], { id: 'child' });
    const report = callerFit(await parent(), { flows: new Map([['child', middle]]) });
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]!.message).toContain("child: step 'deeper' calls flow 'missing', which was not given");
  });

  it('recursion is cycle-safe and counted once: a (500) → b (700) → a again (0) = 1200 ms', async () => {
    const a = await parsed([routed('a-get', { timeout: 500 }, 'a-call'), { id: 'a-call', type: 'SubFlow', configuration: { flowId: 'b' }, next: 'a-end' }, end('a-end')], { id: 'a' });
    const b = await parsed([routed('b-get', { timeout: 700 }, 'b-call'), { id: 'b-call', type: 'SubFlow', configuration: { flowId: 'a' }, next: 'b-end' }, end('b-end')], { id: 'b' });
    const flows = new Map([
      ['a', a],
      ['b', b],
    ]);
    const report = callerFit(a, { flows });
    expect(report.worstCaseMs).toBe(1200);
    expect(codes(report.warnings)).toEqual(['SUBFLOW_NOT_RESOLVED']);
    expect(report.warnings[0]!.message).toContain("b: step 'b-call' runs flow 'a', which is already running above it (counted once)");
    const self = await parsed([routed('get', { timeout: 300 }, 'again'), { id: 'again', type: 'SubFlow', configuration: { flowId: 'test-flow' }, next: 'done' }, end('done')]);
    const selfReport = callerFit(self, { flows: new Map([['test-flow', self]]) });
    expect(selfReport.worstCaseMs).toBe(300);
    expect(codes(selfReport.warnings)).toEqual(['SUBFLOW_RECURSION']);
  });

  it('the same sub-flow called twice counts twice: 3100 + 3100 = 6200 ms', async () => {
    const flow = await parsed([{ id: 'one', type: 'SubFlow', configuration: { flowId: 'child' }, next: 'two' }, { id: 'two', type: 'SubFlow', configuration: { flowId: 'child' }, next: 'done' }, end('done')]);
    expect(callerFit(flow, { flows: new Map([['child', await child()]]) }).worstCaseMs).toBe(6200);
  });
});

describe('callerFit: WorkflowExecute costs its timeoutMilliSec', () => {
  const workflowStep = (configuration: Record<string, unknown> = {}) => ({
    id: 'wf',
    type: 'WorkflowExecute',
    configuration: { configurationId: 'crm-agent', workflowId: 'search-contact', ...configuration },
    branches: { OnSuccess: 'done', OnTimeout: 'done' },
  });

  it('default timeoutMilliSec 6000 ms > connect:3000: CALLER_DEADLINE_EXCEEDED and STEP_TIMEOUT_EXCEEDS_DEADLINE', async () => {
    const report = callerFit(await parsed([workflowStep(), end('done')]), { caller: parseCaller('connect:3000') });
    expect(figureOf(report, 'wf')).toMatchObject({ worstCaseMs: 6000, timeoutMs: 6000, basis: 'timeoutMilliSec 6000 ms' });
    expect(codes(report.errors)).toEqual(['CALLER_DEADLINE_EXCEEDED', 'STEP_TIMEOUT_EXCEEDS_DEADLINE']);
    expect(report.errors[1]).toMatchObject({ path: 'steps[0].configuration.timeoutMilliSec' });
    expect(report.errors[1]!.message).toContain("step 'wf' (WorkflowExecute) lets its workflow take 6000 ms, more than the 3000 ms limit of the caller (connect:3000)");
  });

  it('a resolved workflow flow of 1 attempt × 2000 ms = 2000 ms under timeoutMilliSec 4000 counts 2000 ms', async () => {
    const workflow = await parsed([routed('search', { timeout: 2000 }, 'ok'), end('ok')], { id: 'crm-search', flowType: 'Workflow' });
    const asked: string[] = [];
    const report = callerFit(await parsed([workflowStep({ timeoutMilliSec: 4000 }), end('done')]), {
      workflowFlow: (configurationId, workflowId) => {
        asked.push(`${configurationId}/${workflowId}`);
        return workflow;
      },
    });
    expect(asked).toEqual(['crm-agent/search-contact']);
    expect(figureOf(report, 'wf')).toMatchObject({ worstCaseMs: 2000, flowId: 'crm-search', flowPath: ['search', 'ok'] });
  });

  it('a resolved workflow of 1 attempt × 5000 ms is cut at timeoutMilliSec 3000 ms', async () => {
    const workflow = await parsed([routed('search', { timeout: 5000 }, 'ok'), end('ok')], { id: 'crm-search', flowType: 'Workflow', deadlineMs: 8000 });
    const report = callerFit(await parsed([workflowStep({ timeoutMilliSec: 3000 }), end('done')]), { workflowFlow: () => workflow });
    expect(figureOf(report, 'wf')).toMatchObject({ worstCaseMs: 3000, basis: "flow 'crm-search' worst case 5000 ms, cut at timeoutMilliSec 3000 ms" });
  });

  it('templated ids are not resolved: timeoutMilliSec 6000 ms', async () => {
    let asked = 0;
    const report = callerFit(await parsed([workflowStep({ workflowId: '{{which}}' }), end('done')]), {
      workflowFlow: () => {
        asked++;
        return undefined;
      },
    });
    expect(asked).toBe(0);
    expect(report.worstCaseMs).toBe(6000);
  });
});

describe('callerFit: IntegrationHubExecute uses the connection request’s timeout', () => {
  const hub = (extra: Record<string, unknown> = {}) => ({
    id: 'hub',
    type: 'IntegrationHubExecute',
    configuration: { connectName: 'crm', requestName: 'lookup-account', ...extra },
    branches: { OnSuccess: 'done', OnTimeout: 'done', OnError: 'done' },
  });

  it('a known 2500 ms request with maxRetries 1: 2 attempts × 2500 ms + backoff 100 = 5100 ms', async () => {
    const asked: string[] = [];
    const report = callerFit(await parsed([hub({ retryPolicy: { maxRetries: 1 } }), end('done')]), {
      connectionTimeoutMs: (connection, request) => {
        asked.push(`${connection}/${request}`);
        return 2500;
      },
    });
    expect(asked).toEqual(['crm/lookup-account']);
    expect(report.worstCaseMs).toBe(5100);
  });

  it("an unknown connection assumes a connection's default: 1 attempt × 5000 ms = 5000 ms", async () => {
    const report = callerFit(await parsed([hub(), end('done')]));
    expect(figureOf(report, 'hub')).toMatchObject({ worstCaseMs: 5000, timeoutMs: 5000 });
    expect(figureOf(report, 'hub').basis).toContain("a connection's default 5000 ms assumed");
  });

  it('a 9000 ms request > connect 8000: STEP_TIMEOUT_EXCEEDS_DEADLINE (error with a caller, warning without)', async () => {
    const flow = await parsed([hub(), end('done')], { deadlineMs: 10000 });
    const withCaller = callerFit(flow, { caller: parseCaller('connect'), connectionTimeoutMs: () => 9000 });
    expect(codes(withCaller.errors)).toEqual(['CALLER_DEADLINE_EXCEEDED', 'STEP_TIMEOUT_EXCEEDS_DEADLINE']);
    expect(withCaller.errors[1]).toMatchObject({ path: 'steps[0].configuration.connectName' });
    expect(withCaller.errors[1]!.message).toContain("step 'hub' (IntegrationHubExecute) lets one attempt take 9000 ms, more than the 8000 ms limit of the caller (connect:8000)");
    const alone = callerFit(await parsed([hub(), end('done')], { deadlineMs: 8000 }), { connectionTimeoutMs: () => 9000 });
    expect(alone.errors).toEqual([]);
    expect(codes(alone.warnings)).toEqual(['CALLER_DEADLINE_EXCEEDED', 'STEP_TIMEOUT_EXCEEDS_DEADLINE']);
  });
});

describe('callerFit: diagnostics', () => {
  it('STEP_TIMEOUT_EXCEEDS_DEADLINE: one HTTP attempt of 9000 ms > connect 8000 (and the path, 9000 ms, too)', async () => {
    const report = callerFit(await parsed([routed('slow', { timeout: 9000 }, 'done'), end('done')], { deadlineMs: 12000 }), { caller: parseCaller('connect') });
    expect(report.errors.map((d) => `${d.code} ${d.path}`)).toEqual(['CALLER_DEADLINE_EXCEEDED steps[0]', 'STEP_TIMEOUT_EXCEEDS_DEADLINE steps[0].configuration.timeout']);
  });

  it('STEP_TIMEOUT_EXCEEDS_DEADLINE is not raised for a timeout equal to the limit (8000 ms = connect 8000)', async () => {
    const report = callerFit(await parsed([routed('edge', { timeout: 8000 }, 'done'), end('done')]), { caller: parseCaller('connect') });
    expect(report.errors).toEqual([]);
  });

  it('NO_TIMEOUT_FALLBACK: a step that can time out without OnTimeout or OnError, going on by Default or ending the run', async () => {
    const flow = await parsed([
      http('on', { timeout: 100 }, { branches: { OnSuccess: 'hub' }, next: 'hub' }),
      { id: 'hub', type: 'IntegrationHubExecute', configuration: { connectName: 'crm', requestName: 'r' }, branches: { OnSuccess: 'wf', OnTimeout: 'wf' } },
      { id: 'wf', type: 'WorkflowExecute', configuration: { configurationId: 'c', workflowId: 'w', timeoutMilliSec: 100 }, branches: { OnSuccess: 'last', OnError: 'last' } },
      http('last', { timeout: 100 }),
    ]);
    const report = callerFit(flow, { caller: parseCaller('twilio'), connectionTimeoutMs: () => 100 });
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([
      { code: 'NO_TIMEOUT_FALLBACK', path: 'steps[0].branches', message: "step 'on' (HTTPRequest) can time out but routes neither OnTimeout nor OnError: a timeout goes on to 'hub' (its Default route) as if the step had succeeded" },
      { code: 'NO_TIMEOUT_FALLBACK', path: 'steps[3].branches', message: "step 'last' (HTTPRequest) can time out but routes neither OnTimeout nor OnError: a timeout ends the run FAILED" },
    ]);
  });

  it('cxone:5000: 3 attempts × 2000 ms + backoff 100 + 200 = 6300 ms > 5000, and the message names idempotency (the action tries twice)', async () => {
    const flow = await parsed([routed('lookup', { timeout: 2000, retryPolicy: { maxRetries: 2 } }, 'done'), end('done')]);
    const report = callerFit(flow, { caller: parseCaller('cxone:5000') });
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0]!.message).toContain('can take 6300 ms in the worst case, more than the 5000 ms limit of the caller (cxone:5000)');
    expect(report.errors[0]!.message).toContain("CXone's REST API action tries twice");
    expect(report.errors[0]!.message).toContain('Idempotency-Key');
    expect(callerFit(flow, { caller: parseCaller('connect:5000') }).errors[0]!.message).not.toContain('Idempotency-Key');
  });

  it('at most 10 CALLER_DEADLINE_EXCEEDED: 12 paths of 1000 ms each (> 500 ms caller), the 10th names the 2 more', async () => {
    const targets = Array.from({ length: 11 }, (_, i) => `end-${i}`);
    const flow = await parsed([routed('get', { timeout: 1000 }, 'pick'), condition('pick', targets, 'end-11'), ...targets.map((t) => end(t)), end('end-11')]);
    const report = callerFit(flow, { caller: parseCaller('500') });
    expect(report.paths).toHaveLength(12);
    const over = report.errors.filter((d) => d.code === 'CALLER_DEADLINE_EXCEEDED');
    expect(over).toHaveLength(10);
    expect(over[9]!.message).toContain('2 more paths exceed it');
    expect(over[8]!.message).not.toContain('more paths');
    expect(codes(report.errors).at(-1)).toBe('STEP_TIMEOUT_EXCEEDS_DEADLINE');
    expect(report.errors[0]!.message).toContain('the 500 ms limit of the caller (a 500 ms caller)');
  });
});

describe('callerFit: big flows', () => {
  /** 11 levels, each a Condition choosing a 100 ms or a 200 ms step: 2^11 = 2048 paths. */
  const levels = (loop: boolean) => {
    const steps: unknown[] = [];
    for (let i = 0; i < 11; i++) {
      const next = i === 10 ? 'done' : `c${i + 1}`;
      steps.push(condition(`c${i}`, [`cheap${i}`], `dear${i}`), routed(`cheap${i}`, { timeout: 100 }, next), routed(`dear${i}`, { timeout: 200 }, next));
    }
    if (loop) steps.push({ ...condition('done', ['c0'], 'out'), id: 'done' }, end('out'));
    else steps.push(end('done'));
    return parsed(steps, { deadlineMs: 30000 });
  };

  it(`2048 paths, no loop: ${MAX_LISTED_PATHS} listed, the worst found exactly over the graph: 11 × 200 = 2200 ms`, async () => {
    const report = callerFit(await levels(false), { caller: parseCaller('2000') });
    expect(report.pathsTruncated).toBe(true);
    expect(report.worstCaseExact).toBe(true);
    expect(report.worstCaseMs).toBe(2200);
    expect(report.paths).toHaveLength(MAX_LISTED_PATHS);
    expect(report.paths[0]).toEqual({ path: [...Array.from({ length: 11 }, (_, i) => [`c${i}`, `dear${i}`]).flat(), 'done'], worstCaseMs: 2200, endsBy: 'End' });
    expect(codes(report.warnings)).toEqual(['CALLER_FIT_PATHS_CAPPED']);
    expect(report.warnings[0]!.message).toContain('the worst case, 2200 ms, is the longest path over the step graph (it has no loop)');
    expect(report.errors[0]!.message).toContain('can take 2200 ms');
  });

  it('2048 paths around a loop: an upper bound counting each step of the loop once, 11 × (100 + 200) = 3300 ms', async () => {
    const report = callerFit(await levels(true));
    expect(report.pathsTruncated).toBe(true);
    expect(report.worstCaseExact).toBe(false);
    expect(report.worstCaseMs).toBe(3300);
    expect(report.warnings.at(-1)!.message).toContain('an upper bound');
  });
});

describe('callerFit on the example flows (examples/flows)', () => {
  const dir = join(import.meta.dirname, '../../../examples/flows');
  const crm = JSON.parse(readFileSync(join(import.meta.dirname, '../../../examples/connections/crm.json'), 'utf8')) as { timeoutMs: number; requests: Record<string, { timeoutMs?: number }> };
  const connectionTimeoutMs = (connection: string, request: string) => (connection === 'crm' ? (crm.requests[request]?.timeoutMs ?? crm.timeoutMs) : undefined);
  const load = async () => {
    const { flows } = await folderResolver(dir, true);
    return new Map<string, Flow>([...flows].map(([id, list]) => [id, list[0]!]));
  };
  const options = (flows: Map<string, Flow>) => ({
    flows,
    connectionTimeoutMs,
    workflowFlow: (configurationId: string, workflowId: string) => (configurationId === 'crm-agent' && workflowId === 'search-contact' ? flows.get('crm-search-contact') : undefined),
  });

  it('crm-integration: lookup 3 attempts × 3000 ms + backoff 100 + 200 = 9300, then the POST ticket 1 × 4000 = 13300 ms worst case', async () => {
    const flows = await load();
    const report = callerFit(flows.get('crm-integration')!, options(flows));
    expect(figureOf(report, 'http-customer-lookup').worstCaseMs).toBe(9300);
    expect(figureOf(report, 'http-ticket-submit').worstCaseMs).toBe(4000);
    expect(report.worstCaseMs).toBe(13300);
    expect(report.paths[0]!.path.slice(0, 6)).toEqual(['transform-payload', 'format-phone', 'validate-payload', 'http-customer-lookup', 'check-match', 'http-ticket-submit']);
    expect(report.limitMs).toBe(6000);
    expect(report.warnings.every((w) => w.code === 'CALLER_DEADLINE_EXCEEDED')).toBe(true);
  });

  it('customer-lookup-ivr with connect:3000: its sub-flow crm-integration (13300 ms) cut at its deadlineMs 6000 → every path 6000 ms > 3000', async () => {
    const flows = await load();
    const report = callerFit(flows.get('customer-lookup-ivr')!, { ...options(flows), caller: parseCaller('connect:3000') });
    expect(report).toMatchObject({ limitMs: 3000, deadlineMs: 8000, worstCaseMs: 6000, pathsTruncated: false });
    expect(report.paths.map((p) => `${p.path.join(' → ')} ${p.worstCaseMs}`)).toEqual([
      'subflow-integration → route-caller → priority-queue 6000',
      'subflow-integration → route-caller → self-service 6000',
      'subflow-integration → route-caller → ask-again 6000',
      'subflow-integration → agent-fallback 6000',
    ]);
    expect(codes(report.errors)).toEqual(Array(4).fill('CALLER_DEADLINE_EXCEEDED'));
    expect(codes(report.warnings)).toEqual(['SUBFLOW_DEADLINE_EXCEEDED']);
  });

  it('customer-lookup-ivr with connect (8000): 6000 ms fits; only the sub-flow overrunning its own 6000 ms deadline is warned', async () => {
    const flows = await load();
    const report = callerFit(flows.get('customer-lookup-ivr')!, { ...options(flows), caller: parseCaller('connect') });
    expect(report.errors).toEqual([]);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]!.message).toContain("flow 'crm-integration' (step 'subflow-integration') can take 13300 ms");
  });

  it('agent-screen-pop-ivr: workflow crm-search-contact (1 × 3000 ms) under timeoutMilliSec 6000 = 3000 ms; fits connect', async () => {
    const flows = await load();
    const report = callerFit(flows.get('agent-screen-pop-ivr')!, { ...options(flows), caller: parseCaller('connect') });
    expect(figureOf(report, 'search-contact')).toMatchObject({ worstCaseMs: 3000, flowId: 'crm-search-contact' });
    expect(report.worstCaseMs).toBe(3000);
    expect(report.errors).toEqual([]);
  });

  it('balance-hold-ivr: the async POST costs 1 × 3000 ms, its 120000 ms wait left out; fits connect:3000', async () => {
    const flows = await load();
    const report = callerFit(flows.get('balance-hold-ivr')!, { ...options(flows), caller: parseCaller('connect:3000') });
    expect(report.worstCaseMs).toBe(3000);
    expect(report.errors).toEqual([]);
  });

  it('account-lookup-hub: lookup 2 × 3000 + backoff 100 = 6100, then create-ticket 1 × 3000 = 9100 ms > its deadline 6000', async () => {
    const flows = await load();
    const report = callerFit(flows.get('account-lookup-hub')!, options(flows));
    expect(figureOf(report, 'lookup-account').worstCaseMs).toBe(6100);
    expect(report.worstCaseMs).toBe(9100);
    expect(report.warnings[0]).toMatchObject({ code: 'CALLER_DEADLINE_EXCEEDED' });
  });

  it('every example flow: paths from its start, none truncated, each figure the sum of its steps', async () => {
    const flows = await load();
    expect(flows.size).toBeGreaterThanOrEqual(6);
    for (const flow of flows.values()) {
      const report = callerFit(flow, { ...options(flows), caller: parseCaller('connect') });
      expect(report.pathsTruncated, flow.id).toBe(false);
      expect(report.paths.length, flow.id).toBeGreaterThan(0);
      for (const p of report.paths) {
        expect(p.path[0], flow.id).toBe(flow.startStepId ?? flow.steps[0]!.id);
        expect(p.worstCaseMs, `${flow.id}: ${p.path.join(' → ')}`).toBe(p.path.reduce((sum, id) => sum + figureOf(report, id).worstCaseMs, 0));
      }
      expect(report.worstCaseMs, flow.id).toBe(report.paths[0]!.worstCaseMs);
    }
  });
});
