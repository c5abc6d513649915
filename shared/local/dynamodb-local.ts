/**
 * Starts, restarts and stops the official DynamoDB Local (docs/architecture.md, "Local
 * development"): the jar that the npm package `amplify-dynamodb-simulator` ships, run with the
 * machine's Java (17+). Listens on 127.0.0.1.
 *
 * Java runs under a small POSIX `/bin/sh` watchdog (so this needs a Unix-like system), in a process
 * group of its own: the watchdog kills Java within about a second when this Node process is gone,
 * however it died (SIGKILL, a fatal out-of-memory abort), so DynamoDB Local is never left orphaned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { dynamoDbClient } from '../config/aws-clients';
import { createTableInput, DEFINITIONS_TABLE, STATE_TABLE, type TableDefinition } from '../stores/dynamodb/tables';

/** How a DynamoDB Local process ended, as Node reports it for the watchdog (which ends as Java did). */
export interface DynamoDbLocalExit {
  code: number | null;
  signal: string | null;
}

/** A running DynamoDB Local: its endpoint, and how to stop, restart or signal it. */
export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`; the same after {@link DynamoDbLocal.restart}. */
  endpoint: string;
  /** Stops it: SIGTERM to Java and its watchdog, SIGKILL after 3 s. Never calls `onExit`. */
  stop(): Promise<void>;
  /**
   * Starts it again on the same port with the same options (stopping the running process first,
   * without calling `onExit`) and resolves once it answers requests. An in-memory database
   * comes back empty: create the tables again ({@link ensureTables}).
   * @throws Error when the port has been taken meanwhile, when {@link DynamoDbLocal.stop} is called
   * during the restart, or as {@link startDynamoDbLocal} does.
   */
  restart(): Promise<void>;
  /**
   * Sends a signal to its process group: `SIGSTOP` makes it stop answering (connections are still
   * accepted), `SIGCONT` lets it answer again, `SIGKILL` kills it (an unexpected exit: `onExit`).
   * For tests of a store that stalls or dies.
   */
  signal(sig: NodeJS.Signals): void;
}

/** Options of {@link startDynamoDbLocal}. */
export interface DynamoDbLocalOptions {
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /** Folder for a persistent database; in memory when absent. */
  dataDir?: string;
  /** How long to wait for it to accept connections, ms. @default 30000 */
  startTimeoutMs?: number;
  /**
   * Called when a started process exits without {@link DynamoDbLocal.stop} (or a restart) having
   * asked it to, e.g. Java crashed or was killed; {@link DynamoDbLocal.restart} brings it back.
   * Java killed by a signal is reported as that `signal`. Not called when it fails to start (the
   * start or restart throws instead).
   */
  onExit?: (info: DynamoDbLocalExit) => void;
}

/** Local credentials and region: DynamoDB Local accepts any, the SDK needs some. */
export const LOCAL_AWS = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } as const;

/** The environment variable that gives the watchdog the pid of the Node process to outlive. */
const PARENT_PID_ENV = 'IVRFLOW_PARENT_PID';

/**
 * `sh -c WATCHDOG name java-args...` (POSIX sh: dash on Debian). Runs Java in the background and
 * polls every second; when the parent is gone it stops Java (TERM, KILL after 3 s). TERM/INT to
 * the watchdog are forwarded to Java as TERM (a non-interactive shell starts background jobs with
 * SIGINT ignored). It ends as Java did: same exit code, or killed by the same signal (`wait` says
 * 128 + n). `alive` treats a zombie as gone: `kill -0` succeeds on an exited, unreaped process.
 */
const WATCHDOG = `
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  case "\${stat##*") "}" in Z*|X*) return 1 ;; esac
  return 0
}
java "$@" </dev/null &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
while alive "$pid"; do
  if ! alive "$${PARENT_PID_ENV}"; then
    kill -TERM "$pid" 2>/dev/null
    i=0
    while [ "$i" -lt 3 ] && alive "$pid"; do sleep 1; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null
    break
  fi
  sleep 1
