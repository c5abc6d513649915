/**
 * `ivrflow run <flow.json>`: runs a flow in this process against the real backends it names
 * (loopback and private hosts allowed), secrets from `--secrets` only. Exit 0 SUCCEEDED, 1 FAILED
 * or TIMED_OUT, 2 an invalid flow, input or usage. A sub-flow whose file (in `--flows`) is
 * invalid is `INVALID_SUBFLOW`, naming the file and its first problem.
 */
import { dirname, resolve } from 'node:path';
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
import { folderResolver, readJsonFile } from '#shared/flow/files';
import { appendRecordedCase, RecordingHttpClient } from './record';
import { formatDiagnostics, formatResult } from './format';

/** The options of `ivrflow run`, as the command line parser gives them. */
export interface RunOptions {
  flows?: string;
  var: string[];
  varsFile?: string;
  secrets?: string;
  json?: boolean;
  deadlineMs?: string;
  record?: string;
  caseName?: string;
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

/** Runs `ivrflow run`; returns the exit code. */
export async function runCommand(file: string, values: RunOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const variables: Record<string, unknown> = {};
  // Secret-bound variables resolve from this file only: an in-process run reaches no AWS service.
  const secrets = new MemorySecretStore();
  let secretsFile: Record<string, Record<string, string>> | undefined;
  if (values.caseName !== undefined && values.record === undefined) {
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
    if (values.varsFile) {
      // Untrusted: a depth limit (64 levels) and no __proto__ keys (Object.assign below would set a prototype).
      const { value, error } = readJsonFile(values.varsFile, (text) => parseUntrustedJson(text));
      if (error || typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`--vars-file ${values.varsFile}: ${error?.message ?? 'must hold a JSON object'}`);
      Object.assign(variables, value);
    }
    for (const v of values.var) {
      const [name, value] = parseVar(v);
      variables[name] = value;
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(e.message);
    return 2;
  }
  const deadlineMs = values.deadlineMs === undefined ? undefined : Number(values.deadlineMs);
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
        values.caseName,
      );
      if (problem) {
        err(problem);
        return 2;
      }
      err(`recorded case '${values.caseName ?? `recorded ${execution.startedAt}`}' in ${values.record}`);
    }
    return execution.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    node.close();
  }
}
