import { describe, expect, it } from 'vitest';
import { errorResult, statusOf } from '#shared/api/http';
import {
  BadRequestError,
  BudgetExceededError,
  ConfigError,
  ConflictError,
  ExpressionError,
  FlowValidationError,
  IvrflowError,
  NotFoundError,
  PayloadTooLargeError,
  TemplateError,
  UnprocessableRequestError,
  UnsupportedMediaTypeError,
  VersionConflictError,
} from '#shared/errors';
import { NotWaitingError } from '#shared/executor/executor';

describe('the edge maps error classes to HTTP statuses, in one table', () => {
  it.each([
    [new BadRequestError('X', 'm'), 400],
    [new UnprocessableRequestError('X', 'm'), 422],
    [new FlowValidationError([{ code: 'MISSING_STEP', path: 'p', message: 'm' }]), 422],
    [new ExpressionError('m'), 422],
    [new TemplateError('m'), 422],
    [new NotFoundError('m'), 404],
    [new ConflictError('X', 'm'), 409],
    [new VersionConflictError('m'), 409],
    [new NotWaitingError('m'), 409],
    [new PayloadTooLargeError('m'), 413],
    [new UnsupportedMediaTypeError('m'), 415],
    // Engine faults are never the caller's: 500.
    [new BudgetExceededError('steps', 1, 'm'), 500],
    [new ConfigError('m'), 500],
    [new IvrflowError('BAD_SCHEMA', 'm'), 500],
    [new TypeError('x is undefined'), 500],
    ['a thrown string', 500],
  ])('%s → %i', (err, status) => {
    expect(statusOf(err)).toBe(status);
  });

  it('a 500 says only the request id; a 4xx carries code, message and details', () => {
    const internal = errorResult(new TypeError('secret detail'), 'req-1');
    expect(internal).toMatchObject({ statusCode: 500 });
    expect(internal.body).toBe(JSON.stringify({ error: { code: 'INTERNAL_ERROR', message: 'internal error; request id req-1' } }));
    expect(JSON.parse(errorResult(new NotFoundError('no flow', { flowId: 'f' }), 'r').body!)).toEqual({ error: { code: 'NOT_FOUND', message: 'no flow', details: { flowId: 'f' } } });
  });
});
