/**
 * `ivrflow refresh-tokens [--dynamodb-endpoint URL] [--secrets-endpoint URL] [--json]`: runs the
 * token-refresher once, as its 5-minute schedule does. Tables and the secret prefix come from the
 * environment (`IVRFLOW_STATE_TABLE`, `IVRFLOW_DEFINITIONS_TABLE`, `IVRFLOW_SECRET_PREFIX`;
 * default the local ones, `ivrflow-state` and `ivrflow-definitions`), AWS access from the usual
 * SDK configuration; the endpoints point it at DynamoDB Local and the local Secrets Manager that
 * `ivrflow serve` prints. Exit code 0 when no token failed, 1 otherwise.
 */
import { tokenRefresherRoot } from '../functions/token-refresher/root';
import { dynamoDbClient } from '#shared/config/aws-clients';
import { secretsManagerClient } from '#shared/config/secrets-manager-client';
import { configFromEnv } from '#shared/config/runtime';
import { ENV } from '#shared/config/env';
import { describeRefresh, refreshTokens } from '#shared/connections/refresher';
import { LOCAL_AWS, localDynamoDbClient } from '#shared/local/dynamodb-local';

export async function refreshTokensCommand(values: { dynamodbEndpoint?: string; secretsEndpoint?: string; json?: boolean }, out: (s: string) => void): Promise<number> {
  const config = configFromEnv({
    [ENV.definitionsTable]: 'ivrflow-definitions',
    [ENV.stateTable]: 'ivrflow-state',
    ...process.env,
    [ENV.allowPrivateNetworks]: values.dynamodbEndpoint ? 'true' : (process.env[ENV.allowPrivateNetworks] ?? 'false'),
  });
  const dynamodb = values.dynamodbEndpoint ? localDynamoDbClient(values.dynamodbEndpoint) : dynamoDbClient();
  const secretsManager = values.secretsEndpoint ? secretsManagerClient({ ...LOCAL_AWS, endpoint: values.secretsEndpoint }) : secretsManagerClient();
  try {
    // Events are summarised below, not logged one by one.
    const services = tokenRefresherRoot(config, { dynamodb, secretsManager: () => Promise.resolve(secretsManager), onTokenEvent: () => undefined });
    const summary = await refreshTokens(services.tokenRegistry, services.tokens);
    out(values.json ? JSON.stringify(summary) : describeRefresh(summary));
    return summary.failed.length > 0 ? 1 : 0;
  } finally {
    dynamodb.destroy();
    secretsManager.destroy();
  }
}
