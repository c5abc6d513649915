/**
 * vitest globalSetup: one DynamoDB Local for the whole run (test files use their own tables).
 * Its endpoint is provided as `dynamodbEndpoint`.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '#shared/local/dynamodb-local';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const ddb = await startDynamoDbLocal();
  project.provide('dynamodbEndpoint', ddb.endpoint);
  return async () => ddb.stop();
}
