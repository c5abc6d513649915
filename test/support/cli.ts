/** Running the `ivrflow` command from tests: in this process through `main`, or as a child process through `cli/bin.mjs`. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../../cli/main';

/** The repository root (the child process's working directory). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `ivrflow <args>` through `main` in this process: the exit code and what it printed, lines joined by `\n`. */
export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    args,
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `ivrflow <args>` as a child process (`node cli/bin.mjs`, from the repository root), with `env` added to this process's environment. */
export function cliProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [`${ROOT}/cli/bin.mjs`, ...args], { cwd: ROOT, env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
