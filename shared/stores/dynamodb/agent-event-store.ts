/**
 * {@link AgentEventStore} on the `State` table. Items under `AGENT#<agentId>`: `SESSION` (the
 * session id and `expiresAtMs`) and `EVENT#<eventName>` (one pending event per name, so a newer
 * one replaces it by key; `order` = creation time and a random tiebreak). DynamoDB TTL on `ttl` (epoch seconds); `expiresAtMs` is what the code reads.
 *
 * Taking events is a query and one conditional `DeleteItem` per event the reader may have
 * (condition: the `order` the reader saw, so an event replaced meanwhile stays for the next read):
 * of concurrent readers, exactly one gets each event; a delete that fails leaves its event for the
 * next read. Events of another session that do not persist are never taken (their TTL removes
 * them), so a reader of an ended session cannot consume the new session's events.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { deliverable, type AgentEventStore, type StoredAgentEvent } from '../../agents/agent-events';
import { documentClient } from './document-client';

const pk = (agentId: string) => `AGENT#${agentId}`;
const sessionKey = (agentId: string) => ({ pk: pk(agentId), sk: 'SESSION' });
const eventKey = (agentId: string, eventName: string) => ({ pk: pk(agentId), sk: `EVENT#${eventName}` });
const ttl = (ms: number) => Math.ceil(ms / 1000);
/** Events returned by one read at most (32 KiB each: well under Lambda's 6 MB answer). */
const MAX_TAKE = 100;

function eventOf(item: Record<string, unknown>): StoredAgentEvent {
  return {
    eventName: item['eventName'] as string,
    data: item['data'] as string,
    createdAtMs: item['createdAtMs'] as number,
    persist: item['persist'] as boolean,
    ...(typeof item['sessionId'] === 'string' ? { sessionId: item['sessionId'] } : {}),
  };
}

/** Agent sessions and pending events in the `State` table (items under `AGENT#<agentId>`). */
export class DynamoAgentEventStore implements AgentEventStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(props: { tableName: string; client: DynamoDBClient }) {
    this.table = props.tableName;
    this.doc = documentClient(props.client);
  }

  async session(agentId: string, nowMs: number): Promise<string | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: sessionKey(agentId), ConsistentRead: true }));
    return out.Item && (out.Item['expiresAtMs'] as number) > nowMs ? (out.Item['sessionId'] as string) : undefined;
  }

  async join(agentId: string, nowMs: number, expiresAtMs: number): Promise<string> {
    // Keeps a live session's id (joining twice is one session), else starts a new one.
    const out = await this.doc
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: sessionKey(agentId),
          UpdateExpression: 'SET sessionId = if_not_exists(sessionId, :id), expiresAtMs = :exp, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAtMs > :now',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':id': randomUUID(), ':exp': expiresAtMs, ':ttl': ttl(expiresAtMs), ':now': nowMs },
          ReturnValues: 'ALL_NEW',
        }),
      )
      .catch(async (err: unknown) => {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        // An expired session: a new one.
        const sessionId = randomUUID();
        await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...sessionKey(agentId), sessionId, expiresAtMs, ttl: ttl(expiresAtMs) } }));
        return { Attributes: { sessionId } };
      });
    return out.Attributes!['sessionId'] as string;
  }

  async touch(agentId: string, nowMs: number, expiresAtMs: number): Promise<string | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: sessionKey(agentId),
          UpdateExpression: 'SET expiresAtMs = :exp, #ttl = :ttl',
          ConditionExpression: 'expiresAtMs > :now',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':exp': expiresAtMs, ':ttl': ttl(expiresAtMs), ':now': nowMs },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes?.['sessionId'] as string;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  async leave(agentId: string, nowMs: number): Promise<boolean> {
    const out = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: sessionKey(agentId), ReturnValues: 'ALL_OLD' }));
    return out.Attributes !== undefined && (out.Attributes['expiresAtMs'] as number) > nowMs;
  }

  async put(agentId: string, event: StoredAgentEvent, expiresAtMs: number): Promise<void> {
    const order = `${String(event.createdAtMs).padStart(15, '0')}#${randomUUID()}`;
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...eventKey(agentId, event.eventName), ...event, order, ttl: ttl(expiresAtMs), expiresAtMs } }));
  }

  async take(agentId: string, sessionId: string, nowMs: number): Promise<StoredAgentEvent[]> {
    const items: Array<Record<string, unknown>> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({ TableName: this.table, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :event)', ExpressionAttributeValues: { ':pk': pk(agentId), ':event': 'EVENT#' }, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    items.sort((a, b) => String(a['order']).localeCompare(String(b['order'])));
    // Only what this reader may have, oldest first, at most a batch (the rest stays for the next read).
    const mine = items
      .map((item) => ({ item, event: eventOf(item) }))
      .filter(({ item, event }) => deliverable(event, (item['expiresAtMs'] as number) > nowMs, sessionId))
      .slice(0, MAX_TAKE);
    // Each delete is conditional on the version read, and a failed one loses nothing: its event stays.
    const deleted = await Promise.allSettled(
      mine.map(({ item }) =>
        this.doc.send(
          new DeleteCommand({ TableName: this.table, Key: { pk: item['pk'], sk: item['sk'] }, ConditionExpression: '#o = :order', ExpressionAttributeNames: { '#o': 'order' }, ExpressionAttributeValues: { ':order': item['order'] } }),
        ),
      ),
    );
    return mine.filter((_, i) => deleted[i]!.status === 'fulfilled').map(({ event }) => event);
  }
}
