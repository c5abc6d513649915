/**
 * `ivrflow` — write, check, test, run and deploy flows. One parser (commander) for every
 * command: `ivrflow <command> --help` shows the command's usage, flags and an example (exit 0),
 * `ivrflow --version` the version; an unknown command or flag is exit 2 with a "did you mean".
 *
 *   ivrflow validate <file...> [--flows <dir>] [--workflow-configurations <dir>] [--caller <name>[:ms]] [--json]
 *   ivrflow run <flow.json> [--flows <dir>] [--var name=value]... [--vars-file <file>] [--secrets <file>] [--json] [--record <file.test.json>]
 *   ivrflow test [paths...] [--coverage] [--min-branch-coverage <percent>] [--reporter junit --output <file.xml>] [--json]
 *   ivrflow graph <flow.json> [--flows <dir>] [--format mermaid|dot|svg] [--output <file>] [--execution <file>] [--coverage <file>]
 *   ivrflow serve [--port N] [--data <dir>] [--no-examples]
 *   ivrflow deploy <file...> --api <url> [--aws]
 *   ivrflow refresh-tokens [--dynamodb-endpoint <url>] [--secrets-endpoint <url>] [--json]
 *   ivrflow invoke <function> --event <file.json> [--endpoint <url>|aws]
 *   ivrflow flows list [--limit N] [--cursor C] [--all] | flows get <id> [--version N] | flows versions <id>
 *   ivrflow executions list [--flow <id>] [--status <S>] [--since <t>] [--until <t>] [--contact <id>] [--limit N] [--all] | executions get <executionId>
 *   ivrflow circuits list [--limit N] [--all] | circuits get <key> | circuits reset <key>
 *   ivrflow connections list [--limit N] [--all] | connections get <name>
 *   ivrflow audit list [--since <t>] [--until <t>] [--kind <kind>] [--limit N] [--all]
 *
 * The remote commands (the last five, and deploy) talk to an ivrflow API: `--api <url>` or
 * `IVRFLOW_API_URL`, `--aws` to sign with AWS Signature Version 4, `--json` for the server's JSON.
 *
 * Exit codes: 0 success; 1 a flow invalid (validate), a run FAILED or TIMED_OUT, a test failed;
 * 2 bad usage or input; 1 a remote command's 4xx/5xx answer or an API it cannot reach. An
 * unexpected error is one line on stderr (`ivrflow: ...`, no stack trace) and exit code 1.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { API_URL_ENV } from './api-client';
import { deployCommand } from './deploy';
import { graphCommand } from './graph';
import { invokeCommand } from './invoke';
import { refreshTokensCommand } from './refresh-tokens';
import { auditList, AUDIT_KINDS, circuitsGet, circuitsList, circuitsReset, connectionsGet, connectionsList, executionsGet, executionsList, flowsGet, flowsList, flowsVersions, type RemoteIo } from './remote';
import { runCommand } from './run';
import { serveCommand } from './serve';
import { testCommand } from './test';
import { validateCommand } from './validate';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** An example for a command's help. */
function example(...lines: string[]): string {
  return `\nExample:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;
}

/** `--var name=value`, repeatable. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--limit 10`, `--version 3`: a whole number ≥ 1 (commander reports anything else as bad usage). */
function positiveInt(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError('must be a whole number, 1 or more');
  return Number(value);
}

/** The flags of every command that talks to an ivrflow API. */
function apiFlags(command: Command): Command {
  return command
    .option('--api <url>', `the API base URL (default: $${API_URL_ENV})`)
    .option('--aws', 'sign each request with AWS Signature Version 4 (IAM authorization): credentials from the default chain, region from the URL or AWS_REGION');
}

/** The flags of a remote read: the API's, and --json. */
function readFlags(command: Command): Command {
  return apiFlags(command).option('--json', "print the server's JSON");
}

/** The flags of a remote listing: a read's, and paging. */
function listFlags(command: Command): Command {
  return readFlags(command).option('--limit <n>', "items per page (the server's default 25, at most 100)", positiveInt).option('--cursor <cursor>', 'start at this page (a nextCursor)').option('--all', 'follow nextCursor to the last page');
}

/** The remote commands: flows, executions, circuits, connections and audit, each a group of subcommands. */
function remoteCommands(root: Command, io: RemoteIo, done: (code: number) => void): void {
  const api = 'https://abc123.execute-api.eu-west-1.amazonaws.com';

  const flows = root
    .command('flows')
    .description('Deployed flows on an ivrflow API: list, get, versions')
    .addHelpText('after', example(`ivrflow flows list --api ${api} --aws`));
  listFlags(flows.command('list').description('List the deployed flows (GET /flows): id, name, flowType, latestVersion, updatedAt'))
    .addHelpText('after', example(`ivrflow flows list --api ${api} --aws --all`))
    .action(async (options: Parameters<typeof flowsList>[0]) => done(await flowsList(options, io)));
  readFlags(flows.command('get').description("Print a deployed flow's JSON (GET /flows/{id}), the latest version or --version N"))
    .argument('<id>', 'the flow id')
    .option('--version <n>', 'this version instead of the latest', positiveInt)
    .addHelpText('after', example('ivrflow flows get customer-lookup-ivr --version 2 --api http://127.0.0.1:3000'))
    .action(async (id: string, options: Parameters<typeof flowsGet>[1]) => done(await flowsGet(id, options, io)));
  listFlags(flows.command('versions').description("List a flow's deployed versions (GET /flows/{id}/versions): version, name, deployedAt"))
    .argument('<id>', 'the flow id')
    .addHelpText('after', example('ivrflow flows versions customer-lookup-ivr --api http://127.0.0.1:3000'))
    .action(async (id: string, options: Parameters<typeof flowsVersions>[1]) => done(await flowsVersions(id, options, io)));

  const executions = root.command('executions').description('Execution records on an ivrflow API: list, get').addHelpText('after', example('ivrflow executions list --since 1h --status FAILED --api http://127.0.0.1:3000'));
  listFlags(executions.command('list').description('List execution records (GET /executions), newest first: startedAt, executionId, flowId, version, status, branch, durationMs, contactId'))
    .option('--flow <id>', 'only this flow')
    .option('--status <status>', 'only this status (e.g. SUCCEEDED, FAILED, TIMED_OUT, WAITING)')
    .option('--since <time>', 'started at or after: ISO-8601, or 15m, 1h, 2d ago')
    .option('--until <time>', 'started before: ISO-8601, or 15m, 1h, 2d ago')
    .option('--contact <id>', "only this contact's (the caller's contactId)")
    .addHelpText('after', example('ivrflow executions list --flow customer-lookup-ivr --since 15m --api http://127.0.0.1:3000'))
    .action(async (options: Parameters<typeof executionsList>[0]) => done(await executionsList(options, io)));
  readFlags(executions.command('get').description('Print an execution record (GET /executions/{id}) as JSON'))
    .argument('<executionId>', 'the execution id')
    .addHelpText('after', example('ivrflow executions get 3f6c2a1e-8b1d-4c1e-9a57-0d2c5e7b9f10 --api http://127.0.0.1:3000'))
    .action(async (id: string, options: Parameters<typeof executionsGet>[1]) => done(await executionsGet(id, options, io)));

  const circuits = root.command('circuits').description('The shared circuit breakers on an ivrflow API: list, get, reset').addHelpText('after', example('ivrflow circuits list --api http://127.0.0.1:3000'));
  listFlags(circuits.command('list').description('List the circuits that have a record (GET /circuits): key, state, failures, retryAt, updatedAt'))
    .addHelpText('after', example('ivrflow circuits list --all --api http://127.0.0.1:3000'))
    .action(async (options: Parameters<typeof circuitsList>[0]) => done(await circuitsList(options, io)));
  readFlags(circuits.command('get').description("Show a circuit's record (GET /circuits/{key})"))
    .argument('<key>', 'the circuit key')
    .addHelpText('after', example("ivrflow circuits get 'GET crm.example.com/v2/accounts' --api http://127.0.0.1:3000"))
    .action(async (key: string, options: Parameters<typeof circuitsGet>[1]) => done(await circuitsGet(key, options, io)));
  apiFlags(circuits.command('reset').description('Close a circuit, forgetting its failures (DELETE /circuits/{key})'))
    .argument('<key>', 'the circuit key')
    .addHelpText('after', example("ivrflow circuits reset 'GET crm.example.com/v2/accounts' --api http://127.0.0.1:3000"))
    .action(async (key: string, options: Parameters<typeof circuitsReset>[1]) => done(await circuitsReset(key, options, io)));

  const connections = root.command('connections').description('Connections on an ivrflow API (never their credentials): list, get').addHelpText('after', example('ivrflow connections list --api http://127.0.0.1:3000'));
  listFlags(connections.command('list').description('List the connections (GET /connections): name, authentication, baseUrl, requests, updatedAt'))
    .addHelpText('after', example('ivrflow connections list --json --api http://127.0.0.1:3000'))
    .action(async (options: Parameters<typeof connectionsList>[0]) => done(await connectionsList(options, io)));
  readFlags(connections.command('get').description('Show a connection (GET /connections/{name}) and the state of its OAuth2 token'))
    .argument('<name>', 'the connection name')
    .addHelpText('after', example('ivrflow connections get crm --api http://127.0.0.1:3000'))
    .action(async (name: string, options: Parameters<typeof connectionsGet>[1]) => done(await connectionsGet(name, options, io)));

  const audit = root.command('audit').description('The audit trail of an ivrflow API: list').addHelpText('after', example('ivrflow audit list --since 2d --api http://127.0.0.1:3000'));
  listFlags(audit.command('list').description('List audit entries (GET /audit): at, kind, subject, version, actor'))
    .option('--since <time>', 'at or after: ISO-8601, or 15m, 1h, 2d ago')
    .option('--until <time>', 'before: ISO-8601, or 15m, 1h, 2d ago')
    .option('--kind <kind>', `only this kind: ${AUDIT_KINDS.join(', ')}`)
    .addHelpText('after', example('ivrflow audit list --kind flow.deployed --since 1d --api http://127.0.0.1:3000'))
    .action(async (options: Parameters<typeof auditList>[0]) => done(await auditList(options, io)));
}

/** The program; each action stores its exit code through `done`. */
function program(out: (s: string) => void, err: (s: string) => void, done: (code: number) => void): Command {
  const root = new Command('ivrflow')
    .description('Declarative contact-center (IVR) integration flows: validate, test, draw, run, deploy and inspect them')
    .version(VERSION, '-v, --version', 'print the version')
    // The program's own options only before a command: `flows get <id> --version N` is the flow's version, not ivrflow's.
    .enablePositionalOptions()
    .helpCommand('help [command]', 'show the help of a command')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.replace(/\n$/, '')), writeErr: (s) => err(s.replace(/\n$/, '')) })
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run 'ivrflow <command> --help' for usage)");

  root
    .command('validate')
    .description('Check flow files (and *.test.json flow test files): schema, references, sub-flows, workflows')
    .argument('<file...>', 'flow files and flow test files')
    .option('--flows <dir>', "folder of the flows that SubFlow and WorkflowExecute steps call (default: each file's folder)")
    .option('--workflow-configurations <dir>', 'folder of workflow configurations (default: workflow-configurations beside the flows folder)')
    .option('--caller <name[:ms]>', 'check each path against a caller: connect (8000), connect:<ms>, twilio (10000), cxone:<ms>, genesys:<ms>, <ms>')
    .option('--allow-private-hosts', 'accept loopback and private hosts in URLs (local development)')
    .option('--json', 'print one JSON document with every diagnostic')
    .addHelpText('after', example('ivrflow validate examples/flows/*.json', 'ivrflow validate examples/flows/customer-lookup-ivr.json --caller connect:3000'))
    .action(async (files: string[], options: Parameters<typeof validateCommand>[1]) => done(await validateCommand(files, options, out, err)));

  root
    .command('run')
    .description('Run a flow in this process against the backends it names')
    .argument('<flow.json>', 'the flow file')
    .option('--flows <dir>', "folder of the flows its sub-flows call (default: the flow's folder)")
    .option('--var <name=value>', 'an input variable (repeatable; JSON values are typed)', collect, [])
    .option('--vars-file <file.json>', 'input variables from a JSON object')
    .option('--secrets <file.json>', 'secrets for its bindings: { "<secretId>": { "<key>": "value" } }')
    .option('--deadline-ms <ms>', "the execution's deadline, ms")
    .option('--json', 'print the execution result as JSON')
    .option('--record <file.test.json>', 'append this run as a case of a flow test file (no credential written)')
    .option('--case-name <name>', 'the recorded case’s name (with --record)')
    .addHelpText(
      'after',
      example(
        'npm start   # in another terminal: the sample CRM on 127.0.0.1:4010',
        'ivrflow run examples/flows/customer-lookup-ivr.json --var dtmf_input=2125551234 --var crm_base_url=http://127.0.0.1:4010 --var api_key_variable=demo-api-key',
      ),
    )
    .action(async (file: string, options: Parameters<typeof runCommand>[1]) => done(await runCommand(file, options, out, err)));

  root
    .command('test')
    .description('Run flow test files (*.test.json) offline on a virtual clock')
    .argument('[paths...]', 'test files or folders (default: .)')
    .option('--case <name>', 'run only the case with this name')
    .option('--coverage', 'print step and branch coverage per flow')
    .option('--coverage-json <file>', 'write the coverage report as JSON')
    .option('--min-branch-coverage <percent>', 'exit 1 when a flow’s branch coverage is below it')
    .addOption(new Option('--reporter <reporter>', 'a report file format (with --output)').choices(['junit']))
    .option('--output <file.xml>', 'the report file (with --reporter)')
    .option('--json', 'print the results as JSON')
    .addHelpText('after', example('ivrflow test examples --coverage --min-branch-coverage 90'))
    .action(async (paths: string[], options: Parameters<typeof testCommand>[1]) => done(await testCommand(paths, options, out, err)));

  root
    .command('graph')
    .description('Draw a flow as a flowchart (Mermaid, DOT or SVG), its sub-flows and workflows as clusters, with an execution or coverage overlay')
    .argument('<flow.json>', 'the flow file')
    .option('--flows <dir>', 'folder of the flows its SubFlow and WorkflowExecute steps call, drawn as nested clusters')
    .option('--workflow-configurations <dir>', 'folder of workflow configurations (default: workflow-configurations beside the flows folder)')
    .addOption(new Option('--format <format>', 'the output format').choices(['mermaid', 'dot', 'svg']).default('mermaid'))
    .option('-o, --output <file>', 'write the drawing to this file instead of stdout')
    .option('--execution <file.json>', 'overlay a run: an execution record (GET /executions/{id}) or `ivrflow run --json` output')
    .option('--coverage <coverage.json>', 'overlay coverage: the file `ivrflow test --coverage-json` writes (missed branches dashed red)')
    .addHelpText('after', example('ivrflow graph examples/flows/customer-lookup-ivr.json --flows examples/flows --format svg -o ivr.svg'))
    .action(async (file: string, options: Parameters<typeof graphCommand>[1]) => done(await graphCommand(file, options, out, err)));

  root
    .command('serve')
    .description('The whole stack on 127.0.0.1: DynamoDB Local, the Flow API, the functions, the example backends')
    .option('--port <n>', 'the API port', '3000')
    .option('--data <dir>', 'keep DynamoDB Local data in this folder')
    .option('--no-examples', 'start without the example backends, connection and flows')
    .addHelpText('after', example('ivrflow serve --port 3000'))
    .action(async (options: Parameters<typeof serveCommand>[0]) => done(await serveCommand(options, out, err)));

  root
    .command('deploy')
    .description('Push flow files to a Flow API (PUT /flows/{id}), sub-flows first')
    .argument('<file...>', 'flow files')
    .addOption(new Option('--api <url>', 'the Flow API base URL').env(API_URL_ENV).makeOptionMandatory())
    .option('--aws', 'sign each request with AWS Signature Version 4 (IAM authorization): credentials from the default chain, region from the URL or AWS_REGION')
    .addHelpText('after', example('ivrflow deploy examples/flows/*.json --api http://127.0.0.1:3000'))
    .action(async (files: string[], options: Parameters<typeof deployCommand>[1]) => done(await deployCommand(files, options, out, err)));

  root
    .command('refresh-tokens')
    .description('Refresh the OAuth2 tokens of every connection due (what the token-refresher runs)')
    .option('--dynamodb-endpoint <url>', 'a local DynamoDB endpoint')
    .option('--secrets-endpoint <url>', 'a local Secrets Manager endpoint')
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', example('ivrflow refresh-tokens --dynamodb-endpoint http://127.0.0.1:8000 --secrets-endpoint http://127.0.0.1:3000'))
    .action(async (options: Parameters<typeof refreshTokensCommand>[0]) => done(await refreshTokensCommand(options, out)));

  root
    .command('invoke')
    .description('Invoke a function with an event through the Lambda Invoke API (local serve by default)')
    .argument('<function>', 'the function name')
    .requiredOption('--event <file.json>', 'the event')
    .option('--endpoint <url|aws>', 'the Lambda endpoint, or aws', 'http://127.0.0.1:3000')
    .addHelpText('after', example('ivrflow invoke connect-invoke --event examples/events/connect-contact-flow-event.json'))
    .action(async (name: string, options: Parameters<typeof invokeCommand>[1]) => done(await invokeCommand(name, options, out, err)));

  remoteCommands(root, { out, err }, done);
  return root;
}

/** Runs the CLI; returns the exit code. Never throws: an unexpected error is one line on `err` and exit code 1. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), err: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<number> {
  let code = 0;
  try {
    await program(out, err, (c) => (code = c)).parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    // Help and version are exit 0; every other parser error (unknown command or flag, a missing argument) is bad usage.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    err(`ivrflow: ${oneLine(e)}`);
    return 1;
  }
}

/** An error as one line, without its stack: `Name: message`, line breaks folded, at most 1000 characters. */
function oneLine(e: unknown): string {
  let text: string;
  try {
    text = e instanceof Error ? `${e.name}: ${e.message}` : `error: ${String(e)}`;
  } catch {
    text = 'unexpected error';
  }
  text = text.replace(/\s*[\r\n]+\s*/g, ' ');
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}
