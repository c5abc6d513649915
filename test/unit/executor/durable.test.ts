/**
 * Durable executions: an execution is a snapshot that can stop at any step boundary and continue
 * from its JSON, and a suspended step (even two sub-flows deep) resumes into the right frame.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, type Randomness } from '#shared/clock';
import { advance, resume, runFlow, startExecution, type ExecutorDeps } from '#shared/executor/executor';
import { parseSnapshot, type ExecutionSnapshot } from '#shared/executor/snapshot';
import type { Flow } from '#shared/flow/schema';
import type { HttpClient, HttpRequest, HttpResponse, HttpFailure } from '#shared/http/client';
import type { ExecutionResult, TraceEntry } from '#shared/steps/types';
import { parsed } from '../../support/flows';
import { withTestWait } from '../../support/wait-step';

/** A backend whose answer depends only on the URL and how many requests came before: the same for both runs. */
class ScriptedBackend implements HttpClient {
  private count = 0;
  constructor(private readonly clock: FakeClock) {}
  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    return Promise.resolve(this.answer(request));
  }
  private answer(request: HttpRequest): HttpResponse | HttpFailure {
    const n = this.count++;
    this.clock.advance(7);
    const key = Number(request.url.pathname.replace(/\D/g, '') || '0') + n;
    if (key % 5 === 3) return { kind: 'timeout', message: 'scripted timeout' };
    const status = [200, 200, 404, 503, 200][key % 5]!;
    return { kind: 'response', status, headers: {}, body: Buffer.from(JSON.stringify({ v: `r${key}` })) };
  }
}

function counterRandomness(): Randomness {
  let n = 0;
  return { id: () => `id-${++n}`, random: () => 0.5 };
}

function depsFor(flows: Flow[]): ExecutorDeps & { clock: FakeClock } {
  const clock = new FakeClock(1_700_000_000_000);
  return { clock, randomness: counterRandomness(), http: new ScriptedBackend(clock), resolveFlow: (id) => Promise.resolve(flows.find((f) => f.id === id)) };
}

/** Trace without durations (they are the only thing a store-and-resume may change). */
function comparable(result: ExecutionResult): unknown {
  const strip = (trace: TraceEntry[]): unknown[] => trace.map(({ durationMs: _d, subFlow, ...rest }) => ({ ...rest, ...(subFlow ? { subFlow: { ...subFlow, trace: strip(subFlow.trace) } } : {}) }));
  return { status: result.status, branch: result.branch, variables: result.variables, error: result.error, trace: strip(result.trace) };
}

const VARS = ['n', 'x', 'y'];
const EXPRESSIONS = ['(n ?? 0) + 1', "toString(x) + 'a'", "n > 2 ? 'big' : 'small'", 'length(toString(y))', "padStart(toString(n), 4, '0')", 'x == null'];
const CONDITIONS = ['n > 1', "x == 'aa'", 'y != null', 'n % 2 == 0', 'http_status_code >= 500'];

/** A random set of up to three flows; flow i may call flows with a larger index (and itself, bounded by maxSteps). */
const flowSet = fc.integer({ min: 1, max: 3 }).chain((flowCount) =>
  fc.array(
    fc.integer({ min: 2, max: 6 }).chain((stepCount) => {
      const target = fc.option(
        fc.integer({ min: 0, max: stepCount - 1 }).map((i) => `s${i}`),
        { nil: undefined },
      );
      const step = fc.oneof(
        fc.record({ kind: fc.constant('eval'), expr: fc.constantFrom(...EXPRESSIONS), out: fc.constantFrom(...VARS), next: target }),
        fc.record({ kind: fc.constant('cond'), expr: fc.constantFrom(...CONDITIONS), to: target, otherwise: target }),
        fc.record({ kind: fc.constant('sub'), callee: fc.integer({ min: 0, max: flowCount - 1 }), next: target, onError: target }),
        fc.record({ kind: fc.constant('end'), outcome: fc.constantFrom('A', 'B'), failed: fc.boolean() }),
        fc.record({ kind: fc.constant('http'), path: fc.integer({ min: 0, max: 9 }), retries: fc.integer({ min: 0, max: 2 }), next: target, onError: target }),
      );
      return fc.array(step, { minLength: stepCount, maxLength: stepCount });
    }),
    { minLength: flowCount, maxLength: flowCount },
  ),
);

