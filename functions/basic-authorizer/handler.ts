/**
 * basic-authorizer Lambda: an API Gateway HTTP API Lambda authorizer (payload 2.0, simple
 * responses) for the execution routes of deployments whose callers send HTTP Basic credentials
 * (Twilio Studio). The expected credentials are the secret named by `IVRFLOW_CALLER_CREDENTIALS_SECRET`
 * (`{ "username", "password" }`), cached for 5 minutes; API Gateway caches each answer by the
 * Authorization header as well. Answers `{ isAuthorized }`; never throws for a caller's input.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerResult } from 'aws-lambda';
import { ENV, requiredEnv } from '#shared/config/env';
import { logger, metrics } from '#shared/observability';
import { BasicCredentialsChecker } from '#shared/platforms/basic-auth';
import { secretsManagerClient } from '#shared/config/secrets-manager-client';
import { SecretsManagerSecretStore } from '#shared/stores/secrets/secrets-manager-store';
import { lazy } from '../roots/adapters';
import type { SecretStore } from '#shared/stores/secret-store';

/** The handler over a given secret store (tests inject theirs). */
export function createBasicAuthorizerHandler(secrets: () => SecretStore, secretId: () => string) {
  let checker: BasicCredentialsChecker | undefined;
  return middy(async (event: APIGatewayRequestAuthorizerEventV2): Promise<APIGatewaySimpleAuthorizerResult> => {
    checker ??= new BasicCredentialsChecker({ secrets: secrets(), secretId: secretId() });
    const header = Object.entries(event.headers ?? {}).find(([k]) => k.toLowerCase() === 'authorization')?.[1];
    try {
      return { isAuthorized: await checker.check(header) };
    } catch (err) {
      logger.error('caller credentials cannot be checked', { error: err as Error });
      return { isAuthorized: false };
    }
  })
    .use(injectLambdaContext(logger))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** The Lambda handler over its root: one secret store, and the one secret it reads (no tables), both built on first invocation. */
export const handler = createBasicAuthorizerHandler(
  lazy(() => new SecretsManagerSecretStore({ client: secretsManagerClient() })),
  () => requiredEnv(ENV.callerCredentialsSecret),
);
