import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExpressionError, IvrflowError, TemplateError } from '#shared/errors';
import { branchOf, countsForBreaker, FAILURES, failureTypeOf, stepFailure } from '#shared/flow/failures';
import { retryAfterMs } from '#shared/http/call-pipeline';
import { HTTP_BRANCHES } from '#shared/steps/http-request';

describe('the failure registry', () => {
  it('names every type in lower snake case; only backend sickness counts toward the breaker', () => {
    for (const type of Object.keys(FAILURES)) expect(type).toMatch(/^[a-z]+(_[a-z0-9]+)*$/);
    expect(
      Object.keys(FAILURES)
        .filter((t) => countsForBreaker(t as keyof typeof FAILURES))
        .sort(),
    ).toEqual(['connection', 'dns', 'http_5xx', 'timeout']);
    expect(countsForBreaker(undefined)).toBe(false);
  });

  it('a failure takes its branch where the step declares it, else OnError', () => {
    expect(branchOf('throttled', HTTP_BRANCHES)).toBe('OnClientError');
    expect(branchOf('circuit_open', HTTP_BRANCHES)).toBe('OnCircuitOpen');
    expect(branchOf('circuit_open', ['OnSuccess', 'OnError', 'OnTimeout'])).toBe('OnError');
    expect(branchOf('deadline', ['OnSuccess', 'OnError', 'OnTimeout'])).toBe('OnTimeout');
  });

  it('stepFailure takes retryable from the registry; a thrown flow failure is mapping (expressions) or invalid_request (templates, the rest)', () => {
    expect(stepFailure('http_5xx', 'HTTP 503', 503)).toEqual({ type: 'http_5xx', message: 'HTTP 503', retryable: true, statusCode: 503 });
    expect(stepFailure('auth', 'no credential')).toEqual({ type: 'auth', message: 'no credential', retryable: false });
    expect(failureTypeOf(new ExpressionError('x'))).toBe('mapping');
    expect(failureTypeOf(new TemplateError('x'))).toBe('invalid_request');
    expect(failureTypeOf(new IvrflowError('OTHER', 'x'))).toBe('invalid_request');
  });
});

describe('docs/architecture.md, "Step failures"', () => {
  it('has one row per type, saying what the registry says', () => {
    const doc = readFileSync(new URL('../../../docs/architecture.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `([a-z_0-9]+)` \| [^|]+ \| (yes|no) \| (yes|no) \| (\w+) \|$/gm)].map((m) => [m[1], m[2] === 'yes', m[3] === 'yes', m[4]]);
    expect(rows).toEqual(Object.entries(FAILURES).map(([type, k]) => [type, k.retryable, k.breaker, k.branch]));
  });
});

describe('retryAfterMs (RFC 9110 §10.2.3)', () => {
  const now = Date.UTC(2026, 11, 3, 12, 0, 0);
  it('reads delay-seconds and HTTP-dates; anything else is no delay asked', () => {
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Thu, 03 Dec 2026 12:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Thu, 03 Dec 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
  });
});
