/**
 * `ivrflow` — validate and run flows.
 *
 *   ivrflow validate <file...> [--json]
 *   ivrflow run <flow.json> [--flows <dir>] [--var name=value]... [--vars-file <file.json>] [--secrets <file.json>] [--json] [--deadline-ms N] [--record <file.test.json> [--case-name <name>]]
 *   ivrflow serve [--port N] [--data <dir>] [--no-examples]
 *   ivrflow test [paths...] [--case <name>] [--coverage] [--coverage-json <file>] [--min-branch-coverage <percent>] [--reporter junit --output <file.xml>] [--json]
 *   ivrflow deploy <file...> --api <url>
 *   ivrflow refresh-tokens [--dynamodb-endpoint <url>] [--secrets-endpoint <url>] [--json]
 *   ivrflow invoke <function> --event <file.json> [--endpoint <url>|aws]
 *
 * Exit codes: validate 0 all valid / 1 otherwise; run 0 SUCCEEDED / 1 FAILED or TIMED_OUT /
 * 2 invalid flow or usage. `run` reports a sub-flow whose file (in `--flows`) is invalid as
 * `INVALID_SUBFLOW`, naming the file and its first problem. An unexpected error is one line on
 * stderr (`ivrflow: ...`, no stack trace) and exit code 1.
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock, systemRandomness } from '#shared/clock';
import { runFlowWithVariables } from '#shared/executor/executor';
import { acceptInputs } from '#shared/flow/inputs';
import { secretStoreService } from '#shared/connections/auth';
import { SecretNames } from '#shared/connections/secret-names';
import { ServiceContainer } from '#shared/services';
import { MemorySecretStore } from '#shared/stores/secrets/memory-secret-store';
import * as z from 'zod';
import { validateFlow } from '#shared/flow/validate';
import { parseUntrustedJson } from '#shared/json';
import { NodeHttpClient } from '#shared/http/client';
import { deployCommand } from './deploy';
import { appendRecordedCase, RecordingHttpClient } from './record';
import { invokeCommand } from './invoke';
import { refreshTokensCommand } from './refresh-tokens';
import { folderResolver, readJsonFile } from '#shared/flow/files';
import { serveCommand } from './serve';
import { TEST_USAGE, testCommand } from './test';
import { loadTestFile } from '#shared/testing/runner';
import { formatDiagnostics, formatResult } from './format';

const USAGE = `usage:
  ivrflow validate <file...> [--json]
  ivrflow run <flow.json> [--flows <dir>] [--var name=value]... [--vars-file <file.json>] [--secrets <file.json>] [--deadline-ms N] [--json] [--record <file.test.json> [--case-name <name>]]
  ivrflow serve [--port N] [--data <dir>] [--no-examples]
  ${TEST_USAGE}
  ivrflow deploy <file...> --api <url>
  ivrflow refresh-tokens [--dynamodb-endpoint <url>] [--secrets-endpoint <url>] [--json]
  ivrflow invoke <function> --event <file.json> [--endpoint <url>|aws]`;

/** Runs the CLI; returns the exit code. Never throws: an unexpected error is one line on `err` and exit code 1. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`), err: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'validate':
        return await validateCommand(rest, out, err);
      case 'run':
        return await runCommand(rest, out, err);
      case 'serve':
        return await serveCommand(rest, out, err);
      case 'test':
        return await testCommand(rest, out, err);
      case 'deploy':
        return await deployCommand(rest, out, err);
      case 'refresh-tokens':
        return await refreshTokensCommand(rest, out);
      case 'invoke':
        return await invokeCommand(rest, out, err);
      case undefined:
      case 'help':
      case '--help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        err(`unknown command '${command}'\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      err(`${(e as Error).message}\n${USAGE}`);
      return 2;
    }
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

async function validateCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, 'allow-private-hosts': { type: 'boolean' } } });
  if (positionals.length === 0) {
    err(`validate needs at least one file\n${USAGE}`);
    return 2;
  }
  const files: Array<{ file: string; valid: boolean; errors: unknown[]; warnings: unknown[] }> = [];
  for (const file of positionals) {
    if (file.endsWith('.test.json')) {
      // A flow test file: checked as `ivrflow test` loads it (the file, its flow, sub-flows and definitions).
      const { loaded, errors } = await loadTestFile(file);
      files.push({ file, valid: loaded !== undefined, errors, warnings: [] });
      if (!values.json) {
        for (const d of errors) for (const l of formatDiagnostics(d.file, [d], 'error')) err(l);
        if (loaded) out(`${file}: valid (flow test file, ${loaded.test.cases.length} case(s))`);
      }
      continue;
    }
    const { value, error } = readJsonFile(file);
    if (error) {
      files.push({ file, valid: false, errors: [error], warnings: [] });
      if (!values.json) err(formatDiagnostics(file, [error], 'error').join('\n'));
      continue;
    }
    const result = await validateFlow(value, { allowPrivateHosts: values['allow-private-hosts'] ?? false });
    files.push({ file, valid: result.valid, errors: result.errors, warnings: result.warnings });
    if (!values.json) {
      for (const l of formatDiagnostics(file, result.errors, 'error')) err(l);
      for (const l of formatDiagnostics(file, result.warnings, 'warning')) err(l);
      if (result.valid) out(`${file}: valid${result.warnings.length ? ` (${result.warnings.length} warning(s))` : ''}`);
    }
  }
  if (values.json) out(JSON.stringify({ valid: files.every((f) => f.valid), files }, null, 2));
  return files.every((f) => f.valid) ? 0 : 1;
}

function parseVar(text: string): [string, unknown] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--var expects name=value, got '${text}'`);
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  // JSON values (numbers, booleans, objects) are typed; anything else is a string, as DTMF is.
  if (/^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?|\{.*\}|\[.*\])$/s.test(raw.trim())) {
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
  }
  // Digit strings with a leading zero or longer than 15 digits (phone numbers, DTMF) stay strings.
  if (typeof value === 'number' && /^0\d|^\d{16,}/.test(raw.trim())) value = raw;
  return [text.slice(0, eq), value];
}

class UsageError extends Error {}

/** `--secrets`: the secrets a flow's bindings name, `{ "<secretId>": { "<key>": "value" } }` (the shape of a flow test file's `secrets`). */
const SecretsFile = z.record(z.string().min(1).max(256), z.record(z.string().min(1), z.string()));

