/**
 * Time and randomness, injected so that tests control them (pass a {@link Clock} and a
 * {@link Randomness} rather than reading `Date.now()` or `Math.random()` in engine code).
 */
import { randomUUID } from 'node:crypto';

/** A source of time. `now()` is milliseconds since the epoch; `sleep` resolves after `ms` or rejects on abort. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      // Rejects with the abort reason, as node:timers/promises does: a DOMException AbortError unless the aborter gave another.
      if (signal?.aborted) return reject(signal.reason as Error);
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * A manual clock for tests: `sleep` advances time instantly, `advance` moves it by hand.
 * @example const clock = new FakeClock(0); await clock.sleep(500); clock.now() // 500
 */
export class FakeClock implements Clock {
  constructor(private current = 0) {}
  now(): number {
    return this.current;
  }
  sleep(ms: number): Promise<void> {
    this.current += Math.max(0, ms);
    return Promise.resolve();
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

/** Random identifiers and numbers, injectable. `random()` is uniform in [0, 1). */
export interface Randomness {
  id(): string;
  random(): number;
}

/** The real randomness: `randomUUID()` ids and `Math.random()`. */
export const systemRandomness: Randomness = { id: () => randomUUID(), random: () => Math.random() };
