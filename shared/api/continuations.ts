/**
 * Continuing executions after a wait (docs/architecture.md, "Async backends and webhooks"): a
 * callback's payload or a timeout resumes a WAITING execution through one conditional claim, and
 * the wait-sweeper sends executions waiting past their deadline down their timeout branch and
 * fails claims whose resumer died. Every continuation ends through the lifecycle's one finish.
 */
import { VersionConflictError } from '../errors';
import { resume, type WaitEvent } from '../executor/executor';
import type { ExecutionResult } from '../steps/types';
import type { WaitClaim } from '../stores/ports';
import type { ExecutionLifecycle } from './execution-lifecycle';

/** How long a claim of a wait may run before the sweeper deems its resumer dead, ms (longer than any function's timeout). */
export const CLAIM_LEASE_MS = 2 * 60_000;

/** What a wait-sweeper run did. */
export interface SweepSummary {
  due: number;
  timedOut: number;
  abandoned: number;
  failed: Array<{ executionId: string; message: string }>;
}

/** Continues WAITING executions after their wait (a payload or a timeout) and runs the wait-sweeper's sweeps, each ending through the lifecycle's {@link ExecutionLifecycle.finish}. */
export class Continuations {
  constructor(private readonly lifecycle: ExecutionLifecycle) {}

  /**
   * Continues a WAITING execution with what its step waited for, or its timeout: claims it (one
   * conditional write, so of racing resumers exactly one continues; a payload only before the
   * wait's deadline, a timeout only from it on), resumes it, and stores the outcome (conditionally
   * on the revision it claimed).
   * @returns `resumed: true` and the execution's answer for the one that continued; `resumed:
   *   false` for the others, with the status the winner left (undefined when there is no such
   *   execution), by what the wait was settled when it was, and `waitUntil` when it still waits
   */
  async continueWait(executionId: string, event: WaitEvent): Promise<{ resumed: true; result: ExecutionResult } | ({ resumed: false } & Omit<Extract<WaitClaim, { claimed: false }>, 'claimed'>)> {
    const { state } = this.lifecycle.props;
    const by = 'timedOut' in event ? 'timeout' : 'payload';
    const claim = await state.claimWait(executionId, event.waitId, by);
    if (!claim.claimed) {
      const { claimed: _claimed, ...rest } = claim;
      return { resumed: false, ...rest };
    }
    const claimedRev = claim.snapshot.rev;
    try {
      const deps = this.lifecycle.executorDeps();
      return { resumed: true, result: await this.lifecycle.finish({ kind: 'continued', snapshot: await resume(claim.snapshot, event, deps), deps }) };
    } catch (err) {
      // Never left RUNNING: the claimed execution ends FAILED (unless another worker changed it), and the fault goes on.
      // The stored snapshot is the claimed one (a claim changes only item attributes), so the failure path reads it rather than every resume copying it.
      if (!(err instanceof VersionConflictError)) {
        await state
          .getSnapshot(executionId)
          .then((stored) => stored && this.lifecycle.finish({ kind: 'abandoned', snapshot: { ...stored, rev: claimedRev }, by, message: 'the execution stopped on an internal error while continuing after a wait; see the logs' }))
          .catch(() => undefined);
      }
      throw err;
    }
  }

  /**
   * Sends a WAITING execution whose wait's deadline has passed down its timeout branch, unless
   * another resumer got there first. @returns the answer when this call continued it
   */
  async timeOut(executionId: string): Promise<ExecutionResult | undefined> {
    const wait = (await this.lifecycle.props.state.getSnapshot(executionId))?.wait;
    if (!wait) return undefined;
    const outcome = await this.continueWait(executionId, { waitId: wait.waitId, timedOut: true });
    return outcome.resumed ? outcome.result : undefined;
  }

  /**
   * The wait-sweeper's run, earliest first, at most `limit` executions and none started after
   * `budgetMs` (ms from now; what the function's time allows): every execution still WAITING past its wait's
   * deadline takes its timeout branch (the flow continues from there); every claim whose resumer
   * died (its lease expired) ends FAILED (`ENGINE_ERROR`). A timeout whose continuation fails ends
   * FAILED as well ({@link continueWait}); the failures are returned for the caller to log.
   * @returns how many were due, timed out and abandoned, and the failures (execution id and message)
   */
  async sweepWaits(limit = 100, budgetMs = Infinity): Promise<SweepSummary> {
    const { clock, state } = this.lifecycle.props;
    const stopAt = clock.now() + budgetMs;
    const due = await state.listDueWaits(clock.now(), limit);
    const summary: SweepSummary = { due: due.length, timedOut: 0, abandoned: 0, failed: [] };
    for (const wait of due) {
      if (clock.now() >= stopAt) break;
      try {
        const outcome = await this.continueWait(wait.executionId, { waitId: wait.waitId, timedOut: true });
        if (outcome.resumed) summary.timedOut++;
        else if (outcome.status === 'RUNNING' && outcome.claimedAt !== undefined && outcome.settledBy !== undefined) {
          // Claimed and not saved since: wait out the claim's lease, then its resumer is deemed dead.
          if (outcome.claimedAt + CLAIM_LEASE_MS > clock.now()) continue;
          const snapshot = await state.getSnapshot(wait.executionId);
          if (snapshot) {
            await this.lifecycle.finish({
              kind: 'abandoned',
              snapshot: { ...snapshot, rev: outcome.rev! },
              by: outcome.settledBy,
              message: 'the execution was abandoned while continuing after a wait (its worker stopped, e.g. a function timeout)',
            });
            summary.abandoned++;
          }
        }
        await state.forgetDueWait(wait.key);
      } catch (err) {
        if (err instanceof VersionConflictError) continue;
        summary.failed.push({ executionId: wait.executionId, message: (err as Error).message });
      }
    }
    return summary;
  }
}
