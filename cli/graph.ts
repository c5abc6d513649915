/**
 * `ivrflow graph <flow.json>`: draws a flow (docs/graph.md) as Mermaid (default), DOT or SVG
 * (rendered in-process by Graphviz compiled to WASM), its sub-flows and workflow flows as nested
 * clusters when `--flows` holds them, with an execution (`--execution`) and/or coverage
 * (`--coverage`) overlay. Exit 0 when drawn, 2 for an invalid flow, overlay file or usage.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { folderResolver, readJsonFile, workflowConfigurationsIn } from '#shared/flow/files';
import { coverageOverlayOf, dotOf, GraphOverlayError, mermaidOf, workflowFlowIdResolver, type GraphOptions } from '#shared/flow/graph';
import { svgOf } from '#shared/flow/graph-svg';
import type { Flow } from '#shared/flow/schema';
import { validateFlow } from '#shared/flow/validate';
import { formatDiagnostics } from './format';

/** The options of `ivrflow graph`, as the command line parser gives them. */
export interface GraphCommandOptions {
  flows?: string;
  workflowConfigurations?: string;
  format: 'mermaid' | 'dot' | 'svg';
  output?: string;
  execution?: string;
  coverage?: string;
}

/** Runs `ivrflow graph`; returns the exit code. */
export async function graphCommand(file: string, values: GraphCommandOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { value, error } = readJsonFile(file);
  const result = error ? { errors: [error], flow: undefined } : await validateFlow(value, { allowPrivateHosts: true });
  if (!result.flow) {
    for (const l of formatDiagnostics(file, result.errors, 'error')) err(l);
    return 2;
  }
  const options: GraphOptions = {};
  if (values.flows !== undefined) {
    if (!existsSync(values.flows)) {
      err(`--flows: ${values.flows}: no such folder`);
      return 2;
    }
    const folder = await folderResolver(resolve(values.flows), true);
    options.flows = new Map<string, Flow>([...folder.flows].map(([id, list]) => [id, list[0]!]));
    const configurationsDir = values.workflowConfigurations ?? join(dirname(resolve(values.flows)), 'workflow-configurations');
    options.workflowFlowId = workflowFlowIdResolver(workflowConfigurationsIn(configurationsDir).configurations);
  }
  for (const [flag, path] of [
    ['--execution', values.execution],
    ['--coverage', values.coverage],
  ] as const) {
    if (path === undefined) continue;
    const overlay = readJsonFile(path);
    if (overlay.error) {
      err(`${flag} ${path}: ${overlay.error.code} ${overlay.error.message}`);
      return 2;
    }
    try {
      if (flag === '--execution') options.execution = overlay.value;
      else options.coverage = coverageOverlayOf(overlay.value);
    } catch (e) {
      if (!(e instanceof GraphOverlayError)) throw e;
      err(`${flag} ${path}: ${e.code} ${e.message}`);
      return 2;
    }
  }
  let text: string;
  try {
    text = values.format === 'mermaid' ? mermaidOf(result.flow, options) : values.format === 'dot' ? dotOf(result.flow, options) : await svgOf(dotOf(result.flow, options));
  } catch (e) {
    // An execution overlay that is not one (or is a run of another flow) is found while drawing.
    if (!(e instanceof GraphOverlayError)) throw e;
    err(`--execution ${values.execution}: ${e.code} ${e.message}`);
    return 2;
  }
  if (values.output !== undefined) {
    writeFileSync(values.output, text.endsWith('\n') ? text : `${text}\n`);
    err(`${file}: ${values.format} written to ${values.output}`);
  } else out(text.replace(/\n$/, ''));
  return 0;
}