type StepSpec = { kind: string } & Record<string, unknown>;

function toFlows(specs: StepSpec[][]): Promise<Flow[]> {
  return Promise.all(
    specs.map((steps, f) => {
      const defs = steps.map((s, i) => {
        const id = `s${i}`;
        const next = s['next'] as string | undefined;
        switch (s.kind) {
          case 'eval':
            return { id, type: 'DataAPI', configuration: { operation: 'evaluate', expression: s['expr'], outputVariable: s['out'] }, ...(next ? { next } : {}) };
          case 'cond':
            return { id, type: 'Condition', configuration: { conditions: [{ expression: s['expr'], nextStepId: (s['to'] as string | undefined) ?? 's0' }], ...(s['otherwise'] ? { defaultStepId: s['otherwise'] } : {}) } };
          case 'sub': {
            const callee = Math.max(f, s['callee'] as number);
            return { id, type: 'SubFlow', configuration: { flowId: `f${callee}`, passThroughVariables: ['n', 'x'], returnVariables: ['n', 'y'] }, ...(next ? { next } : {}), ...(s['onError'] ? { branches: { OnError: s['onError'] } } : {}) };
          }
          case 'http':
            return {
              id,
              type: 'HTTPRequest',
              configuration: { url: `http://api.example.com/p${s['path'] as number}/{{n}}`, retryPolicy: { maxRetries: s['retries'], retryOnStatusCodes: [503] }, responseMapping: { y: '$.v' } },
              ...(next ? { next } : {}),
              ...(s['onError'] ? { branches: { OnError: s['onError'] } } : {}),
            };
          default:
            return { id, type: 'End', configuration: { outcome: s['outcome'], status: s['failed'] ? 'FAILED' : 'SUCCEEDED' } };
        }
      });
      return parsed(defs, { id: `f${f}`, maxSteps: 60, ...(f === 0 ? {} : { deadlineMs: 4000 }) });
    }),
  );
}

