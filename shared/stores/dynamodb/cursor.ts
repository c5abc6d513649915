/** Pagination cursors: a DynamoDB `LastEvaluatedKey` as opaque base64url JSON. */
import { BadRequestError } from '../../errors';

export function encodeCursor(key: Record<string, unknown> | undefined): { nextCursor?: string } {
  return key ? { nextCursor: Buffer.from(JSON.stringify(key)).toString('base64url') } : {};
}

/** @throws BadRequestError 400 BAD_CURSOR for a cursor this API did not return. */
export function decodeCursor(cursor: string | undefined): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof key !== 'object' || key === null || typeof (key as Record<string, unknown>)['pk'] !== 'string') throw new Error('shape');
    return key as Record<string, unknown>;
  } catch {
    throw new BadRequestError('BAD_CURSOR', 'cursor is not one this API returned');
  }
}
