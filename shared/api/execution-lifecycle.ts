/**
 * The lifecycle of an execution's storage (docs/architecture.md, "Durable executions"): the one
 * place every run ends — straight through (or to its first wait), after a wait (a callback or a
 * timeout), abandoned by a dead resumer, or stopped by an engine fault after calling a backend.
 * {@link ExecutionLifecycle.finish} writes what that ending stores (the record, the snapshot, the
 * re-dial session) and then tells `onEnded` once per ended execution: the single point metrics,
 * index items and audit lines hang on.
 */
import { MIN_CALL_MS } from '../budgets';
import type { Clock, Randomness } from '../clock';
import { StoreUnavailableError } from '../errors';
import { resultOf, resume, rootVariables, sessionKeyOf, type ExecutorDeps } from '../executor/executor';
import { fitRecord } from '../executor/record';
import type { ExecutionSnapshot, Settled } from '../executor/snapshot';
import type { Flow } from '../flow/schema';
import type { HttpClient } from '../http/client';
import { reportStoreFailure, type StoreFailureEvent } from '../observability';
import type { CircuitBreaker } from '../resilience/circuit-breaker';
import type { ServiceContainer } from '../services';
import type { ExecutionResult } from '../steps/types';
import type { FlowStore, SaveOutcome, StateStore } from '../stores/ports';

/** Time kept for the answer to reach the caller: the record write ends this long before the deadline, ms. */
export const ANSWER_MARGIN_MS = 50;

/** What an {@link ExecutionLifecycle} is built from: the flow and state stores, the outbound HTTP client, time and randomness, and its optional services and listeners. */
export interface LifecycleProps {
  flows: FlowStore;
  state: StateStore;
  http: HttpClient;
  clock: Clock;
  randomness: Randomness;
  /** The shared circuit breaker. @default one over this process's memory */
  circuits?: CircuitBreaker;
  /** The function's step services (see `shared/services.ts`). @default none: defaults built per execution */
  services?: ServiceContainer;
  /** How long execution records are kept, seconds. @default 7 days */
  executionTtlSeconds?: number;
  /** Store failures a caller did not see (a record logged instead of stored). @default logs and metrics (`reportStoreFailure`) */
  onStoreFailure?: (event: StoreFailureEvent) => void;
  /** Called once for every execution that ended (not WAITING), with its record and how it ended; errors it throws are ignored. @default nothing */
  onEnded?: (result: ExecutionResult, ending: Ending['kind']) => void;
}

/** How a run ended, with what storing it needs. */
export type Ending =
  /** A synchronous run, ended or at its first wait: the record (or the waiting snapshot) written by the caller's deadline. */
  | { kind: 'run'; snapshot: ExecutionSnapshot; flow: Flow; sessionKey: string | undefined; deadlineAt: number; deps: ExecutorDeps; idempotency?: { scope: string; key: string } }
  /** A claimed execution continued after its wait: the outcome stored conditionally on the claimed revision. */
  | { kind: 'continued'; snapshot: ExecutionSnapshot; deps: ExecutorDeps }
  /** A claimed execution whose continuation failed or whose resumer died: FAILED (`ENGINE_ERROR`), its wait settled. */
  | { kind: 'abandoned'; snapshot: ExecutionSnapshot; by: Settled['by']; message: string }
  /** An engine fault after a backend was called: a FAILED record completes the idempotency key, so a retry gets it. */
  | { kind: 'engine_failure'; flow: Flow; executionId: string; startedAt: number; deadlineAt: number; contactId?: string; idempotency?: { scope: string; key: string } };

/** Where every run ends: its executor dependencies, store calls bounded by a deadline, and the one {@link ExecutionLifecycle.finish}. */
export class ExecutionLifecycle {
  readonly executionTtlSeconds: number;

  constructor(readonly props: LifecycleProps) {
    this.executionTtlSeconds = props.executionTtlSeconds ?? 7 * 24 * 3600;
  }

