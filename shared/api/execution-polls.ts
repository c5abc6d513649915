/**
 * Reading an execution (`GET /executions/{id}[?waitMs=N]`): its record, or its current view while
 * it waits or runs, with a long poll. A poll is one of the two ways a wait's deadline is enforced
 * (the wait-sweeper is the other): a WAITING execution past its deadline takes its timeout first.
 */
import type { Clock } from '../clock';
import { NotFoundError } from '../errors';
import type { ExecutionResult } from '../steps/types';
import type { StateStore } from '../stores/ports';
import type { Continuations } from './continuations';

/** Reads executions back (`GET /executions/{id}[?waitMs=N]`), taking an overdue wait's timeout first. */
export class ExecutionPolls {
  constructor(
    private readonly state: StateStore,
    private readonly clock: Clock,
    private readonly continuations: Continuations,
  ) {}

  /**
   * The execution's record, or its current view while it waits or runs. A WAITING execution whose
   * wait's deadline has passed takes its timeout branch first. With `waitMs`, a long poll: answers
   * as soon as the execution is neither WAITING nor RUNNING, or when `waitMs` has passed
   * (re-reading with a backoff from 50 ms up to 500 ms).
   * @param waitMs how long to wait for the execution to move on, ms (0: answer at once)
   * @throws NotFoundError (404)
   */
  async get(executionId: string, waitMs = 0): Promise<ExecutionResult> {
    const { clock, state } = this;
    const giveUpAt = clock.now() + waitMs;
    let timeoutTried: string | undefined;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      const result = await state.getExecution(executionId);
      if (!result) throw new NotFoundError(`execution '${executionId}' does not exist`);
      const waitUntil = result.waitUntil === undefined ? Infinity : Date.parse(result.waitUntil);
      // Once per wait: if another resumer won, the next read shows what it did.
      if (result.status === 'WAITING' && waitUntil <= clock.now() && timeoutTried !== result.waitUntil) {
        timeoutTried = result.waitUntil;
        const continued = await this.continuations.timeOut(executionId);
        if (continued && continued.status !== 'WAITING') return continued;
        continue;
      }
      const now = clock.now();
      if ((result.status !== 'WAITING' && result.status !== 'RUNNING') || now >= giveUpAt) return result;
      await clock.sleep(Math.max(1, Math.min(delay, giveUpAt - now, waitUntil > now ? waitUntil - now : delay)));
    }
  }
}
