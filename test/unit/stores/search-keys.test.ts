import { describe, expect, it } from 'vitest';
import { limitParameter, timeParameter } from '#shared/api/history-service';
import { daysOf, decodeItemCursor, encodeItemCursor, monthsOf, skRange } from '#shared/stores/dynamodb/search-keys';

const at = (iso: string) => Date.parse(iso);

describe('time windows over day and month partitions', () => {
  it('lists the UTC days and months of a window newest first, across a month and a year boundary', () => {
    expect(daysOf({ sinceMs: at('2026-12-30T23:59:00Z'), untilMs: at('2027-01-02T00:01:00Z') })).toEqual(['2027-01-02', '2027-01-01', '2026-12-31', '2026-12-30']);
    expect(daysOf({ sinceMs: at('2026-12-06T01:00:00Z'), untilMs: at('2026-12-06T02:00:00Z') })).toEqual(['2026-12-06']);
    expect(monthsOf({ sinceMs: at('2025-11-30T00:00:00Z'), untilMs: at('2026-02-01T00:00:00Z') })).toEqual(['2026-02', '2026-01', '2025-12', '2025-11']);
  });

  it('bounds sort keys `<ISO time>#<id>` inclusively at both ends', () => {
    const { from, to } = skRange({ sinceMs: at('2026-12-06T09:00:00Z'), untilMs: at('2026-12-06T10:00:00Z') });
    const key = (iso: string) => `${iso}#0b9c6f2e-1d3a-4c5b-9e8f-7a6b5c4d3e2f`;
    for (const inside of ['2026-12-06T09:00:00.000Z', '2026-12-06T10:00:00.000Z']) expect(key(inside) >= from && key(inside) <= to).toBe(true);
    for (const outside of ['2026-12-06T08:59:59.999Z', '2026-12-06T10:00:00.001Z']) expect(key(outside) >= from && key(outside) <= to).toBe(false);
  });
});

describe('cursors of newest-first listings', () => {
  it('round-trip, and refuse anything but a key of one of the listing’s partitions', () => {
    const { nextCursor } = encodeItemCursor({ pk: 'EXECS#A#2026-12-06', sk: '2026-12-06T09:00:00.000Z#e-1' });
    expect(decodeItemCursor(nextCursor, ['EXECS#A#2026-12-06'])).toEqual({ pk: 'EXECS#A#2026-12-06', sk: '2026-12-06T09:00:00.000Z#e-1' });
    expect(() => decodeItemCursor(nextCursor, ['EXECS#A#2026-12-05'])).toThrow(/another query or window/);
    for (const bad of ['%%%', Buffer.from('[1]').toString('base64url'), Buffer.from('{"pk":"x","sk":"y","z":1}').toString('base64url'), Buffer.from('{"pk":"x","sk":""}').toString('base64url'), 'A'.repeat(5000)]) {
      expect(() => decodeItemCursor(bad, ['x'])).toThrow(expect.objectContaining({ code: 'BAD_CURSOR' }) as unknown);
    }
    expect(decodeItemCursor(undefined, ['x'])).toBeUndefined();
  });
});

describe('listing parameters', () => {
  const now = at('2026-12-06T12:00:00Z');
  it('since/until: ISO 8601 or a duration ago; anything else is a coded 400 naming the parameter', () => {
    expect(timeParameter('since', '15m', now)).toBe(now - 15 * 60_000);
    expect(timeParameter('since', '2d', now)).toBe(now - 2 * 86_400_000);
    expect(timeParameter('until', '2026-12-06T09:14:00Z', now)).toBe(at('2026-12-06T09:14:00Z'));
    expect(timeParameter('until', '2026-12-06T09:14:00.250+01:00', now)).toBe(at('2026-12-06T08:14:00.250Z'));
    expect(timeParameter('since', '2026-12-01', now)).toBe(at('2026-12-01T00:00:00Z'));
    for (const bad of ['yesterday', '15', '1w', '2026-12-06T09:14', '2026-02-30T00:00:00Z', '-1h', '']) expect(() => timeParameter('since', bad, now), bad).toThrow(/since must be an ISO 8601 time/);
  });

  it('limit: 1 to 100, 25 when absent, never clamped', () => {
    expect(limitParameter(undefined)).toBe(25);
    expect(limitParameter('1')).toBe(1);
    expect(limitParameter('100')).toBe(100);
    for (const bad of ['0', '101', '1e2', ' 5', '5.0', '-3']) expect(() => limitParameter(bad), bad).toThrow(/limit must be an integer from 1 to 100/);
  });
});
