/**
 * The flow graph (shared/flow/graph.ts, docs/graph.md): golden Mermaid and DOT of the customer
 * lookup IVR with its sub-flow, labels that would break either syntax, clusters (workflows,
 * recursion, a flow called twice), the execution overlay from a real run of the flow's test file,
 * the coverage overlay from a real coverage report, and SVG rendered by the Graphviz WASM.
 */
import { readFileSync } from 'node:fs';
import { attribute as _, fromDot, type GraphBaseModel, type RootGraphModel } from 'ts-graphviz';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '#shared/clock';
import { runFlow } from '#shared/executor/executor';
import { fitRecord } from '#shared/executor/record';
import { folderResolver } from '#shared/flow/files';
import { declaredBranches } from '#shared/flow/branches';
import { coverageOverlayOf, dotOf, GraphOverlayError, mermaidOf, overlayOf, workflowFlowIdResolver, type GraphOptions } from '#shared/flow/graph';
import { svgOf } from '#shared/flow/graph-svg';
import { acceptInputs } from '#shared/flow/inputs';
import type { Flow } from '#shared/flow/schema';
import { clockService, httpService, ServiceContainer } from '#shared/services';
import type { ExecutionResult } from '#shared/steps/types';
import { coverageOf } from '#shared/testing/coverage';
import { DEFAULT_TEST_NOW, loadTestFile, runCase, runTestFile, stepsOf, type LoadedTestFile } from '#shared/testing/runner';
import { MockHttpClient, seededRandomness } from '#shared/testing/test-ports';

const EXAMPLES = new URL('../../../examples/flows/', import.meta.url).pathname;
const golden = (name: string) => readFileSync(new URL(`golden/${name}`, import.meta.url), 'utf8');

let flows: Map<string, Flow>;
let customer: Flow;
let integration: Flow;

beforeAll(async () => {
  const found = await folderResolver(EXAMPLES, true);
  flows = new Map([...found.flows].map(([id, list]) => [id, list[0]!]));
  customer = flows.get('customer-lookup-ivr')!;
  integration = flows.get('crm-integration')!;
});

// ---------------------------------------------------------------------------------------------
// Reading the output back, independently of the code that writes it.

