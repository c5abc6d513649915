/**
 * Redaction of credentials (docs/architecture.md, "Secrets"): every value a step sent as a
 * credential (an authentication password or API key, an `Authorization`-like header) is replaced
 * by `***` wherever it would leave the engine: outputs, trace, record, session, logs.
 */

/** What a redacted value reads as. */
export const REDACTED = '***';

/**
 * Shorter secrets are redacted only where a string equals them: replacing every occurrence of a
 * two-character secret inside other text would garble the text and reveal nothing useful.
 */
const MIN_SUBSTRING_LENGTH = 4;

/** The credentials one execution sent, and the redaction of values against them. */
export class SecretRedactor {
  private readonly values = new Set<string>();

  /** Registers a value sent as a credential (empty strings are ignored). */
  add(value: string): void {
    if (value !== '') this.values.add(value);
  }

  /** True when nothing was registered (then {@link redact} returns its input as is). */
  get empty(): boolean {
    return this.values.size === 0;
  }

  /**
   * A copy of `value` in which every string equal to a secret is `***`, and every occurrence of a
   * secret of 4 or more characters inside a string is `***`. Object keys are kept.
   */
  redact<T>(value: T): T {
    if (this.empty) return value;
    const long = [...this.values].filter((v) => v.length >= MIN_SUBSTRING_LENGTH).sort((a, b) => b.length - a.length);
    const visit = (v: unknown): unknown => {
      if (typeof v === 'string') {
        if (this.values.has(v)) return REDACTED;
        let out = v;
        for (const secret of long) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
        return out;
      }
      if (Array.isArray(v)) return v.map(visit);
      if (v !== null && typeof v === 'object') {
        const copy: Record<string, unknown> = {};
        for (const [k, item] of Object.entries(v)) copy[k] = visit(item);
        return copy;
      }
      return v;
    };
    return visit(value) as T;
  }
}
