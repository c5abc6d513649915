/**
 * The `ivrflow` command line as a new user meets it: per-command help, the version, "did you mean"
 * for a mistyped command or flag, INVALID_JSON with its line and column, and sub-flow and workflow
 * references that validate resolves among the files given and the flows folder, and `graph` with
 * its formats and overlays.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_API_KEY, startCrmServer } from '../../examples/backends/crm-server';
import { cli } from '../support/cli';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ivrflow-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('help and version', () => {
  it.each(['validate', 'run', 'test', 'graph', 'serve', 'deploy', 'refresh-tokens', 'invoke'])('ivrflow %s --help prints its own usage, flags and an example, exit 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([command, flag]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: ivrflow ${command} `));
      expect(r.out).toContain('Options:');
      expect(r.out).toMatch(new RegExp(`Example:\\n  \\$ (ivrflow ${command}|npm start)`));
    }
  });

  it('ivrflow --version prints the package version; no command prints the commands and exits 2', async () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(await cli(['--version'])).toMatchObject({ code: 0, out: version });
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/Commands:[\s\S]*validate[\s\S]*deploy/);
  });

  it('a mistyped command or flag is exit 2 with "did you mean"', async () => {
    const command = await cli(['valdate', 'x.json']);
    expect(command.code).toBe(2);
    expect(command.err).toContain('(Did you mean validate?)');
    const flag = await cli(['validate', '--jsn', 'x.json']);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain('(Did you mean --json?)');
    const required = await cli(['deploy', 'x.json']);
    expect(required.code).toBe(2);
    expect(required.err).toContain("required option '--api <url>' not specified");
  });
});

describe('validate', () => {
  it('INVALID_JSON names the line and column of the first syntax error', async () => {
    const file = write('broken.json', '{\n  "id": "x",\n  "steps": [ }\n');
    const r = await cli(['validate', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}: error INVALID_JSON (root): line 3, column 14: value expected`);
    const empty = await cli(['validate', write('empty.json', '')]);
    expect(empty.err).toContain('INVALID_JSON (root): line 1, column 1: value expected');
  });

  it('SubFlow references resolve among the files given and --flows; a missing one is MISSING_FLOW naming it', async () => {
    const parent = JSON.stringify({
      id: 'parent',
      name: 'P',
      flowType: 'IVR',
      steps: [
        { id: 'sub', type: 'SubFlow', configuration: { flowId: 'child' }, branches: { OnSuccess: 'done', OnError: 'done' } },
        { id: 'done', type: 'End', configuration: {} },
      ],
    });
    const child = JSON.stringify({ id: 'child', name: 'C', flowType: 'IVR', steps: [{ id: 'end', type: 'End', configuration: {} }] });
    const lonely = mkdtempSync(join(dir, 'lonely-'));
    const parentFile = join(lonely, 'parent.json');
    writeFileSync(parentFile, parent);
    const missing = await cli(['validate', parentFile]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`${parentFile}: error MISSING_FLOW steps[0].configuration.flowId: flow 'child' does not exist`);
    const childFile = write('child.json', child);
    expect((await cli(['validate', parentFile, childFile])).code).toBe(0);
    expect((await cli(['validate', parentFile, '--flows', dir])).code).toBe(0);
    expect((await cli(['validate', parentFile, '--flows', join(dir, 'nowhere')])).code).toBe(2);
  });

  it('WorkflowExecute references resolve through the workflow configurations beside the flows', async () => {
    expect((await cli(['validate', 'examples/flows/agent-screen-pop-ivr.json'])).code).toBe(0);
    const flow = JSON.parse(readFileSync('examples/flows/agent-screen-pop-ivr.json', 'utf8')) as { steps: Array<{ type: string; configuration: Record<string, unknown> }> };
    const step = flow.steps.find((s) => s.type === 'WorkflowExecute')!;
    step.configuration['workflowId'] = 'no-such-workflow';
    const file = write('screen-pop.json', JSON.stringify(flow));
    const r = await cli(['validate', file, '--flows', 'examples/flows']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error MISSING_WORKFLOW steps\[\d+\]\.configuration\.workflowId: workflow configuration 'crm-agent' has no workflow 'no-such-workflow' \(it has search-contact\)/);
  });

  it('--caller: the IVR (worst case 6000 ms: its sub-flow cut at its own 6000 ms deadline) fails connect:3000 and fits connect (8000); a bad caller is exit 2', async () => {
    const ivr = 'examples/flows/customer-lookup-ivr.json';
    const short = await cli(['validate', ivr, '--caller', 'connect:3000']);
    expect(short.code).toBe(1);
    expect(short.out).toContain(`${ivr}: worst case 6000 ms against 3000 ms (caller connect 3000 ms, deadline 8000 ms):`);
    expect(short.err).toContain(`${ivr}: error CALLER_DEADLINE_EXCEEDED steps[0]: path subflow-integration → agent-fallback can take 6000 ms in the worst case, more than the 3000 ms limit`);
    const fits = await cli(['validate', ivr, '--caller', 'connect']);
    expect(fits.code).toBe(0);
    expect(fits.err).not.toContain('CALLER_DEADLINE_EXCEEDED');
    const json = await cli(['validate', ivr, '--caller', 'connect', '--json']);
    const report = JSON.parse(json.out) as { files: Array<{ callerFit: { limitMs: number; paths: Array<{ path: string[]; worstCaseMs: number }> } }> };
    expect(report.files[0]!.callerFit.limitMs).toBe(8000);
    expect(report.files[0]!.callerFit.paths).toContainEqual(expect.objectContaining({ path: ['subflow-integration', 'agent-fallback'], worstCaseMs: 6000 }));
    for (const bad of ['bogus', 'connect:9000', 'cxone', 'connect:abc']) {
      const r = await cli(['validate', ivr, '--caller', bad]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^--caller: /);
    }
  });
});

describe('graph', () => {
  const ivr = 'examples/flows/customer-lookup-ivr.json';
  const stepIds = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { steps: Array<{ id: string }> }).steps.map((s) => s.id);

  it('draws the IVR as Mermaid by default, its sub-flow as a cluster with --flows', async () => {
    const alone = await cli(['graph', ivr]);
    expect(alone.code).toBe(0);
    expect(alone.out).toMatch(/^flowchart TD\n/);
    expect(alone.out).not.toContain('subgraph');
    const nested = await cli(['graph', ivr, '--flows', 'examples/flows']);
    expect(nested.code).toBe(0);
    expect(nested.out).toContain('subgraph c0 ["crm-integration (SubFlow subflow-integration)"]');
    for (const id of [...stepIds(ivr), ...stepIds('examples/flows/crm-integration.json')]) expect(nested.out).toContain(`"${id}<br/>`);
  });

  it('--format dot and --format svg --output write Graphviz DOT and an SVG drawing every step of the IVR and its sub-flow', async () => {
    const dot = await cli(['graph', ivr, '--flows', 'examples/flows', '--format', 'dot']);
    expect(dot.code).toBe(0);
    expect(dot.out).toMatch(/^digraph "customer-lookup-ivr" \{/);
    expect(dot.out).toContain('subgraph "cluster_c0"');
    const file = join(dir, 'ivr.svg');
    const svg = await cli(['graph', ivr, '--flows', 'examples/flows', '--format', 'svg', '-o', file]);
    expect(svg).toMatchObject({ code: 0, out: '', err: `${ivr}: svg written to ${file}` });
    // Graphviz writes '-' as '&#45;' in text.
    const text = readFileSync(file, 'utf8').replaceAll('&#45;', '-');
    expect(text).toMatch(/<svg[^>]*>[\s\S]*<\/svg>\n$/);
    for (const id of [...stepIds(ivr), ...stepIds('examples/flows/crm-integration.json')]) expect(text).toContain(`>${id}</text>`);
    const bad = await cli(['graph', ivr, '--format', 'png']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("argument 'png' is invalid. Allowed choices are mermaid, dot, svg.");
  });

  it('--execution overlays a real `ivrflow run --json` against the sample CRM: the path bold and numbered, the rest dimmed', async () => {
    const crm = await startCrmServer();
    let run: Awaited<ReturnType<typeof cli>>;
    try {
      run = await cli(['run', ivr, '--var', 'dtmf_input=2125551234', '--var', `crm_base_url=${crm.url}`, '--var', `api_key_variable=${DEMO_API_KEY}`, '--json']);
    } finally {
      await crm.close();
    }
    expect(run.code).toBe(0);
    const execution = write('run.json', run.out);
    const r = await cli(['graph', ivr, '--flows', 'examples/flows', '--execution', execution]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/n0\[\["subflow-integration<br\/>SubFlow → crm-integration<br\/>SUCCEEDED · \d+ ms"\]\]/);
    expect(r.out).toContain('n0 -.->|"1. calls"| c0_n0');
    expect(r.out).toMatch(/n2\(\["priority-queue<br\/>End: PriorityQueue<br\/>SUCCEEDED · \d+ ms"\]\)/);
    expect(r.out).toMatch(/classDef taken /);
    expect(r.out).toMatch(/class [^\n]*n3[^\n]* untaken/);
  });

  it('--coverage overlays `ivrflow test --coverage-json`: missed branches dashed red', async () => {
    const coverage = join(dir, 'coverage.json');
    const t = await cli(['test', 'examples/flows/customer-lookup-ivr.test.json', '--case', 'platinum caller goes to the priority queue', '--coverage-json', coverage]);
    expect(t.code).toBe(0);
    const r = await cli(['graph', ivr, '--coverage', coverage]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/classDef missed stroke:#d32f2f/);
    expect(r.out).toMatch(/linkStyle [\d,]+ [^\n]*stroke-dasharray:5 5/);
  });

  it('refuses an invalid flow, a missing --flows folder and an overlay that is not one, exit 2 naming the problem', async () => {
    const broken = await cli(['graph', write('broken-graph.json', '{ "id": "x", ')]);
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(/broken-graph\.json: error INVALID_JSON .*line 1, column/);
    expect((await cli(['graph', ivr, '--flows', join(dir, 'nowhere')])).err).toContain('no such folder');
    const notRun = await cli(['graph', ivr, '--execution', write('not-a-run.json', '{"cases": []}')]);
    expect(notRun.code).toBe(2);
    expect(notRun.err).toContain('INVALID_EXECUTION');
    expect(notRun.err).toContain('flow test result');
    const otherFlow = await cli(['graph', ivr, '--execution', write('other-run.json', '{"flowId": "another", "status": "SUCCEEDED", "trace": []}')]);
    expect(otherFlow.code).toBe(2);
    expect(otherFlow.err).toContain("a run of flow 'another', not of 'customer-lookup-ivr'");
    const notCoverage = await cli(['graph', ivr, '--coverage', write('not-coverage.json', '{"flows": 3}')]);
    expect(notCoverage.code).toBe(2);
    expect(notCoverage.err).toContain('INVALID_COVERAGE');
  });
});

describe('the sample CRM that serve starts on 127.0.0.1:4010', () => {
  it('refuses a port that is taken (serve then picks a free one) instead of hanging', async () => {
    const first = await startCrmServer();
    try {
      const port = Number(new URL(first.url).port);
      await expect(startCrmServer({ port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
    }
  });
});