async function runCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      flows: { type: 'string' },
      var: { type: 'string', multiple: true },
      'vars-file': { type: 'string' },
      secrets: { type: 'string' },
      json: { type: 'boolean' },
      'deadline-ms': { type: 'string' },
      record: { type: 'string' },
      'case-name': { type: 'string' },
    },
  });
  if (positionals.length !== 1) {
    err(`run needs exactly one flow file\n${USAGE}`);
    return 2;
  }
  const file = positionals[0]!;
  const variables: Record<string, unknown> = {};
  // Secret-bound variables resolve from this file only: an in-process run reaches no AWS service.
  const secrets = new MemorySecretStore();
  let secretsFile: Record<string, Record<string, string>> | undefined;
  if (values['case-name'] !== undefined && values.record === undefined) {
    err('--case-name goes with --record <file.test.json>');
    return 2;
  }
  try {
    if (values.secrets) {
      const { value, error } = readJsonFile(values.secrets, (text) => parseUntrustedJson(text));
      const parsed = error ? undefined : SecretsFile.safeParse(value);
      if (!parsed?.success) {
        const issue = parsed?.error.issues[0];
        throw new UsageError(`--secrets ${values.secrets}: ${error?.message ?? `${issue?.path.join('.') || '(file)'}: ${issue?.message ?? 'invalid'}`} (expected { "<secretId>": { "<key>": "value" } })`);
      }
      const names = new SecretNames();
      secretsFile = parsed.data;
      for (const [secretId, keys] of Object.entries(parsed.data)) await secrets.putSecretJson(names.flowSecret(secretId), keys);
    }
    if (values['vars-file']) {
      // Untrusted: a depth limit (64 levels) and no __proto__ keys (Object.assign below would set a prototype).
      const { value, error } = readJsonFile(values['vars-file'], (text) => parseUntrustedJson(text));
      if (error || typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--vars-file ${values['vars-file']}: ${error?.message ?? 'must hold a JSON object'}`);
      Object.assign(variables, value);
    }
    for (const v of values.var ?? []) {
      const [name, value] = parseVar(v);
      variables[name] = value;
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    return 2;
  }
  const deadlineMs = values['deadline-ms'] === undefined ? undefined : Number(values['deadline-ms']);
  if (deadlineMs !== undefined && !(Number.isInteger(deadlineMs) && deadlineMs > 0)) {
    err('--deadline-ms must be a positive integer');
    return 2;
  }

  const { value, error } = readJsonFile(file);
  const flowsDir = resolve(values.flows ?? dirname(file));
  const { resolve: resolveFlow, flowExists } = await folderResolver(flowsDir, true);
  // A sub-flow whose file is invalid is INVALID_SUBFLOW (with the file and its first problem), not MISSING_FLOW.
  const result = error ? { valid: false, errors: [error], warnings: [] } : await validateFlow(value, { allowPrivateHosts: true, flowExists });
  if (!result.valid || !('flow' in result) || !result.flow) {
    if (values.json) out(JSON.stringify({ valid: false, errors: result.errors }));
    else for (const l of formatDiagnostics(file, result.errors, 'error')) err(l);
    return 2;
  }
  const { problems } = acceptInputs(result.flow, variables);
  if (problems.length) {
    if (values.json) out(JSON.stringify({ errors: problems }));
    else for (const l of formatDiagnostics(file, problems, 'error')) err(l);
    return 2;
  }
  const node = new NodeHttpClient({ allowPrivateNetworks: true });
  const recording = values.record === undefined ? undefined : new RecordingHttpClient(node);
  try {
    const services = new ServiceContainer().provide(secretStoreService, secrets);
    const deps = { clock: systemClock, randomness: systemRandomness, http: recording ?? node, resolveFlow, services, ...(recording ? { onStep: (step: string) => (recording.step = step) } : {}) };
    const { result: execution, snapshot } = await runFlowWithVariables(result.flow, { variables, ...(deadlineMs ? { deadlineMs } : {}) }, deps);
    out(values.json ? JSON.stringify(execution) : formatResult(execution));
    if (recording && values.record) {
      const problem = appendRecordedCase(
        values.record,
        { flowFile: file, ...(values.flows ? { flowsDir: values.flows } : {}), variables, result: execution, snapshot, answers: recording.answers, ...(secretsFile ? { secrets: secretsFile } : {}) },
        values['case-name'],
      );
      if (problem) {
        err(problem);
        return 2;
      }
      err(`recorded case '${values['case-name'] ?? `recorded ${execution.startedAt}`}' in ${values.record}`);
    }
    return execution.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    node.close();
  }
}