  /** What the executor runs with: this function's clock, randomness, flows, circuits and services, and `http`. */
  executorDeps(http: HttpClient = this.props.http): ExecutorDeps {
    return {
      clock: this.props.clock,
      randomness: this.props.randomness,
      http,
      resolveFlow: (id, version) => this.props.flows.getFlow(id, version),
      ...(this.props.circuits ? { circuits: this.props.circuits } : {}),
      ...(this.props.services ? { services: this.props.services } : {}),
    };
  }

  /**
   * A store call that must end by `deadlineAt` (epoch ms). One that takes longer is not waited
   * for: it goes on, `onLate` sees its value when it lands, and the caller gets StoreUnavailableError.
   * @throws StoreUnavailableError, or what the call throws
   */
  async bounded<T>(work: Promise<T>, deadlineAt: number, what: string, onLate?: (value: T) => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = Symbol('late');
    const timeout = new Promise<typeof late>((resolve) => (timer = setTimeout(() => resolve(late), Math.max(0, deadlineAt - this.props.clock.now()))));
    try {
      const first = await Promise.race([work, timeout]);
      if (first !== late) return first;
      void work.then(onLate, () => undefined);
      throw new StoreUnavailableError(`the state store did not answer in time (${what})`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reports a store failure the caller did not see (logs and metrics; never throws). */
  report(event: StoreFailureEvent): void {
    try {
      (this.props.onStoreFailure ?? reportStoreFailure)(event);
    } catch {
      // A faulty listener must not change an answer.
    }
  }

  /**
   * Ends a run: stores what `ending` stores, then tells `onEnded` (unless the execution waits).
   * - `run`: a suspended execution's snapshot is stored whole for whoever resumes it (503 when it
   *   cannot be); an ended one's session is saved and its record written (shrunk to fit,
   *   {@link fitRecord}) by the deadline. A record that cannot be stored in time goes to the log
   *   whole (`record_write_failed`, redacted) and the caller still gets its answer.
   * - `continued`: stored conditionally on the claimed revision; its session saved.
   * - `abandoned`: stored FAILED with `ENGINE_ERROR`; its wait recorded as settled, so a repeated
   *   callback is acknowledged, not run.
   * - `engine_failure`: a FAILED record, tried again while the deadline allows, else logged.
   * @returns the execution's answer
   * @throws StoreUnavailableError when a `run`'s WAITING snapshot cannot be stored; VersionConflictError
   *   when another worker changed a claimed execution first; what the store throws for `continued`
   */
  async finish(ending: Ending): Promise<ExecutionResult> {
    const result = await this.store(ending);
    if (result.status !== 'WAITING') {
      try {
        this.props.onEnded?.(result, ending.kind);
      } catch {
        // A faulty listener must not change an answer.
      }
    }
    return result;
  }

  private async store(ending: Ending): Promise<ExecutionResult> {
    const { state, clock } = this.props;
    switch (ending.kind) {
      case 'run': {
        // The answer must still reach the caller by its deadline; a run that ended at its deadline still gets a short write.
        const writeBy = Math.max(ending.deadlineAt - ANSWER_MARGIN_MS, clock.now() + MIN_CALL_MS);
        let snapshot = ending.snapshot;
        try {
          snapshot = await this.storeWaits(snapshot, ending.deps, (s) => this.bounded(state.saveSnapshot(s, this.executionTtlSeconds, ending.idempotency), writeBy, 'storing the waiting execution'));
        } catch (err) {
          this.report({ type: 'record_write_failed', record: resultOf(snapshot, clock.now()), error: err });
          throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError('the waiting execution could not be stored', { cause: err });
        }
        if (snapshot.status === 'WAITING') return resultOf(snapshot, clock.now());
        const record = fitRecord(resultOf(snapshot, clock.now()));
        await this.bounded(this.saveSession(ending.flow, ending.sessionKey, rootVariables(snapshot)), writeBy, 'saving the session').catch((err: unknown) => this.report({ type: 'session_unavailable', flowId: ending.flow.id, error: err }));
        await this.bounded(state.putExecution(record, this.executionTtlSeconds, ending.idempotency), writeBy, 'writing the execution record', () => undefined).catch((err: unknown) =>
          this.report({ type: 'record_write_failed', record, error: err }),
        );
        return record;
      }
      case 'continued': {
        const snapshot = await this.storeWaits(ending.snapshot, ending.deps, (s) => state.saveSnapshot(s, this.executionTtlSeconds));
        if (snapshot.status !== 'WAITING') {
          await state.saveSnapshot(snapshot, this.executionTtlSeconds);
          await this.saveSessionAfterWait(snapshot);
        }
        return resultOf(snapshot, clock.now());
      }
      case 'abandoned': {
        const { snapshot, by, message } = ending;
        const root = snapshot.frames[0]!;
        const wait = snapshot.wait;
        const now = clock.now();
        const failed: ExecutionSnapshot = {
          ...snapshot,
          status: 'FAILED',
          ...(wait ? { settled: { ...snapshot.settled, [wait.waitId]: { by, ...(wait.callback?.connection ? { connection: wait.callback.connection } : {}) } } } : {}),
          result: resultOf({ ...snapshot, status: 'FAILED' }, now),
        };
        failed.result = { ...failed.result!, branch: 'EngineError', error: { code: 'ENGINE_ERROR', message }, durationMs: now - root.startedAt };
        delete failed.wait;
        await state.saveSnapshot(failed, this.executionTtlSeconds);
        return failed.result;
      }
      case 'engine_failure': {
        const { flow, executionId, startedAt, deadlineAt, idempotency, contactId } = ending;
        const result: ExecutionResult = {
          executionId,
          flowId: flow.id,
          flowVersion: flow.version ?? 0,
          status: 'FAILED',
          branch: 'EngineError',
          variables: {},
          trace: [],
          error: { code: 'ENGINE_ERROR', message: 'the execution stopped on an internal error after calling a backend; see the logs' },
          ...(contactId ? { contactId } : {}),
          startedAt: new Date(startedAt).toISOString(),
          durationMs: clock.now() - startedAt,
        };
        let error: unknown;
        for (let attempt = 0; attempt < 2 && (attempt === 0 || clock.now() + MIN_CALL_MS <= deadlineAt); attempt++) {
          try {
            await this.bounded(state.putExecution(result, this.executionTtlSeconds, idempotency), Math.max(deadlineAt - ANSWER_MARGIN_MS, clock.now() + MIN_CALL_MS), 'writing the failure record');
            return result;
          } catch (err) {
            error = err;
          }
        }
        this.report({ type: 'record_write_failed', record: result, error });
        return result;
      }
    }
  }

  /**
   * Stores a suspended execution with `save`; when its callback came before it suspended (the
   * store returns the payload instead), resumes it with that payload at once, and again for each
   * next wait. @returns the snapshot, stored if WAITING; an ended one is not stored yet
   */
  private async storeWaits(snapshot: ExecutionSnapshot, deps: ExecutorDeps, save: (snapshot: ExecutionSnapshot) => Promise<SaveOutcome>): Promise<ExecutionSnapshot> {
    while (snapshot.status === 'WAITING' && snapshot.wait) {
      const { earlyCallback } = await save(snapshot);
      if (!earlyCallback) break;
      snapshot = await resume(snapshot, { waitId: snapshot.wait.waitId, payload: earlyCallback.payload }, deps);
    }
    return snapshot;
  }

  /** Saves the flow's re-dial session variables (when it has a session and a key) from an ended execution's `variables` (credentials redacted). */
  private async saveSession(flow: Flow, sessionKey: string | undefined, variables: Readonly<Record<string, unknown>>): Promise<void> {
    if (!flow.session || !sessionKey) return;
    const saved: Record<string, unknown> = {};
    for (const name of flow.session.variables) if (Object.hasOwn(variables, name)) saved[name] = variables[name];
    await this.props.state.putSession(flow.id, sessionKey, saved, this.props.clock.now() + flow.session.ttlSeconds * 1000);
  }

  /** {@link saveSession} for an execution that ended after a wait. */
  private async saveSessionAfterWait(snapshot: ExecutionSnapshot): Promise<void> {
    const root = snapshot.frames[0];
    const flow = root && (await this.props.flows.getFlow(root.flowId, root.version ?? undefined));
    if (!flow?.session) return;
    const variables = rootVariables(snapshot);
    await this.saveSession(flow, sessionKeyOf(flow, variables), variables);
  }
}