done
wait "$pid"
status=$?
trap - TERM INT
if [ "$status" -gt 128 ] && [ "$status" -lt 160 ]; then kill -$((status - 128)) $$; fi
exit "$status"
`;

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

/** One launched watchdog + Java. */
interface Instance {
  child: ChildProcess;
  /** Accepted connections once. */
  ready: boolean;
  /** stop() or restart() asked it to end: its exit is expected. */
  stopping: boolean;
  exited: boolean;
  exit: Promise<void>;
  stderr(): string;
  /** Signals the whole process group (watchdog, Java, its `sleep`). */
  signal(sig: NodeJS.Signals): void;
}

function launch(emulator: string, port: number, options: DynamoDbLocalOptions): Instance {
  const args = [`-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`, '-Xmx512m', '-jar', join(emulator, 'DynamoDBLocal.jar'), '-port', String(port), '-disableTelemetry'];
  args.push(...(options.dataDir ? ['-sharedDb', '-dbPath', options.dataDir] : ['-inMemory']));
  // detached: its own process group, so that SIGKILL reaches Java and not only the watchdog.
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'ivrflow-dynamodb-local', ...args], {
    cwd: emulator,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const signal = (sig: NodeJS.Signals) => {
    if (instance.exited || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      child.kill(sig);
    }
  };
  // Kill it when this process exits normally; the watchdog covers the deaths that skip 'exit'.
  const killOnExit = () => signal('SIGKILL');
  process.once('exit', killOnExit);
  const instance: Instance = {
    child,
    ready: false,
    stopping: false,
    exited: false,
    exit: new Promise<void>((resolve) =>
      child.once('exit', (code, sig) => {
        instance.exited = true;
        process.removeListener('exit', killOnExit);
        // The rest of the group (Java when the watchdog alone was killed) goes with it.
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // the group is gone
          }
        }
        resolve();
        if (instance.ready && !instance.stopping) options.onExit?.({ code, signal: sig });
      }),
    ),
    stderr: () => stderr.trim(),
    signal,
  };
  return instance;
}

/**
 * Whether DynamoDB Local on `port` answers a request (ListTables): Jetty accepts connections a
 * moment before the database behind it answers, and a caller's first request must not land there.
 */
async function answers(port: number): Promise<boolean> {
  if (!(await accepts(port))) return false;
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, requestHandler: { connectionTimeout: 500, requestTimeout: 1000 } });
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/** Waits until the instance answers requests on `port`. @throws Error naming the cause. */
async function waitUntilReady(instance: Instance, port: number, timeoutMs: number): Promise<void> {
  const spawnError = new Promise<never>((_, reject) => instance.child.once('error', (err) => reject(new Error(`could not start DynamoDB Local: ${err.message}`))));
  spawnError.catch(() => undefined);
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    if ((await Promise.race([answers(port), spawnError])) && !instance.exited) break;
    if (instance.exited || Date.now() > giveUpAt) {
      instance.stopping = true;
      instance.signal('SIGKILL');
      await instance.exit;
      const javaMissing = instance.child.exitCode === 127;
      throw new Error(`${javaMissing ? 'could not start DynamoDB Local (is Java 17+ installed?)' : `DynamoDB Local did not start on port ${port}`}: ${instance.stderr() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  instance.ready = true;
}

async function stopInstance(instance: Instance): Promise<void> {
  instance.stopping = true;
  if (instance.exited) return;
  instance.signal('SIGTERM');
  const timer = setTimeout(() => instance.signal('SIGKILL'), 3000);
  await instance.exit;
  clearTimeout(timer);
}

/**
 * Starts DynamoDB Local under its watchdog. A `process.once('exit')` handler also kills it when
 * this process exits without calling {@link DynamoDbLocal.stop}.
 * @throws Error when Java is missing or it does not come up within `startTimeoutMs`.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const require = createRequire(import.meta.url);
  const emulator = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  const port = options.port || (await freePort());
  const timeoutMs = options.startTimeoutMs ?? 30000;
  let current = launch(emulator, port, options);
  await waitUntilReady(current, port, timeoutMs);
  let stopped = false;
  let restarting: Promise<void> | undefined;

  const restartOnce = async () => {
    stopped = false;
    await stopInstance(current);
    if (await accepts(port)) throw new Error(`port ${port} is taken by another process`);
    if (stopped) throw new Error('DynamoDB Local was stopped during its restart');
    current = launch(emulator, port, options);
    await waitUntilReady(current, port, timeoutMs);
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      stopped = true;
      await stopInstance(current);
    },
    restart: () => (restarting ??= restartOnce().finally(() => (restarting = undefined))),
    signal: (sig) => current.signal(sig),
  };
}

/** A DynamoDB client for a local endpoint. */
export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return dynamoDbClient({ ...LOCAL_AWS, endpoint });
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
