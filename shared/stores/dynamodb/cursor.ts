/**
 * Pagination cursors: a DynamoDB `LastEvaluatedKey` of a `byKind` listing as opaque base64url JSON.
 *
 * A cursor comes back from the caller, so it is checked before it becomes an `ExclusiveStartKey`:
 * a malformed one must be a 400, never a DynamoDB ValidationException (a 500).
 */
import { BadRequestError } from '../../errors';

/** The attributes of a `byKind` key: the table's (`pk`, `sk`) and the index's (`kind`, `id`). */
const KEY_ATTRIBUTES = ['pk', 'sk', 'kind', 'id'] as const;
/**
 * DynamoDB's key size limits, UTF-8 bytes: 2048 for a partition key (`pk`, and `kind` in the
 * index), 1024 for a sort key (`sk`, and `id` in the index). Key strings may not be empty.
 */
const MAX_KEY_BYTES: Record<(typeof KEY_ATTRIBUTES)[number], number> = { pk: 2048, sk: 1024, kind: 2048, id: 1024 };
/** The longest cursor accepted, characters (a real one is far shorter: ids are ≤ 1024 bytes). */
export const MAX_CURSOR_LENGTH = 4096;

/** A `byKind` listing's start key: the table's `pk`, `sk` and the index's `kind`, `id`. */
export type ListingKey = Record<(typeof KEY_ATTRIBUTES)[number], string>;

/** A listing's `LastEvaluatedKey` as the page's `nextCursor` (base64url JSON); no cursor on the last page. */
export function encodeCursor(key: Record<string, unknown> | undefined): { nextCursor?: string } {
  return key ? { nextCursor: Buffer.from(JSON.stringify(key)).toString('base64url') } : {};
}

function isKeyString(value: unknown, maxBytes: number): value is string {
  // A lone surrogate cannot be sent to DynamoDB as UTF-8.
  return typeof value === 'string' && value.length > 0 && Buffer.byteLength(value) <= maxBytes && !/\p{Cs}/u.test(value);
}

/**
 * The JSON object a cursor encodes.
 * @throws what `bad` makes, naming the problem: longer than {@link MAX_CURSOR_LENGTH}, not
 *   base64url, not JSON, not an object
 */
export function cursorObject(cursor: string, bad: (why: string) => Error): Record<string, unknown> {
  if (cursor.length > MAX_CURSOR_LENGTH) throw bad(`longer than ${MAX_CURSOR_LENGTH} characters`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not base64url');
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key)) throw bad('not an object');
  return key as Record<string, unknown>;
}

/**
 * The start key of the next page of the `byKind` listing of `expected.kind`.
 * @returns undefined for no cursor (the first page)
 * @throws BadRequestError 400 BAD_CURSOR unless the cursor is base64url (at most
 *   {@link MAX_CURSOR_LENGTH} characters) of a JSON object with exactly `pk`, `sk`, `kind`, `id`,
 *   each a non-empty string within DynamoDB's key size limits, and `kind` equal to `expected.kind`.
 */
export function decodeCursor(cursor: string | undefined, expected: { kind: string }): ListingKey | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const bad = (why: string) => new BadRequestError('BAD_CURSOR', `cursor is not one this API returned (${why}); pass back the nextCursor of the previous page unchanged`);
  const record = cursorObject(cursor, bad);
  const names = Object.keys(record);
  if (names.length !== KEY_ATTRIBUTES.length || !KEY_ATTRIBUTES.every((name) => Object.hasOwn(record, name))) throw bad(`attributes must be exactly ${KEY_ATTRIBUTES.join(', ')}`);
  for (const name of KEY_ATTRIBUTES) if (!isKeyString(record[name], MAX_KEY_BYTES[name])) throw bad(`${name} must be a non-empty string of at most ${MAX_KEY_BYTES[name]} bytes`);
  if (record['kind'] !== expected.kind) throw bad(`it belongs to another listing`);
  return { pk: record['pk'] as string, sk: record['sk'] as string, kind: record['kind'], id: record['id'] as string };
}
