/** The DynamoDB document client every store uses. */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { translateUnavailable } from '../aws-clients';

/**
 * The document client over `client`, whose failures to reach the table are {@link StoreUnavailableError}s
 * (`shared/stores/aws-clients.ts`).
 */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  translateUnavailable(client);
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false } });
}
