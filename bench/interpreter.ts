/**
 * The `interpreter` figure's two sides: a 10-step flow without I/O run by `runFlow`, and the same
 * logic as an Amazon States Language state machine run by aws-local-stepfunctions (a TypeScript
 * interpreter of the States Language). Every step of each runs on the measured path: two
 * transforms (an assign of two variables, a string concatenation), a Choice on a number, a
 * Choice on a string, an assign of two constants, an arithmetic transform, a Choice on the
 * result, an assign with a template, a last Choice, and the end, which builds the outputs.
 */
import type { Flow } from '#shared/flow/schema';
import { parseFlow } from '#shared/flow/validate';

/** The input both sides get. */
export const INTERPRETER_INPUT = { dtmf: '2', name: 'Dana', attempts: 1, tier: 'GOLD', balance: 150 };

/** What both sides must end with (checked once before measuring). */
export const INTERPRETER_EXPECTED = { route: 'gold', priority: 2, greeting: 'Hello, Dana', offer_code: 'RET-2', net_balance: 130, attempt: 2 };

/** The ivrflow side: DataAPI assign/evaluate steps, Condition steps and an End that sets the outputs. */
export function interpreterFlow(): Promise<Flow> {
  const done = 'done';
  return parseFlow({
    id: 'bench-interpreter',
    name: 'Ten steps, no I/O',
    outputs: Object.keys(INTERPRETER_EXPECTED),
    steps: [
      { id: 'normalize', type: 'DataAPI', configuration: { operation: 'assign', variables: { digits: '{{dtmf}}', attempt: '{{attempts + 1}}' } }, next: 'greet' },
      { id: 'greet', type: 'DataAPI', configuration: { operation: 'evaluate', expression: "'Hello, ' + name", outputVariable: 'greeting' }, next: 'check-attempts' },
      { id: 'check-attempts', type: 'Condition', configuration: { conditions: [{ expression: 'attempt <= 3', nextStepId: 'check-tier' }], defaultStepId: done } },
      { id: 'check-tier', type: 'Condition', configuration: { conditions: [{ expression: "tier == 'GOLD'", nextStepId: 'gold' }], defaultStepId: done } },
      { id: 'gold', type: 'DataAPI', configuration: { operation: 'assign', variables: { queue: 'gold', priority: 2 } }, next: 'balance' },
      { id: 'balance', type: 'DataAPI', configuration: { operation: 'evaluate', expression: 'balance - 20', outputVariable: 'net_balance' }, next: 'check-balance' },
      { id: 'check-balance', type: 'Condition', configuration: { conditions: [{ expression: 'net_balance >= 100', nextStepId: 'offer' }], defaultStepId: done } },
      { id: 'offer', type: 'DataAPI', configuration: { operation: 'assign', variables: { offer_code: 'RET-{{digits}}' } }, next: 'check-menu' },
      { id: 'check-menu', type: 'Condition', configuration: { conditions: [{ expression: "digits == '2'", nextStepId: done }], defaultStepId: done } },
      { id: done, type: 'End', configuration: { outcome: 'Routed', outputs: { route: '{{queue}}' } } },
    ],
  });
}

/**
 * The baseline: the same ten steps as Pass states (Parameters with intrinsic functions, ResultPath
 * placing the result) and Choice states; the last Pass builds the same outputs.
 */
export const INTERPRETER_STATE_MACHINE = {
  StartAt: 'normalize',
  States: {
    normalize: { Type: 'Pass', Parameters: { 'digits.$': '$.dtmf', 'attempt.$': 'States.MathAdd($.attempts, 1)' }, ResultPath: '$.normalized', Next: 'greet' },
    greet: { Type: 'Pass', Parameters: { 'value.$': "States.Format('Hello, {}', $.name)" }, ResultPath: '$.greeting', Next: 'check-attempts' },
    'check-attempts': { Type: 'Choice', Choices: [{ Variable: '$.normalized.attempt', NumericLessThanEquals: 3, Next: 'check-tier' }], Default: 'done' },
    'check-tier': { Type: 'Choice', Choices: [{ Variable: '$.tier', StringEquals: 'GOLD', Next: 'gold' }], Default: 'done' },
    gold: { Type: 'Pass', Parameters: { queue: 'gold', priority: 2 }, ResultPath: '$.gold', Next: 'balance' },
    balance: { Type: 'Pass', Parameters: { 'value.$': 'States.MathAdd($.balance, -20)' }, ResultPath: '$.net_balance', Next: 'check-balance' },
    'check-balance': { Type: 'Choice', Choices: [{ Variable: '$.net_balance.value', NumericGreaterThanEquals: 100, Next: 'offer' }], Default: 'done' },
    offer: { Type: 'Pass', Parameters: { 'offer_code.$': "States.Format('RET-{}', $.normalized.digits)" }, ResultPath: '$.offer', Next: 'check-menu' },
    'check-menu': { Type: 'Choice', Choices: [{ Variable: '$.normalized.digits', StringEquals: '2', Next: 'done' }], Default: 'done' },
    done: {
      Type: 'Pass',
      Parameters: {
        'route.$': '$.gold.queue',
        'priority.$': '$.gold.priority',
        'greeting.$': '$.greeting.value',
        'offer_code.$': '$.offer.offer_code',
        'net_balance.$': '$.net_balance.value',
        'attempt.$': '$.normalized.attempt',
      },
      End: true,
    },
  },
} as const;

/** Promise.withResolvers (Node 22), which aws-local-stepfunctions uses, for an older Node. */
export function polyfillWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: () => unknown };
  if (typeof P.withResolvers === 'function') return;
  P.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
