/**
 * Starts and stops the official DynamoDB Local (DESIGN §11): the jar that the npm package
 * `amplify-dynamodb-simulator` ships, run with the machine's Java (17+). Listens on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { createTableInput, DEFINITIONS_TABLE, STATE_TABLE, type TableDefinition } from '../stores/dynamodb/tables';

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  stop(): Promise<void>;
}

export interface DynamoDbLocalOptions {
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Folder for a persistent database; in memory when absent. */
  dataDir?: string;
  /** How long to wait for it to accept connections, ms. @default 30000 */
  startTimeoutMs?: number;
}

/** Local credentials and region: DynamoDB Local accepts any, the SDK needs some. */
export const LOCAL_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } as const;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/**
 * Starts DynamoDB Local.
 * @throws Error when Java is missing or it does not come up within `startTimeoutMs`.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const require = createRequire(import.meta.url);
  const emulator = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  const port = options.port || (await freePort());
  const args = [`-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`, '-Xmx512m', '-jar', join(emulator, 'DynamoDBLocal.jar'), '-port', String(port), '-disableTelemetry'];
  args.push(...(options.dataDir ? ['-sharedDb', '-dbPath', options.dataDir] : ['-inMemory']));
  const child: ChildProcess = spawn('java', args, { cwd: emulator, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  // Never leave an orphaned Java process behind when this process ends, however it ends.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => {
    exited = true;
    process.removeListener('exit', killOnExit);
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(`could not start DynamoDB Local (is Java 17+ installed?): ${err.message}`))));
  spawnError.catch(() => undefined);

  const giveUpAt = Date.now() + (options.startTimeoutMs ?? 30000);
  for (;;) {
    if (await Promise.race([accepts(port), spawnError])) break;
    if (exited || Date.now() > giveUpAt) {
      child.kill('SIGKILL');
      throw new Error(`DynamoDB Local did not start on port ${port}: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (exited) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(timer);
    },
  };
}

/** A DynamoDB client for a local endpoint. */
export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ ...LOCAL_AWS, endpoint });
}

/** Creates a table from its layout (and enables TTL) unless it exists. */
export async function ensureTable(client: DynamoDBClient, tableName: string, def: TableDefinition): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName, def)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
    return;
  }
  if (def.timeToLiveAttribute) {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: def.timeToLiveAttribute, Enabled: true } }));
  }
}

/** Creates the `Definitions` and `State` tables under the given names. */
export async function ensureTables(client: DynamoDBClient, names: { definitionsTable: string; stateTable: string }): Promise<void> {
  await ensureTable(client, names.definitionsTable, DEFINITIONS_TABLE);
  await ensureTable(client, names.stateTable, STATE_TABLE);
}