/** Mermaid entity codes back to characters (`#quot;`, `#<decimal>;`). */
const decodeMermaid = (s: string) => s.replace(/#quot;/g, '"').replace(/#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));

const ID = String.raw`(?:s0|(?:c\d+_)?[nm]\d+)`;
const QUOTED = String.raw`"([^"]*)"`;
const SHAPES: Array<[string, string]> = [
  ['((', '))'],
  ['[[', ']]'],
  ['([', '])'],
  ['[', ']'],
  ['{', '}'],
  ['>', ']'],
];
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const NODE_LINE = new RegExp(String.raw`^\s*(${ID})(?:${SHAPES.map(([o, c]) => `${esc(o)}${QUOTED}${esc(c)}`).join('|')})$`);
const EDGE_LINE = new RegExp(String.raw`^\s*(${ID}) (-->|-\.->)(?:\|${QUOTED}\|)? (${ID})$`);

interface MermaidDoc {
  nodes: Map<string, string[]>;
  edges: Array<{ from: string; to: string; arrow: string; label: string | undefined }>;
  subgraphs: Array<{ id: string; title: string }>;
  classes: Map<string, string[]>;
  linkStyles: Array<{ indexes: number[]; style: string }>;
}

/**
 * Parses the subset of Mermaid the graph writes, refusing any other line: every quoted string
 * must hold no `"`, no raw bracket, pipe or angle bracket (but `<br/>`), and `#` only in an entity.
 */
function parseMermaid(text: string): MermaidDoc {
  const lines = text.split('\n');
  expect(lines[0]).toBe('flowchart TD');
  expect(lines.at(-1)).toBe('');
  const doc: MermaidDoc = { nodes: new Map(), edges: [], subgraphs: [], classes: new Map(), linkStyles: [] };
  const checkQuoted = (q: string) => {
    const bare = q.replace(/<br\/>/g, '');
    expect(bare, q).not.toMatch(/[[\]|<>"`%&]/);
    expect(bare.replace(/#(quot|\d+);/g, ''), q).not.toContain('#');
    return q.split('<br/>').map(decodeMermaid);
  };
  let depth = 0;
  for (const line of lines.slice(1, -1)) {
    let m: RegExpExecArray | null;
    if ((m = NODE_LINE.exec(line))) {
      const label = m.slice(2).find((g) => g !== undefined)!;
      expect(doc.nodes.has(m[1]!), `node ${m[1]} declared twice`).toBe(false);
      doc.nodes.set(m[1]!, checkQuoted(label));
    } else if ((m = EDGE_LINE.exec(line))) {
      doc.edges.push({ from: m[1]!, arrow: m[2]!, label: m[3] === undefined ? undefined : checkQuoted(m[3]).join('\n'), to: m[4]! });
    } else if ((m = /^\s*subgraph (c\d+) \["([^"]*)"\]$/.exec(line))) {
      depth++;
      doc.subgraphs.push({ id: m[1]!, title: checkQuoted(m[2]!).join('\n') });
    } else if (/^\s*end$/.test(line)) {
      depth--;
      expect(depth).toBeGreaterThanOrEqual(0);
    } else if ((m = /^ {2}classDef (\w+) ([\w:#\-, ]+)$/.exec(line))) {
      continue;
    } else if ((m = /^ {2}class ([\w,]+) (\w+)$/.exec(line))) {
      doc.classes.set(m[2]!, m[1]!.split(','));
    } else if ((m = /^ {2}linkStyle ([\d,]+) ([\w:#\-, ]+)$/.exec(line))) {
      doc.linkStyles.push({ indexes: m[1]!.split(',').map(Number), style: m[2]! });
    } else throw new Error(`not a line the graph writes: ${JSON.stringify(line)}`);
  }
  expect(depth).toBe(0);
  for (const e of doc.edges) {
    expect(doc.nodes.has(e.from), `edge from undeclared ${e.from}`).toBe(true);
    expect(doc.nodes.has(e.to), `edge to undeclared ${e.to}`).toBe(true);
  }
  for (const s of doc.linkStyles) for (const i of s.indexes) expect(i).toBeLessThan(doc.edges.length);
  return doc;
}

/** A Graphviz escString's literal text (the DOT lexer already turned `\"` into `"`). */
const unescapeDot = (s: string) => s.replace(/\\(.)/g, (_m, ch: string) => (ch === 'n' ? '\n' : ch));

type DotAttrs = Record<string, string | number | boolean>;

function parseDot(text: string): { graph: RootGraphModel; labels: Map<string, string>; edges: Array<{ from: string; to: string; attrs: DotAttrs }>; clusters: string[] } {
  const graph = fromDot(text);
  const labels = new Map<string, string>();
  const clusters: string[] = [];
  const visit = (g: GraphBaseModel) => {
    for (const n of g.nodes) labels.set(n.id, unescapeDot(String(n.attributes.get(_.label))));
    for (const s of g.subgraphs) {
      clusters.push(s.id ?? '');
      visit(s);
    }
  };
  visit(graph);
  const edges = graph.edges.map((e) => {
    const [from, to] = e.targets as unknown as Array<{ id: string }>;
    return { from: from!.id, to: to!.id, attrs: Object.fromEntries<string | number | boolean>(e.attributes.values) };
  });
  return { graph, labels, edges, clusters };
}

/** A node's attributes wherever it is (ts-graphviz's `getNode` looks at one graph level only). */
function nodeAttrs(graph: GraphBaseModel, id: string): DotAttrs {
  const walk = (g: GraphBaseModel): DotAttrs | undefined => {
    const node = g.getNode(id);
    return node ? Object.fromEntries<string | number | boolean>(node.attributes.values) : g.subgraphs.map(walk).find((v) => v !== undefined);
  };
  const found = walk(graph);
  if (!found) throw new Error(`no node ${id}`);
  return found;
}

/** XML text back to characters. */
const decodeXml = (s: string) =>
  s
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_m, code: string) => String.fromCharCode(parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Checks that `svg` is well-formed enough to parse (prolog, balanced tags, escaped text) and returns its `<text>` contents, decoded. */
function svgTexts(svg: string): string[] {
  expect(svg.startsWith('<?xml')).toBe(true);
  expect(svg).toContain('<svg');
  const body = svg
    .replace(/^<\?xml[^?]*\?>/, '')
    .replace(/<!DOCTYPE[^>]*>/, '')
    .replace(/<!--[\s\S]*?-->/g, '');
  const stack: string[] = [];
  const texts: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*"[^"]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(body))) {
    const between = body.slice(last, m.index);
    expect(between, `raw markup near ${JSON.stringify(body.slice(m.index - 40, m.index))}`).not.toMatch(/[<>]|&(?!(#\d+|#x[0-9a-f]+|\w+);)/i);
    if (stack.at(-1) === 'text') texts.push(decodeXml(between));
    last = tag.lastIndex;
    const [, close, name, , selfClosing] = m;
    if (close) expect(stack.pop(), `</${name}>`).toBe(name);
    else if (!selfClosing) stack.push(name!);
  }
  expect(body.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  return texts;
}

// ---------------------------------------------------------------------------------------------
// A real run of the customer lookup IVR, through the production executor with the test file's mocks.

let loaded: LoadedTestFile;
const PLATINUM = 'platinum caller goes to the priority queue';

beforeAll(async () => {
  const file = await loadTestFile(`${EXAMPLES}customer-lookup-ivr.test.json`);
  if (!file.loaded) throw new Error(JSON.stringify(file.errors));
  loaded = file.loaded;
});

/** Runs a case of the loaded test file as the runner does, keeping the execution result (its trace). */
async function realRun(caseName: string): Promise<ExecutionResult> {
  const testCase = loaded.test.cases.find((c) => c.name === caseName)!;
  const clock = new FakeClock(Date.parse(loaded.test.now ?? DEFAULT_TEST_NOW));
  const http = new MockHttpClient(clock, testCase, new Map());
  const services = new ServiceContainer().provide(clockService, clock).provide(httpService, http);
  const { variables } = acceptInputs(loaded.flow, testCase.variables ?? {});
  const resolveFlow = (id: string) => Promise.resolve(loaded.flows.get(id)?.[0]);
  const result = await runFlow(loaded.flow, { variables }, { clock, randomness: seededRandomness(1), http, resolveFlow, services, onStep: (path) => (http.step = path) });
  expect(http.problems).toEqual([]);
  return result;
}

// ---------------------------------------------------------------------------------------------

describe('graph of customer-lookup-ivr with its sub-flow', () => {
  it('matches the golden Mermaid', () => {
    expect(mermaidOf(customer, { flows })).toBe(golden('customer-lookup-ivr.mmd'));
  });

  it('matches the golden DOT', () => {
    expect(dotOf(customer, { flows })).toBe(golden('customer-lookup-ivr.dot'));
  });

  it('draws one node per step and one edge per declared branch, the start step marked, the sub-flow as a cluster', () => {
    const doc = parseMermaid(mermaidOf(customer, { flows }));
    const steps = [...customer.steps.map((s) => s.id), ...integration.steps.map((s) => s.id)];
    expect([...doc.nodes.values()].map((lines) => lines[0]).sort()).toEqual(['start', ...steps].sort());
    const transitions = doc.edges.filter((e) => e.arrow === '-->' && e.from !== 's0');
    expect(transitions).toHaveLength(declaredBranches(customer).length + declaredBranches(integration).length);
    expect(doc.edges.filter((e) => e.from === 's0')).toEqual([{ from: 's0', to: 'n0', arrow: '-->', label: undefined }]);
    expect(doc.nodes.get('n0')).toEqual(['subflow-integration', 'SubFlow → crm-integration']);
    expect(doc.subgraphs).toEqual([{ id: 'c0', title: 'crm-integration (SubFlow subflow-integration)' }]);
    expect(doc.edges).toContainEqual({ from: 'n0', to: 'c0_n0', arrow: '-.->', label: 'calls' });
    expect(doc.nodes.get('c0_n7')).toEqual(['circuit-breaker-increment', 'End: BackendUnavailable (FAILED)']);
    // Condition edges carry their expression, the default edge "default".
    expect(doc.edges.filter((e) => e.from === 'n1').map((e) => e.label)).toEqual(["integration_status == 'FOUND' && loyalty_tier == 'PLATINUM'", "integration_status == 'FOUND'", 'default']);

    const dot = parseDot(dotOf(customer, { flows }));
    expect(dot.clusters).toEqual(['cluster_c0']);
    expect(dot.labels.get('c0_n0')).toBe('transform-payload\nDataAPI');
    expect(dot.edges).toHaveLength(doc.edges.length);
    expect(dot.edges.find((e) => e.from === 'n0' && e.to === 'c0_n0')?.attrs).toMatchObject({ label: 'calls', style: 'dotted' });
  });

  it('without flows, draws the calling step alone', () => {
    const doc = parseMermaid(mermaidOf(customer));
    expect(doc.subgraphs).toEqual([]);
    expect(doc.nodes.size).toBe(customer.steps.length + 1);
    expect(parseDot(dotOf(customer)).clusters).toEqual([]);
  });
});

describe('clusters', () => {
  it('draws a WorkflowExecute step with the flow its workflow configuration names', () => {
    const configurations = new Map([['crm-agent', JSON.parse(readFileSync(new URL('../../../examples/workflow-configurations/crm-agent.json', import.meta.url), 'utf8')) as unknown]]);
    const options: GraphOptions = { flows, workflowFlowId: workflowFlowIdResolver(configurations) };
    const doc = parseMermaid(mermaidOf(flows.get('agent-screen-pop-ivr')!, options));
    expect(doc.subgraphs).toEqual([{ id: 'c0', title: 'crm-search-contact (WorkflowExecute search-contact)' }]);
    expect(doc.nodes.get('n1')).toEqual(['search-contact', 'WorkflowExecute → crm-agent/search-contact']);
    expect(doc.nodes.get('c0_n0')).toEqual(['search', 'HTTPRequest']);
    expect(doc.edges).toContainEqual({ from: 'n1', to: 'c0_n0', arrow: '-.->', label: 'calls' });
    // An unknown workflow resolves to nothing: no cluster.
    expect(parseMermaid(mermaidOf(flows.get('agent-screen-pop-ivr')!, { flows, workflowFlowId: () => undefined })).subgraphs).toEqual([]);
  });

  const sub = (id: string, flowId: string, next?: string) => ({ id, type: 'SubFlow', configuration: { flowId, passThroughVariables: [], returnVariables: [] }, ...(next ? { next } : {}) });
  const end = (id: string) => ({ id, type: 'End', configuration: { outcome: 'Done', status: 'SUCCEEDED' } });
  const flowOf = (id: string, steps: unknown[]) => ({ id, name: id, flowType: 'IVR', deadlineMs: 8000, maxSteps: 200, steps }) as unknown as Flow;

  it('is cycle-safe: a flow being drawn further out is not expanded again', () => {
    const a = flowOf('loop-a', [sub('to-b', 'loop-b', 'done'), end('done')]);
    const b = flowOf('loop-b', [sub('to-a', 'loop-a', 'self'), sub('self', 'loop-b')]);
    const doc = parseMermaid(mermaidOf(a, { flows: new Map([a, b].map((f) => [f.id, f])) }));
    expect(doc.subgraphs.map((s) => s.title)).toEqual(['loop-b (SubFlow to-b)']);
    expect(doc.nodes.get('c0_n0')).toEqual(['to-a', 'SubFlow → loop-a', '(recursive call: drawn further out)']);
    expect(doc.nodes.get('c0_n1')).toEqual(['self', 'SubFlow → loop-b', '(recursive call: drawn further out)']);
    expect(parseDot(dotOf(a, { flows: new Map([a, b].map((f) => [f.id, f])) })).clusters).toEqual(['cluster_c0']);
  });

  it('draws a flow once per calling step, nested', () => {
    const leaf = flowOf('leaf', [end('leaf-end')]);
    const middle = flowOf('middle', [sub('deeper', 'leaf')]);
    const top = flowOf('top', [sub('first', 'leaf', 'second'), sub('second', 'middle')]);
    const options = { flows: new Map([leaf, middle, top].map((f) => [f.id, f])) };
    const doc = parseMermaid(mermaidOf(top, options));
    expect(doc.subgraphs.map((s) => s.title)).toEqual(['leaf (SubFlow first)', 'middle (SubFlow second)', 'leaf (SubFlow deeper)']);
    expect(doc.nodes.get('c0_n0')?.[0]).toBe('leaf-end');
    expect(doc.nodes.get('c2_n0')?.[0]).toBe('leaf-end');
    expect(doc.edges).toContainEqual({ from: 'c1_n0', to: 'c2_n0', arrow: '-.->', label: 'calls' });
    expect(parseDot(dotOf(top, options)).clusters).toEqual(['cluster_c0', 'cluster_c1', 'cluster_c2']);
  });
});

describe('labels that would break the syntax', () => {
  const EXPRESSION = `name == "x" && tag != '[a]' --> |pipe| #hash #quot; <b>bold</b> %%{init: {}}%% \`tick\` back\\slash;\nnext line`;
  const weird = {
    id: 'weird',
    name: 'Weird "flow" [x] \\',
    flowType: 'IVR',
    deadlineMs: 8000,
    maxSteps: 200,
    steps: [
      { id: 'a"b', type: 'DataAPI', configuration: { operation: 'assign', variables: {} }, next: 'x[1] --> y' },
      { id: 'x[1] --> y', type: 'Condition', configuration: { conditions: [{ expression: EXPRESSION, nextStepId: 'sp ace' }], defaultStepId: 'end' } },
      { id: 'sp ace', type: 'End', configuration: { outcome: 'Out"come]', status: 'SUCCEEDED' } },
      { id: 'end', type: 'End', configuration: { outcome: 'trailing\\', status: 'FAILED' } },
      { id: 'gone|', type: 'DataAPI', configuration: { operation: 'assign', variables: {} }, branches: { OnError: 'no"such]step' } },
    ],
  } as unknown as Flow;
  const nodeLines = [
    ['a"b', 'DataAPI'],
    ['x[1] --> y', 'Condition'],
    ['sp ace', 'End: Out"come]'],
    ['end', 'End: trailing\\ (FAILED)'],
    ['gone|', 'DataAPI'],
    ['no"such]step', '(no such step)'],
  ];
  const expressionOneLine = EXPRESSION.replace('\n', ' ');

  it('Mermaid: generated ids, every label quoted and entity-coded, reading back to the text', () => {
    const doc = parseMermaid(mermaidOf(weird));
    expect([...doc.nodes.values()]).toEqual([['start'], ...nodeLines]);
    expect(doc.edges.map((e) => [e.from, e.to, e.label])).toEqual([
      ['s0', 'n0', undefined],
      ['n0', 'n1', 'next'],
      ['n1', 'n2', expressionOneLine],
      ['n1', 'n3', 'default'],
      ['n4', 'm0', 'OnError'],
    ]);
  });

  it('DOT: ts-graphviz quotes, backslashes are escaped, labels read back to the text', () => {
    const dot = parseDot(dotOf(weird));
    expect([...dot.labels.values()]).toEqual([['start'], ...nodeLines].map((l) => l.join('\n')));
    expect(dot.edges.map((e) => [e.from, e.to, e.attrs['label'] === undefined ? undefined : unescapeDot(String(e.attrs['label']))])).toEqual([
      ['s0', 'n0', undefined],
      ['n0', 'n1', 'next'],
      ['n1', 'n2', expressionOneLine],
      ['n1', 'n3', 'default'],
      ['n4', 'm0', 'OnError'],
    ]);
    expect(unescapeDot(String(dot.graph.get('label')))).toBe('Weird "flow" [x] \\ (weird)');
  });

  it('SVG: Graphviz draws each label as written', async () => {
    const texts = svgTexts(await svgOf(dotOf(weird)));
    for (const line of nodeLines.flat()) expect(texts).toContain(line);
    expect(texts).toContain(expressionOneLine);
    expect(texts).toContain('Weird "flow" [x] \\ (weird)');
  });
});

describe('execution overlay', () => {
  let result: ExecutionResult;
  beforeAll(async () => {
    result = await realRun(PLATINUM);
  });

  it('reads the run as the flow test runner does: the same steps, in the same order', async () => {
    const overlay = overlayOf(result);
    const expected = (
      await runCase(
        loaded,
        loaded.test.cases.find((c) => c.name === PLATINUM)!,
      )
    ).path;
    expect(overlay.steps.map((s) => s.path)).toEqual(expected);
    expect(overlay.steps.map((s) => s.path)).toEqual(stepsOf(result.trace, result.flowId).path);
    expect(overlay).toMatchObject({ flowId: 'customer-lookup-ivr', status: 'SUCCEEDED', truncated: false });
    // `ivrflow run --json` output is the same result as JSON.
    expect(overlayOf(JSON.parse(JSON.stringify(result)))).toEqual(overlay);
  });

  it('Mermaid: taken steps bold with status and duration, the path numbered in order, the rest dimmed', () => {
    const doc = parseMermaid(mermaidOf(customer, { flows, execution: result }));
    const taken = ['n0', 'n1', 'n2', 'c0_n0', 'c0_n1', 'c0_n2', 'c0_n3', 'c0_n4', 'c0_n5', 'c0_n15'];
    expect([...(doc.classes.get('taken') ?? [])].sort()).toEqual([...taken].sort());
    expect(doc.classes.get('untaken')?.sort()).toEqual([...doc.nodes.keys()].filter((k) => k !== 's0' && !taken.includes(k)).sort());
    // The mock answers the ticket after 400 ms (virtual): the step and the sub-flow around it took that long.
    expect(doc.nodes.get('c0_n5')).toEqual(['http-ticket-submit', 'HTTPRequest', 'SUCCEEDED · 400 ms']);
    expect(doc.nodes.get('n0')).toEqual(['subflow-integration', 'SubFlow → crm-integration', 'SUCCEEDED · 400 ms']);
    expect(doc.nodes.get('n2')).toEqual(['priority-queue', 'End: PriorityQueue', 'SUCCEEDED · 0 ms']);
    const numbered = doc.edges.filter((e) => /^\d/.test(e.label ?? '')).map((e) => `${e.label} ${e.from}→${e.to}`);
    expect(numbered.sort((x, y) => parseInt(x) - parseInt(y))).toEqual([
      '1. calls n0→c0_n0',
      '2. next c0_n0→c0_n1',
      '3. next c0_n1→c0_n2',
      '4. next c0_n2→c0_n3',
      '5. OnSuccess c0_n3→c0_n4',
      '6. default c0_n4→c0_n5',
      '7. OnSuccess c0_n5→c0_n15',
      '8. OnSuccess n0→n1',
      "9. integration_status == 'FOUND' && loyalty_tier == 'PLATINUM' n1→n2",
    ]);
    const styleOf = (i: number) => doc.linkStyles.filter((s) => s.indexes.includes(i)).map((s) => s.style);
    doc.edges.forEach((e, i) => {
      const onPath = /^\d/.test(e.label ?? '') || e.from === 's0';
      expect(styleOf(i), `${e.from}→${e.to}`).toEqual([onPath ? 'stroke-width:3px' : 'stroke:#bdbdbd,color:#9e9e9e']);
    });
  });

  it('DOT: the same overlay as attributes', () => {
    const dot = parseDot(dotOf(customer, { flows, execution: result }));
    const node = (id: string) => nodeAttrs(dot.graph, id);
    expect(node('c0_n5')).toMatchObject({ style: 'bold', fontname: 'Helvetica-Bold' });
    expect(dot.labels.get('c0_n5')).toBe('http-ticket-submit\nHTTPRequest\nSUCCEEDED · 400 ms');
    expect(node('n3')).toMatchObject({ color: '#bdbdbd', fontcolor: '#9e9e9e' });
    expect(node('n3')['fontname']).toBeUndefined();
    expect(dot.edges.find((e) => e.from === 'n0' && e.to === 'n1')?.attrs).toMatchObject({ label: '8. OnSuccess', style: 'bold' });
    expect(dot.edges.find((e) => e.from === 'n0' && e.to === 'c0_n0')?.attrs).toMatchObject({ label: '1. calls', style: 'dotted,bold' });
    expect(dot.edges.find((e) => e.from === 'n0' && e.to === 'n5')?.attrs).toMatchObject({ label: 'OnError', color: '#bdbdbd' });
  });

  it('a failing step is drawn as failed, and the branch it left by numbered', async () => {
    const timeout = loaded.test.cases.find((c) => Object.values(c.mocks ?? {}).some((m) => JSON.stringify(m).includes('"timeout":true')))!;
    const failedRun = await realRun(timeout.name);
    const doc = parseMermaid(mermaidOf(customer, { flows, execution: failedRun }));
    const failedSteps = overlayOf(failedRun).steps.filter((s) => s.status === 'FAILED');
    expect(failedSteps.length).toBeGreaterThan(0);
    const keyOf = (label: string) => [...doc.nodes].find(([, lines]) => lines[0] === label)![0];
    for (const s of failedSteps) expect(doc.classes.get('failed'), s.path).toContain(keyOf(s.stepId));
    expect(doc.edges.filter((e) => /^\d/.test(e.label ?? '')).length).toBe(overlayOf(failedRun).moves.length);
  });

  it('a truncated record (sub-flow traces dropped) dims nothing it no longer knows', () => {
    const record = fitRecord(result, JSON.stringify({ ...result, trace: result.trace.map((t) => ({ ...t, subFlow: t.subFlow && { ...t.subFlow, trace: [] } })) }).length + 20);
    expect(record.truncated).toBe(true);
    const doc = parseMermaid(mermaidOf(customer, { flows, execution: record }));
    expect(doc.classes.get('taken')?.sort()).toEqual(['n0', 'n1', 'n2']);
    expect(doc.classes.get('untaken')).toBeUndefined();
  });

  it('refuses what is not an execution, naming what is wrong', () => {
    const refused = (value: unknown) => {
      try {
        overlayOf(value);
      } catch (err) {
        expect(err).toBeInstanceOf(GraphOverlayError);
        expect((err as GraphOverlayError).code).toBe('INVALID_EXECUTION');
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused([])).toMatch(/execution record .* or `ivrflow run --json` output: got an array$/);
    expect(refused('x')).toMatch(/got string$/);
    expect(refused({ valid: false, errors: [{ code: 'X' }] })).toMatch(/a run that did not start/);
    expect(refused({ passed: 1, failed: 0, cases: [] })).toMatch(/a flow test result/);
    expect(refused({ flowId: 'x', status: 'SUCCEEDED' })).toMatch(/no `trace` \(keys: flowId, status\)/);
    const entry = { stepId: 'a', branch: 'next', status: 'SUCCEEDED', durationMs: 1 };
    expect(refused({ flowId: 'x', status: 'SUCCEEDED', trace: [entry, { ...entry, durationMs: '5' }] })).toMatch(/: trace\[1\]\.durationMs: /);
    expect(refused({ flowId: 'x', status: 'SUCCEEDED', trace: [{ ...entry, subFlow: { flowId: 'y', trace: [{ ...entry, stepId: 7 }] } }] })).toMatch(/: trace\[0\]\.subFlow\.trace\[0\]\.stepId: /);
    expect(() => mermaidOf(customer, { execution: { ...result, flowId: 'other-flow' } })).toThrow("the execution overlay is a run of flow 'other-flow', not of 'customer-lookup-ivr'");
    expect(() => dotOf(customer, { execution: [] })).toThrow(GraphOverlayError);
  });
});

describe('coverage overlay', () => {
  it('draws the branches a real test run missed dashed and red, and its missed steps', async () => {
    const results = [await runTestFile(loaded, PLATINUM)];
    expect(results[0]!.cases.map((c) => c.passed)).toEqual([true]);
    const report = coverageOf(results, new Map([...loaded.flows].map(([id, list]) => [id, list[0]!])));
    const missed = report.flows['customer-lookup-ivr']!.branches.missed;
    expect(missed).toContainEqual({ step: 'route-caller', branch: 'conditions[1]', target: 'self-service' });
    // Read as a `--coverage-json` file would be.
    const coverage = coverageOverlayOf(JSON.parse(JSON.stringify(report)));

    const doc = parseMermaid(mermaidOf(customer, { flows, coverage }));
    // The report itself is accepted as it is, without the round trip through JSON.
    expect(mermaidOf(customer, { flows, coverage: report })).toBe(mermaidOf(customer, { flows, coverage }));
    const dashed = new Set(doc.linkStyles.filter((s) => s.style.includes('stroke-dasharray:5 5') && s.style.includes('stroke:#d32f2f')).flatMap((s) => s.indexes));
    const index = (from: string, to: string) => doc.edges.findIndex((e) => e.from === from && e.to === to);
    expect(dashed.has(index('n1', 'n3'))).toBe(true); // route-caller conditions[1] → self-service
    expect(dashed.has(index('n0', 'n5'))).toBe(true); // subflow-integration OnError → agent-fallback
    expect(dashed.has(index('c0_n6', 'c0_n7'))).toBe(true); // error-router in the sub-flow
    expect(dashed.has(index('n1', 'n2'))).toBe(false); // taken by the case
    expect(dashed.has(index('c0_n5', 'c0_n15'))).toBe(false);
    const allMissed = Object.values(report.flows).reduce((n, f) => n + f.branches.missed.length, 0);
    expect(dashed.size).toBe(allMissed);
    expect(doc.classes.get('missed')).toContain('n3');
    expect(doc.classes.get('missed')).not.toContain('n2');

    const dot = parseDot(dotOf(customer, { flows, coverage }));
    expect(dot.edges.find((e) => e.from === 'n1' && e.to === 'n3')?.attrs).toMatchObject({ style: 'dashed', color: '#d32f2f', fontcolor: '#d32f2f' });
    expect(dot.edges.find((e) => e.from === 'n1' && e.to === 'n2')?.attrs['style']).toBeUndefined();
    expect(dot.edges.filter((e) => e.attrs['style'] === 'dashed')).toHaveLength(allMissed);
  });

  it('refuses a document that is not a coverage report', () => {
    expect(() => coverageOverlayOf({ flows: { a: { branches: { missed: [{ step: 'x' }] } } } })).toThrow(/--coverage-json` document: flows\.a\.branches\.missed\[0\]\.branch: /);
    expect(() => coverageOverlayOf([])).toThrow(GraphOverlayError);
  });
});

describe('svgOf', () => {
  it('renders the DOT to SVG that parses, with every step and overlay', async () => {
    const result = await realRun(PLATINUM);
    const svg = await svgOf(dotOf(customer, { flows, execution: result }));
    const texts = svgTexts(svg);
    for (const step of [...customer.steps, ...integration.steps]) expect(texts, step.id).toContain(step.id);
    expect(texts).toContain('SUCCEEDED · 400 ms');
    expect(texts).toContain('crm-integration (SubFlow subflow-integration)');
    expect(svg.match(/<g id="node\d+" class="node">/g)).toHaveLength(1 + customer.steps.length + integration.steps.length);
    expect(svg.match(/<g id="clust\d+" class="cluster">/g)).toHaveLength(1);
  });

  it('refuses DOT that is not DOT', async () => {
    await expect(svgOf('digraph { a -> }')).rejects.toThrow();
  });

  it('is the only graph module that loads the Graphviz WASM', () => {
    expect(readFileSync('shared/flow/graph.ts', 'utf8')).not.toContain('@hpcc-js');
  });
});
