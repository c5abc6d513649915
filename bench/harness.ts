/**
 * The bench's measuring and printing: interleaved rounds of the ivrflow case and its baseline, the
 * median of the per-round figures, and one JSON line per figure on stdout (progress on stderr).
 */

/** One line of `npm run bench`: a figure, its baseline from the same run, and its target. */
export interface Figure {
  name: string;
  /** The measured value; null when it could not be measured (then `note` says why). */
  ivrflow: number | null;
  /** The baseline's value, or the target's number where the baseline is the target (bundles); null when there is none. */
  baseline: number | null;
  /** ivrflow / baseline; null without both. */
  ratio: number | null;
  unit: string;
  rounds: number;
  target: string;
  note?: string;
}

/** Rounds of every interleaved figure: `BENCH_ROUNDS`, default 15. */
export const ROUNDS = positiveInt(process.env['BENCH_ROUNDS'], 15);

function positiveInt(raw: string | undefined, fallback: number): number {
  const n = Number(raw);
  return raw !== undefined && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Progress and diagnostics: stderr only, so that stdout stays one JSON figure per line. */
export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Three significant digits, enough for noisy figures, without exponent notation for large numbers. */
export function round(n: number): number {
  if (!Number.isFinite(n) || n === 0) return n;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(n))));
  return Number(n.toFixed(digits));
}

/** The median (the mean of the middle two for an even count). @throws Error for an empty list */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Prints one figure as a JSON line on stdout, numbers rounded to three significant digits (the ratio computed before rounding). */
export function emit(figure: Omit<Figure, 'ratio'> & { ratio?: number | null }): void {
  const ratio = figure.ratio !== undefined ? figure.ratio : figure.ivrflow !== null && figure.baseline !== null && figure.baseline !== 0 ? figure.ivrflow / figure.baseline : null;
  const line: Figure = {
    name: figure.name,
    ivrflow: figure.ivrflow === null ? null : round(figure.ivrflow),
    baseline: figure.baseline === null ? null : round(figure.baseline),
    ratio: ratio === null ? null : round(ratio),
    unit: figure.unit,
    rounds: figure.rounds,
    target: figure.target,
    ...(figure.note ? { note: figure.note } : {}),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** A figure that could not be measured: `ivrflow: null` and why. */
export function unmeasured(name: string, unit: string, target: string, err: unknown): void {
  const note = err instanceof Error ? err.message : String(err);
  progress(`${name}: not measured: ${note}`);
  emit({ name, ivrflow: null, baseline: null, ratio: null, unit, rounds: 0, target, note: note.split('\n')[0]!.slice(0, 300) });
}

/** What {@link interleaved} measured: the medians over rounds of the per-iteration time of each side, µs. */
export interface Paired {
  ivrflowUs: number;
  baselineUs: number;
  rounds: number;
}

/**
 * Runs `rounds` rounds; each times a batch of `iterations` sequential calls of the ivrflow case and
 * a batch of the baseline, the order alternating between rounds, so that a busy spell of the
 * machine (or a GC, or the JIT) falls on both sides alike. Both sides are warmed up first.
 * @returns the median over rounds of each side's per-call time, µs
 */
export async function interleaved(options: { rounds?: number; iterations: number; warmup?: number; ivrflow: () => Promise<unknown>; baseline: () => Promise<unknown> }): Promise<Paired> {
  const rounds = options.rounds ?? ROUNDS;
  const { iterations, ivrflow, baseline } = options;
  const warmup = options.warmup ?? iterations;
  for (let i = 0; i < warmup; i++) {
    await ivrflow();
    await baseline();
  }
  const batch = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    return Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  };
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      ours.push(await batch(ivrflow));
      theirs.push(await batch(baseline));
    } else {
      theirs.push(await batch(baseline));
      ours.push(await batch(ivrflow));
    }
  }
  return { ivrflowUs: median(ours), baselineUs: median(theirs), rounds };
}
