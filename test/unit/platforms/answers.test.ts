/** Flat answers for the platforms: dotted keys, string values, and no value ever lost to a key collision. */
import { describe, expect, it } from 'vitest';
import { UnprocessableRequestError } from '#shared/errors';
import { answerOf, flatten } from '#shared/platforms/answers';
import type { ExecutionResult } from '#shared/steps/types';

describe('flatten', () => {
  it('dotted keys and string values; null as empty, empty containers as text', () => {
    expect(flatten({ a: { b: 1, c: [true, null] }, d: 'x', e: {}, f: [] })).toEqual({ 'a.b': '1', 'a.c.0': 'true', 'a.c.1': '', d: 'x', e: '{}', f: '[]' });
  });

  it('two values flattening to one key are refused, whichever comes first', () => {
    for (const value of [
      { 'a.b': 'x', a: { b: 'y' } },
      { a: { b: 'y' }, 'a.b': 'x' },
      { 'a.0': 'x', a: ['y'] },
    ]) {
      let error: unknown;
      try {
        flatten(value);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(UnprocessableRequestError);
      expect(error).toMatchObject({ code: 'FLAT_KEY_COLLISION' });
    }
  });

  it('an ivrflow_* output does not overwrite the execution facts in a flat answer', () => {
    const result = { executionId: 'e1', flowId: 'f', flowVersion: 1, status: 'SUCCEEDED', branch: 'Done', variables: { ivrflow_status: 'fake', route: 'agent' }, trace: [], startedAt: '', durationMs: 0 } as ExecutionResult;
    expect(answerOf(result, 'flat')).toMatchObject({ route: 'agent', ivrflow_status: 'SUCCEEDED' });
  });
});