describe('durable executions', () => {
  it('straight through, or stored as JSON and advanced one step at a time, gives the same execution (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(flowSet, fc.integer({ min: 0, max: 5 }), async (specs, n) => {
        const flows = await toFlows(specs);
        const straight = await runFlow(flows[0]!, { variables: { n, x: 'a' } }, depsFor(flows));

        const deps = depsFor(flows);
        let snapshot: ExecutionSnapshot = startExecution(flows[0]!, { variables: { n, x: 'a' } }, deps);
        for (let i = 0; snapshot.status === 'RUNNING'; i++) {
          expect(i).toBeLessThan(1000);
          snapshot = parseSnapshot(JSON.parse(JSON.stringify(snapshot)));
          snapshot = await advance(snapshot, deps, { stepLimit: 1 });
        }
        expect(comparable(snapshot.result!)).toEqual(comparable(straight));
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('a suspend two sub-flows deep resumes into the right frame and returns the right variables to each parent', async () => {
    const inner = withTestWait(
      await parsed(
        [
          // Parsed as an HTTPRequest (a type with OnTimeout), then turned into the test-only TestWait.
          { id: 'wait', type: 'HTTPRequest', configuration: { url: 'http://placeholder.example.com/' }, next: 'after', branches: { OnTimeout: 'late' } },
          { id: 'after', type: 'DataAPI', configuration: { operation: 'assign', variables: { inner_saw: '{{payload.status}} for {{who}}' } } },
          { id: 'late', type: 'End', configuration: { outcome: 'Late', status: 'FAILED' } },
        ],
        { id: 'inner', outputs: ['inner_saw'] },
      ),
      'wait',
    );
    const middle = await parsed(
      [
        { id: 'call-inner', type: 'SubFlow', configuration: { flowId: 'inner', passThroughVariables: ['who'], returnVariables: ['inner_saw'] }, next: 'tag' },
        { id: 'tag', type: 'DataAPI', configuration: { operation: 'assign', variables: { middle_saw: 'middle got {{inner_saw}}' } } },
      ],
      { id: 'middle', outputs: ['inner_saw', 'middle_saw'] },
    );
    const root = await parsed(
      [
        { id: 'call-middle', type: 'SubFlow', configuration: { flowId: 'middle', passThroughVariables: ['who'], returnVariables: ['middle_saw'] }, branches: { OnSuccess: 'done', OnError: 'fallback' } },
        { id: 'done', type: 'End', configuration: { outcome: 'Resumed', outputs: { final: '{{middle_saw}}' } } },
        { id: 'fallback', type: 'End', configuration: { outcome: 'Fallback' } },
      ],
      { id: 'root', outputs: ['final', 'middle_saw', 'inner_saw'] },
    );
    const flows = [root, middle, inner];
    const deps = depsFor(flows);
    const waiting = await advance(startExecution(root, { variables: { who: 'Dana' }, executionId: 'exec-1' }, deps), deps);
    expect(waiting.status).toBe('WAITING');
    expect(waiting.frames.map((f) => [f.flowId, f.stepId, f.pending?.kind])).toEqual([
      ['root', 'call-middle', 'call'],
      ['middle', 'call-inner', 'call'],
      ['inner', 'wait', 'wait'],
    ]);
    const stored = JSON.stringify(waiting);
    deps.clock.advance(30_000); // the wait does not use up the flows' deadlines
    const done = await resume(parseSnapshot(JSON.parse(stored)), { waitId: waiting.wait!.waitId, payload: { status: 'APPROVED' } }, deps);
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', branch: 'Resumed', variables: { final: 'middle got APPROVED for Dana', middle_saw: 'middle got APPROVED for Dana', inner_saw: null } });
    const middleTrace = done.result!.trace[0]!.subFlow!;
    expect(middleTrace).toMatchObject({ flowId: 'middle', status: 'SUCCEEDED' });
    expect(middleTrace.trace[0]!.subFlow).toMatchObject({ flowId: 'inner', status: 'SUCCEEDED', trace: [{ stepId: 'wait', branch: 'Default', type: 'TestWait' }, { stepId: 'after' }] });
    expect(middleTrace.trace[0]!.subFlow!.trace[0]!.durationMs).toBe(30_000);
  });

  it('a wait that times out takes its onTimeout branch in its own frame; the parent routes the failed sub-flow', async () => {
    const inner = withTestWait(
      await parsed(
        [
          { id: 'wait', type: 'HTTPRequest', configuration: { url: 'http://placeholder.example.com/' }, branches: { OnTimeout: 'late' } },
          { id: 'late', type: 'End', configuration: { outcome: 'Late', status: 'FAILED' } },
        ],
        { id: 'inner' },
      ),
      'wait',
    );
    const root = await parsed(
      [
        { id: 'call', type: 'SubFlow', configuration: { flowId: 'inner' }, branches: { OnError: 'fallback' } },
        { id: 'fallback', type: 'End', configuration: { outcome: 'Fallback' } },
      ],
      { id: 'root' },
    );
    const deps = depsFor([root, inner]);
    const waiting = await advance(startExecution(root, {}, deps), deps);
    const done = await resume(waiting, { waitId: waiting.wait!.waitId, timedOut: true }, deps);
    expect(done.result).toMatchObject({ status: 'SUCCEEDED', branch: 'Fallback' });
    expect(done.result!.trace[0]!.subFlow).toMatchObject({ status: 'FAILED', trace: [{ stepId: 'wait', branch: 'OnTimeout', error: { type: 'timeout' } }, { stepId: 'late' }] });
  });

  it('resume refuses a snapshot that is not waiting on that wait id', async () => {
    const flow = await parsed([{ id: 'e', type: 'End', configuration: {} }]);
    const deps = depsFor([flow]);
    const done = await advance(startExecution(flow, {}, deps), deps);
    await expect(resume(done, { waitId: 'nope', payload: 1 }, deps)).rejects.toThrow(/not waiting/);
  });
});
