/**
 * `ivrflow serve [--port N] [--data <dir>] [--no-examples]`: DynamoDB Local, the tables, every
 * route through the real handlers on 127.0.0.1, the example flows deployed and the sample CRM
 * started for them. Stops cleanly on SIGINT/SIGTERM.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEMO_API_KEY, startCrmServer } from '../examples/backends/crm-server';
import type { FlowService } from '../shared/api/flow-service';
import { IvrflowError } from '../shared/errors';
import { startDynamoDbLocal } from '../shared/local/dynamodb-local';
import { startLocalStack } from '../shared/local/stack';
import { deployInOrder, flowFilesIn, readJsonFile } from './flow-files';

async function deployExamples(service: FlowService, log: (s: string) => void): Promise<void> {
  const dir = fileURLToPath(new URL('../examples/flows', import.meta.url));
  const bodies = flowFilesIn(dir).map((f) => readJsonFile(f).value as { id: string });
  await deployInOrder(bodies, async (body) => {
    try {
      const r = await service.deploy(body.id, body);
      log(`  deployed ${body.id} v${r.version}`);
      return { ok: true, missingFlow: false };
    } catch (err) {
      if (err instanceof IvrflowError && err.code === 'VERSION_CONFLICT') return { ok: true, missingFlow: false };
      const missing = err instanceof IvrflowError && JSON.stringify(err.details ?? '').includes('MISSING_FLOW');
      if (!missing) log(`  could not deploy ${body.id}: ${(err as Error).message}`);
      return { ok: false, missingFlow: missing };
    }
  });
}

export async function serveCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values } = parseArgs({ args, options: { port: { type: 'string' }, data: { type: 'string' }, 'no-examples': { type: 'boolean' } } });
  const port = values.port === undefined ? 3000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    err('--port must be an integer in [0, 65535]');
    return 2;
  }
  let dataDir: string | undefined;
  if (values.data) {
    dataDir = resolve(values.data);
    mkdirSync(dataDir, { recursive: true });
  }
  const ddb = await startDynamoDbLocal(dataDir ? { dataDir } : {});
  const stack = await startLocalStack({ dynamodbEndpoint: ddb.endpoint, port }).catch(async (e: unknown) => {
    await ddb.stop();
    throw e;
  });
  const crm = values['no-examples'] ? undefined : await startCrmServer();
  if (!values['no-examples']) {
    out('example flows:');
    await deployExamples(stack.services.flowService, out);
  }
  out(`DynamoDB Local at ${ddb.endpoint}${dataDir ? ` (data in ${dataDir})` : ' (in memory)'}`);
  if (crm) out(`sample CRM at ${crm.url} (X-API-Key: ${DEMO_API_KEY})`);
  out(`listening on ${stack.api.url}`);

  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  out('stopping');
  await stack.close();
  await crm?.close();
  await ddb.stop();
  return 0;
}
