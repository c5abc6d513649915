/**
 * A flow as a flowchart (docs/graph.md): one node per step (its id and type; an End shows its
 * outcome), one edge per declared transition (shared/flow/branches.ts) labelled with its branch,
 * a Condition's edges with their expressions. SubFlow and WorkflowExecute steps whose flow is
 * given are drawn with that flow as a nested cluster. Two overlays: an execution (the steps a run
 * took drawn bold with their status and duration, its path's edges numbered, the rest dimmed) and
 * a coverage report (missed branches dashed and red).
 *
 * Output is Mermaid (`flowchart TD`, rendered by GitHub) or Graphviz DOT built with ts-graphviz;
 * SVG is rendered from the DOT by shared/flow/graph-svg.ts, kept apart so that the Mermaid and DOT
 * output never loads the Graphviz WASM.
 */
import * as z from 'zod';
import { Digraph, Edge, Node, Subgraph, attribute as _, toDot, type EdgeAttributesObject, type NodeAttributesObject } from 'ts-graphviz';
import { IvrflowError } from '../errors';
import { declaredBranchOf, stepBranches, type DeclaredBranch } from './branches';
import type { Flow, Step } from './schema';

/** The part of a `--coverage-json` document (shared/testing/coverage.ts `CoverageReport`) the coverage overlay reads. */
export interface CoverageOverlay {
  flows: Readonly<Record<string, { steps?: { missed?: readonly string[] }; branches?: { missed?: readonly DeclaredBranch[] } }>>;
}

/** What to draw besides the flow itself. */
export interface GraphOptions {
  /**
   * Flows that SubFlow steps (`configuration.flowId`) and WorkflowExecute steps (through
   * {@link GraphOptions.workflowFlowId}) resolve to, by flow id. When given, each is drawn as a
   * nested cluster, recursively, once per calling step; a flow already being drawn further out
   * (a recursive call) is not expanded again.
   * @default none: calling steps are drawn alone
   */
  flows?: ReadonlyMap<string, Flow>;
  /**
   * For WorkflowExecute steps: the flow id that a workflow configuration's workflow runs (a
   * configuration's `workflows[workflowId].flowId`; see {@link workflowFlowIdResolver}). Both ids
   * are given as the step writes them, so a `{{ template }}` id resolves only if the function knows it.
   * @default none: WorkflowExecute steps are drawn alone
   */
  workflowFlowId?: (configurationId: string, workflowId: string) => string | undefined;
  /** Execution overlay: an execution record or `ivrflow run --json` output, as parsed JSON (read by {@link overlayOf}). */
  execution?: unknown;
  /** Coverage overlay: a `--coverage-json` document (a `CoverageReport`; {@link coverageOverlayOf} reads one from parsed JSON). */
  coverage?: CoverageOverlay;
}

/** An overlay input (an execution or a coverage document) that is not one; `code` is `INVALID_EXECUTION` or `INVALID_COVERAGE`. */
export class GraphOverlayError extends IvrflowError {
  constructor(code: 'INVALID_EXECUTION' | 'INVALID_COVERAGE', message: string) {
    super(code, message);
    this.name = 'GraphOverlayError';
  }
}

/** One step an execution entered, by its path. */
export interface OverlayStep {
  /** The step's path: its id, `<callingStepId>/<stepId>` inside a sub-flow or workflow (as the flow test runner names steps). */
  path: string;
  flowId: string;
  stepId: string;
  /** The trace entry's status: SUCCEEDED, FAILED or SKIPPED. */
  status: string;
  /** How long the step took, ms (a calling step's includes its flow's). */
  durationMs: number;
  /** The branch it left by (`OnSuccess`, `conditions[0]`, `Default`, …). */
  branch: string;
  /** The step followed next; absent when the flow ended there. */
  nextStepId?: string;
}

/** A move along an execution's path, in the order the run made them: a step calling its flow, or a step left for the next. */
export type OverlayMove = { kind: 'call'; path: string; flowId: string } | { kind: 'transition'; path: string; branch: string; to: string };

/** An execution, as the execution overlay reads it. */
export interface ExecutionOverlay {
  executionId?: string;
  flowId: string;
  /** The execution's status (SUCCEEDED, FAILED, TIMED_OUT, WAITING, RUNNING). */
  status: string;
  /** The record was shrunk to fit (sub-flow traces and trailing entries dropped): steps missing from it are not drawn as untaken. */
  truncated: boolean;
  /** Every step entered, in path order (a calling step before the steps of its flow). */
  steps: OverlayStep[];
  /** Calls and transitions, in the order they happened (a calling step is left after its flow ends). */
  moves: OverlayMove[];
}

interface TraceShape {
  stepId: string;
  branch: string;
  status: string;
  durationMs: number;
  nextStepId?: string | undefined;
  subFlow?: { flowId: string; trace: TraceShape[] } | undefined;
}

// The fields of a trace entry (shared/steps/types.ts TraceEntry) the overlay draws; other fields are ignored.
const TraceEntryShape: z.ZodType<TraceShape> = z.lazy(() =>
  z.object({
    stepId: z.string().min(1),
    branch: z.string(),
    status: z.string(),
    durationMs: z.number().nonnegative(),
    nextStepId: z.string().optional(),
    subFlow: z.object({ flowId: z.string().min(1), trace: z.array(TraceEntryShape) }).optional(),
  }),
);

const ExecutionShape = z.lazy(() =>
  z.object({
    executionId: z.string().optional(),
    flowId: z.string().min(1),
    status: z.string(),
    trace: z.array(TraceEntryShape),
    truncated: z.boolean().optional(),
  }),
);

const CoverageShape = z.lazy(() =>
  z.object({
    flows: z.record(
      z.string(),
      z.object({
        steps: z.object({ missed: z.array(z.string()).optional() }).optional(),
        branches: z.object({ missed: z.array(z.object({ step: z.string(), branch: z.string(), target: z.string() })).optional() }).optional(),
      }),
    ),
  }),
);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const EXECUTION_SHAPES = 'an execution record (GET /executions/{executionId}) or `ivrflow run --json` output';

/** `trace[2].subFlow.trace[0].durationMs: expected number, received string` for the first issue. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
  return `${path || '(root)'}: ${issue.message}`;
}

/**
 * Reads the execution overlay's input: an execution record (`GET /executions/{executionId}`, the
 * stored record, possibly `truncated`) or `ivrflow run --json` output — both an execution result
 * `{ executionId, flowId, status, trace: [{ stepId, branch, status, durationMs, nextStepId?,
 * subFlow?: { flowId, trace } }], truncated? }`, sub-flow and workflow steps nested under their
 * calling step's `subFlow.trace`.
 * @param execution the parsed JSON
 * @returns the steps entered by path (`<callingStepId>/<stepId>` inside sub-flows) and the moves in the order they happened
 * @throws GraphOverlayError `INVALID_EXECUTION` naming what is wrong: not an object, a run that did not
 *   start (`{ valid: false, errors }` or `{ errors }`), no `trace`, or the first bad field (`trace[2].durationMs: …`)
 * @example overlayOf(JSON.parse(runJsonOutput)).steps.map((s) => s.path) // ['subflow-integration', 'subflow-integration/transform-payload', …]
 */
export function overlayOf(execution: unknown): ExecutionOverlay {
  const fail = (message: string): never => {
    throw new GraphOverlayError('INVALID_EXECUTION', `the execution overlay must be ${EXECUTION_SHAPES}: ${message}`);
  };
  if (!isObject(execution)) return fail(`got ${Array.isArray(execution) ? 'an array' : execution === null ? 'null' : typeof execution}`);
  if (!('trace' in execution)) {
    if (Array.isArray(execution['errors'])) return fail('this is the output of a run that did not start (it has `errors` and no `trace`)');
    if (Array.isArray(execution['cases'])) return fail('this is a flow test result (it has `cases` and no `trace`)');
    return fail(`it has no \`trace\` (keys: ${Object.keys(execution).slice(0, 8).join(', ') || 'none'})`);
  }
  const parsed = ExecutionShape.safeParse(execution);
  if (!parsed.success) return fail(firstIssue(parsed.error));
  const { data } = parsed;
  const overlay: ExecutionOverlay = { ...(data.executionId === undefined ? {} : { executionId: data.executionId }), flowId: data.flowId, status: data.status, truncated: data.truncated ?? false, steps: [], moves: [] };
  const walk = (trace: readonly TraceShape[], flowId: string, prefix: string) => {
    for (const entry of trace) {
      const path = `${prefix}${entry.stepId}`;
      overlay.steps.push({ path, flowId, stepId: entry.stepId, status: entry.status, durationMs: entry.durationMs, branch: entry.branch, ...(entry.nextStepId === undefined ? {} : { nextStepId: entry.nextStepId }) });
      if (entry.subFlow) {
        overlay.moves.push({ kind: 'call', path, flowId: entry.subFlow.flowId });
        walk(entry.subFlow.trace, entry.subFlow.flowId, `${path}/`);
      }
      if (entry.nextStepId !== undefined) overlay.moves.push({ kind: 'transition', path, branch: entry.branch, to: entry.nextStepId });
    }
  };
  walk(data.trace, data.flowId, '');
  return overlay;
}

/**
 * Reads the coverage overlay's input, a `--coverage-json` document (`{ flows: { <flowId>: { steps:
 * { missed: [stepId] }, branches: { missed: [{ step, branch, target }] } } }, total }`).
 * @throws GraphOverlayError `INVALID_COVERAGE` naming the first bad field
 */
export function coverageOverlayOf(coverage: unknown): CoverageOverlay {
  const parsed = CoverageShape.safeParse(coverage);
  if (!parsed.success) throw new GraphOverlayError('INVALID_COVERAGE', `the coverage overlay must be a \`ivrflow test --coverage-json\` document: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/**
 * A {@link GraphOptions.workflowFlowId} over workflow configurations as `PUT
 * /workflow-configurations/{id}` takes them (`{ workflows: { <workflowId>: { flowId } } }`, e.g.
 * the files of examples/workflow-configurations/ by base name). Bodies of another shape resolve nothing.
 */
export function workflowFlowIdResolver(configurations: ReadonlyMap<string, unknown>): (configurationId: string, workflowId: string) => string | undefined {
  return (configurationId, workflowId) => {
    const workflows = (configurations.get(configurationId) as { workflows?: unknown } | undefined)?.workflows;
    if (!isObject(workflows) || !Object.hasOwn(workflows, workflowId)) return undefined;
    const flowId = (workflows[workflowId] as { flowId?: unknown } | undefined)?.flowId;
    return typeof flowId === 'string' ? flowId : undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// The graph model both formats are drawn from.

/** At most this many nodes: clusters past it are not expanded (nested calls can multiply a graph). */
const MAX_GRAPH_NODES = 5000;

type NodeState = 'plain' | 'taken' | 'failed' | 'untaken';

interface GraphNode {
  /** Identifier in the output: `s0` (start marker), `n<i>` at the top, `c<k>_n<i>` in cluster k, `…m<j>` for a missing target. */
  key: string;
  kind: 'start' | 'step' | 'missing';
  /** Text lines of the label (unescaped). */
  lines: string[];
  shape: 'start' | 'box' | 'end' | 'condition' | 'call' | 'missing';
  flowId?: string;
  stepId?: string;
  /** The step drawn (steps only). */
  step?: Step;
  state: NodeState;
  missed: boolean;
}

interface GraphEdge {
  from: string;
  to: string;
  kind: 'start' | 'transition' | 'call';
  /** The branch's label (unescaped): its name, a Condition's expression, `default`, `calls`. */
  label: string;
  /** Transitions: the flow, step and branch name, and the target step id. */
  flowId?: string;
  stepId?: string;
  branch?: string;
  target?: string;
  /** Numbers of the execution's path (1-based) that went along this edge. */
  numbers: number[];
  taken: boolean;
  dimmed: boolean;
  missed: boolean;
}

interface GraphCluster {
  key: string;
  title: string;
  nodes: GraphNode[];
  clusters: GraphCluster[];
}

interface FlowGraph {
  title: string;
  id: string;
  nodes: GraphNode[];
  clusters: GraphCluster[];
  edges: GraphEdge[];
}

/** The flow a SubFlow or WorkflowExecute step calls, and how to say so. */
function calledFlow(step: Step, options: GraphOptions): { text: string; flowId: string | undefined } | undefined {
  if (step.type === 'SubFlow') {
    const { flowId } = step.configuration as { flowId: string };
    return { text: flowId, flowId };
  }
  if (step.type === 'WorkflowExecute') {
    const { configurationId, workflowId } = step.configuration as { configurationId: string; workflowId: string };
    return { text: `${configurationId}/${workflowId}`, flowId: options.workflowFlowId?.(configurationId, workflowId) };
  }
  return undefined;
}

/** The second line of a step's label: its type, with an End's outcome (and FAILED status) or the flow a calling step runs. */
function typeLine(step: Step, options: GraphOptions): string {
  if (step.type === 'End') {
    const { outcome, status } = step.configuration as { outcome?: string; status?: string };
    return `End: ${outcome ?? 'Default'}${status === 'FAILED' ? ' (FAILED)' : ''}`;
  }
  const called = calledFlow(step, options);
  return called ? `${step.type} → ${called.text}` : step.type;
}

const SHAPES: Partial<Record<string, GraphNode['shape']>> = { End: 'end', Condition: 'condition', SubFlow: 'call', WorkflowExecute: 'call' };

/** A transition's label: a Condition's expression for `conditions[i]`, `default` for `defaultStepId`, else the branch name. */
function branchLabel(step: Step, branch: DeclaredBranch): string {
  const match = /^conditions\[(\d+)\]$/.exec(branch.branch);
  if (step.type === 'Condition' && match) {
    const conditions = (step.configuration as { conditions?: Array<{ expression?: string }> }).conditions ?? [];
    return conditions[Number(match[1])]?.expression ?? branch.branch;
  }
  if (step.type === 'Condition' && branch.branch === 'defaultStepId') return 'default';
  return branch.branch;
}

/** Builds the graph model of `flow` with its clusters, then lays the overlays on it. */
function graphOf(flow: Flow, options: GraphOptions): FlowGraph {
  const graph: FlowGraph = { title: `${flow.name} (${flow.id})`, id: flow.id, nodes: [], clusters: [], edges: [] };
  const byPath = new Map<string, GraphNode>();
  const transitions = new Map<string, GraphEdge>();
  const callEdges = new Map<string, GraphEdge>();
  const outgoing = new Map<string, GraphEdge[]>();
  let nodeCount = 0;
  let clusterCount = 0;
  const edge = (e: Omit<GraphEdge, 'numbers' | 'taken' | 'dimmed' | 'missed'>): GraphEdge => {
    const full: GraphEdge = { ...e, numbers: [], taken: false, dimmed: false, missed: false };
    graph.edges.push(full);
    return full;
  };

  /** Adds `f`'s steps to `container`; returns the node of its start step. */
  const addFlow = (f: Flow, keyPrefix: string, pathPrefix: string, chain: readonly string[], container: { nodes: GraphNode[]; clusters: GraphCluster[] }): GraphNode | undefined => {
    const startId = f.startStepId ?? f.steps[0]?.id;
    const nodes = new Map<string, GraphNode>();
    f.steps.forEach((step, i) => {
      const node: GraphNode = { key: `${keyPrefix}n${i}`, kind: 'step', lines: [step.id, typeLine(step, options)], shape: SHAPES[step.type] ?? 'box', flowId: f.id, stepId: step.id, step, state: 'plain', missed: false };
      container.nodes.push(node);
      if (!nodes.has(step.id)) nodes.set(step.id, node);
      byPath.set(`${pathPrefix}${step.id}`, node);
    });
    nodeCount += f.steps.length;
    let missing = 0;
    for (const step of f.steps) {
      const from = nodes.get(step.id)!;
      for (const branch of stepBranches(step)) {
        let to = nodes.get(branch.target);
        if (!to) {
          // A target the flow lacks (an unvalidated flow): drawn as such rather than dropped.
          to = { key: `${keyPrefix}m${missing++}`, kind: 'missing', lines: [branch.target, '(no such step)'], shape: 'missing', state: 'plain', missed: false };
          container.nodes.push(to);
          nodes.set(branch.target, to);
        }
        const e = edge({ from: from.key, to: to.key, kind: 'transition', label: branchLabel(step, branch), flowId: f.id, stepId: step.id, branch: branch.branch, target: branch.target });
        const path = `${pathPrefix}${step.id}`;
        if (!transitions.has(`${path}\u0000${branch.branch}`)) transitions.set(`${path}\u0000${branch.branch}`, e);
        outgoing.set(path, [...(outgoing.get(path) ?? []), e]);
      }
    }
    for (const step of f.steps) {
      const called = calledFlow(step, options);
      const sub = called?.flowId === undefined ? undefined : options.flows?.get(called.flowId);
      if (!called || !sub) continue;
      const caller = byPath.get(`${pathPrefix}${step.id}`)!;
      if (chain.includes(sub.id)) {
        caller.lines.push('(recursive call: drawn further out)');
        continue;
      }
      if (nodeCount + sub.steps.length > MAX_GRAPH_NODES) {
        caller.lines.push(`(not expanded: over ${MAX_GRAPH_NODES} nodes)`);
        continue;
      }
      const key = `c${clusterCount++}`;
      const cluster: GraphCluster = { key, title: `${sub.id} (${step.type} ${step.id})`, nodes: [], clusters: [] };
      container.clusters.push(cluster);
      const call = edge({ from: caller.key, to: '', kind: 'call', label: 'calls' });
      const start = addFlow(sub, `${key}_`, `${pathPrefix}${step.id}/`, [...chain, sub.id], cluster);
      if (start) {
        call.to = start.key;
        callEdges.set(`${pathPrefix}${step.id}`, call);
      } else graph.edges.splice(graph.edges.indexOf(call), 1);
    }
    return startId === undefined ? undefined : nodes.get(startId);
  };

  const startMarker: GraphNode = { key: 's0', kind: 'start', lines: ['start'], shape: 'start', state: 'plain', missed: false };
  graph.nodes.push(startMarker);
  const startEdge = edge({ from: 's0', to: '', kind: 'start', label: '' });
  const start = addFlow(flow, '', '', [flow.id], graph);
  if (start) startEdge.to = start.key;
  else graph.edges.splice(graph.edges.indexOf(startEdge), 1);

  if (options.execution !== undefined) {
    const overlay = overlayOf(options.execution);
    if (overlay.flowId !== flow.id) throw new GraphOverlayError('INVALID_EXECUTION', `the execution overlay is a run of flow '${overlay.flowId}', not of '${flow.id}'`);
    const seen = new Map<string, { count: number; durationMs: number; status: string }>();
    for (const s of overlay.steps) {
      const node = byPath.get(s.path);
      if (!node) continue;
      const before = seen.get(s.path);
      seen.set(s.path, { count: (before?.count ?? 0) + 1, durationMs: (before?.durationMs ?? 0) + s.durationMs, status: s.status });
      node.state = s.status === 'FAILED' ? 'failed' : 'taken';
    }
    for (const [path, s] of seen) byPath.get(path)!.lines.push(`${s.status}${s.count > 1 ? ` ×${s.count}` : ''} · ${s.durationMs} ms`);
    if (start && seen.size) startEdge.taken = true;
    let n = 0;
    for (const move of overlay.moves) {
      let e: GraphEdge | undefined;
      if (move.kind === 'call') e = callEdges.get(move.path);
      else {
        const named = transitions.get(`${move.path}\u0000${declaredBranchOf(byPath.get(move.path)?.step, move.branch)}`);
        e = named?.target === move.to ? named : outgoing.get(move.path)?.find((o) => o.target === move.to);
      }
      if (!e) continue;
      e.numbers.push(++n);
      e.taken = true;
    }
    // A truncated record lost part of its trace: what it lacks is unknown, not untaken.
    if (!overlay.truncated) {
      for (const node of byPath.values()) if (node.state === 'plain') node.state = 'untaken';
      for (const e of graph.edges) if (!e.taken) e.dimmed = true;
    }
  }

  if (options.coverage) {
    const { flows } = options.coverage;
    const of = (flowId: string | undefined) => (flowId !== undefined && Object.hasOwn(flows, flowId) ? flows[flowId] : undefined);
    for (const node of byPath.values()) if (of(node.flowId)?.steps?.missed?.includes(node.stepId!)) node.missed = true;
    for (const e of graph.edges) {
      if (e.kind !== 'transition') continue;
      if (of(e.flowId)?.branches?.missed?.some((m) => m.step === e.stepId && m.branch === e.branch)) e.missed = true;
    }
  }
  return graph;
}

/** An edge's label with the execution's numbers: `1. next`, `2, 6. OnError`. */
function numberedLabel(e: GraphEdge): string {
  return e.numbers.length ? `${e.numbers.join(', ')}. ${e.label}`.trimEnd() : e.label;
}

/** Newlines in a text become spaces: line breaks are the label's own, between its lines. */
const oneLine = (text: string) => text.replace(/\r\n|[\r\n]/g, ' ');

// ---------------------------------------------------------------------------------------------
// Mermaid

// Inside a double-quoted Mermaid string only `"` ends the token, but the text is then read again:
// `#` starts an entity code, `<`, `>` and `&` are HTML in a label, a leading backtick makes a
// Markdown string, `%%{` is a directive wherever it appears, and `|` ends an edge label. Those
// become entity codes (`#quot;`, `#<decimal>;`), and so do brackets, which close a node's shape.
const MERMAID_ENTITIES: Record<string, string> = {
  '#': '#35;',
  '"': '#quot;',
  '&': '#38;',
  '<': '#60;',
  '>': '#62;',
  '[': '#91;',
  ']': '#93;',
  '|': '#124;',
  '`': '#96;',
  '%': '#37;',
};

/** `text` as the inside of a double-quoted Mermaid string, one line (newlines become spaces). */
export function mermaidText(text: string): string {
  return oneLine(text).replace(/[#"&<>[\]|`%]/g, (ch) => MERMAID_ENTITIES[ch]!);
}

const MERMAID_SHAPES: Record<GraphNode['shape'], [string, string]> = {
  start: ['((', '))'],
  box: ['[', ']'],
  end: ['([', '])'],
  condition: ['{', '}'],
  call: ['[[', ']]'],
  missing: ['>', ']'],
};

const MERMAID_CLASSES = {
  taken: 'stroke-width:3px,font-weight:bold',
  failed: 'stroke:#c62828,stroke-width:3px,font-weight:bold',
  untaken: 'fill:#f5f5f5,stroke:#bdbdbd,color:#9e9e9e',
  missed: 'stroke:#d32f2f,stroke-width:2px,stroke-dasharray:5 5',
};

/** A link's style: taken bold, dimmed grey, missed dashed red (over grey). */
function mermaidLinkStyle(e: GraphEdge): string | undefined {
  const style = new Map<string, string>();
  if (e.dimmed) style.set('stroke', '#bdbdbd').set('color', '#9e9e9e');
  if (e.taken) style.set('stroke-width', '3px');
  if (e.missed) style.set('stroke', '#d32f2f').set('stroke-dasharray', '5 5').set('color', '#d32f2f');
  return style.size ? [...style].map(([k, v]) => `${k}:${v}`).join(',') : undefined;
}

/**
 * The flow as a Mermaid flowchart (`flowchart TD`), for GitHub or any Mermaid renderer.
 *
 * Nodes have generated ids (`s0` the start marker, `n<i>` the flow's steps in order, `c<k>_n<i>` the
 * steps of cluster k), so no step id can break the syntax; every label is a double-quoted string
 * with `"` as `#quot;` and the characters Mermaid could read as syntax as entity codes (`[` as
 * `#91;`, …), lines joined by `<br/>`. Shapes: a Condition a rhombus, an End a stadium, a SubFlow
 * or WorkflowExecute a subroutine, other steps a rectangle. Sub-flow clusters are `subgraph`s; the
 * calling step reaches its flow's start step by a dotted `calls` edge. Overlays are `classDef`s
 * (`taken`, `failed`, `untaken`, `missed`) and `linkStyle`s; path edges are labelled `1. <branch>`.
 * @param flow a validated flow (see `parseFlow`)
 * @returns the diagram text, ending in a newline
 * @throws GraphOverlayError when `options.execution` is not an execution (see {@link overlayOf}) or is one of another flow
 * @example mermaidOf(flow, { flows }) // 'flowchart TD\n  s0(("start"))\n  n0[["subflow-integration<br/>SubFlow → crm-integration"]]\n…'
 */
export function mermaidOf(flow: Flow, options: GraphOptions = {}): string {
  const graph = graphOf(flow, options);
  const out = ['flowchart TD'];
  const classes = new Map<keyof typeof MERMAID_CLASSES, string[]>();
  const addClass = (name: keyof typeof MERMAID_CLASSES, key: string) => classes.set(name, [...(classes.get(name) ?? []), key]);
  const nodeLine = (node: GraphNode, indent: string) => {
    const [open, close] = MERMAID_SHAPES[node.shape];
    out.push(`${indent}${node.key}${open}"${node.lines.map(mermaidText).join('<br/>')}"${close}`);
    if (node.state !== 'plain') addClass(node.state, node.key);
    if (node.missed) addClass('missed', node.key);
  };
  const cluster = (c: GraphCluster, indent: string) => {
    out.push(`${indent}subgraph ${c.key} ["${mermaidText(c.title)}"]`);
    for (const node of c.nodes) nodeLine(node, `${indent}  `);
    for (const inner of c.clusters) cluster(inner, `${indent}  `);
    out.push(`${indent}end`);
  };
  for (const node of graph.nodes) nodeLine(node, '  ');
  for (const c of graph.clusters) cluster(c, '  ');
  const linkStyles = new Map<string, number[]>();
  graph.edges.forEach((e, i) => {
    const label = numberedLabel(e);
    const arrow = e.kind === 'call' ? '-.->' : '-->';
    out.push(`  ${e.from} ${arrow}${label ? `|"${mermaidText(label)}"|` : ''} ${e.to}`);
    const style = mermaidLinkStyle(e);
    if (style) linkStyles.set(style, [...(linkStyles.get(style) ?? []), i]);
  });
  for (const name of Object.keys(MERMAID_CLASSES) as Array<keyof typeof MERMAID_CLASSES>) {
    const keys = classes.get(name);
    if (!keys) continue;
    out.push(`  classDef ${name} ${MERMAID_CLASSES[name]}`);
    out.push(`  class ${keys.join(',')} ${name}`);
  }
  for (const [style, indexes] of linkStyles) out.push(`  linkStyle ${indexes.join(',')} ${style}`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// DOT

/**
 * `text` as a Graphviz escString's content, one line. ts-graphviz quotes values and escapes a `"`
 * that has no backslash before it, but leaves backslashes alone (so `\l`, `\N` or a trailing `\`
 * would reach Graphviz as escapes); escaping both here makes every character literal.
 */
function dotText(text: string): string {
  return oneLine(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

const DOT_SHAPES: Record<GraphNode['shape'], NodeAttributesObject> = {
  start: { [_.shape]: 'circle', [_.fontsize]: 9, [_.margin]: 0 },
  box: { [_.shape]: 'box' },
  end: { [_.shape]: 'box', [_.style]: 'rounded' },
  condition: { [_.shape]: 'diamond' },
  call: { [_.shape]: 'box', [_.peripheries]: 2 },
  missing: { [_.shape]: 'box', [_.style]: 'dashed' },
};

const BOLD_FONT = 'Helvetica-Bold';
const GREY = '#bdbdbd';
const GREY_TEXT = '#9e9e9e';
const RED = '#d32f2f';

function dotNode(node: GraphNode): Node {
  const attributes: NodeAttributesObject = { [_.label]: node.lines.map(dotText).join('\n'), ...DOT_SHAPES[node.shape] };
  const styles = new Set(
    String(attributes[_.style] ?? '')
      .split(',')
      .filter(Boolean),
  );
  if (node.state === 'taken' || node.state === 'failed') {
    styles.add('bold');
    attributes[_.fontname] = BOLD_FONT;
    if (node.state === 'failed') attributes[_.color] = '#c62828';
  } else if (node.state === 'untaken') {
    attributes[_.color] = GREY;
    attributes[_.fontcolor] = GREY_TEXT;
  }
  if (node.missed) {
    styles.add('dashed');
    attributes[_.color] = RED;
  }
  if (styles.size) attributes[_.style] = [...styles].join(',') as NodeAttributesObject[typeof _.style];
  return new Node(node.key, attributes);
}

function dotEdge(e: GraphEdge, nodes: ReadonlyMap<string, Node>): Edge {
  const attributes: EdgeAttributesObject = {};
  const label = numberedLabel(e);
  if (label) attributes[_.label] = dotText(label);
  const styles = new Set<string>();
  if (e.kind === 'call') styles.add('dotted');
  if (e.dimmed) {
    attributes[_.color] = GREY;
    attributes[_.fontcolor] = GREY_TEXT;
  }
  if (e.taken) {
    styles.add('bold');
    attributes[_.fontname] = BOLD_FONT;
  }
  if (e.missed) {
    styles.delete('dotted');
    styles.add('dashed');
    attributes[_.color] = RED;
    attributes[_.fontcolor] = RED;
  }
  if (styles.size) attributes[_.style] = [...styles].join(',') as EdgeAttributesObject[typeof _.style];
  return new Edge([nodes.get(e.from)!, nodes.get(e.to)!], attributes);
}

/**
 * The flow as Graphviz DOT (a `digraph` named by the flow id), built with ts-graphviz. The same
 * graph as {@link mermaidOf}: generated node ids (`s0`, `n<i>`, `c<k>_n<i>`), labels of id and
 * type lines, sub-flow clusters as `subgraph "cluster_c<k>"` titled `<flowId> (<type> <callingStepId>)`,
 * dotted `calls` edges. Overlays: taken steps and edges `style=bold` with a bold font (a failed step
 * red), path edges labelled `1. <branch>`, untaken ones grey; missed branches `style=dashed`,
 * `color="#d32f2f"`.
 * @param flow a validated flow (see `parseFlow`)
 * @returns the DOT text, ending in a newline, for `dot -Tsvg` or {@link svgOf} in shared/flow/graph-svg.ts
 * @throws GraphOverlayError when `options.execution` is not an execution (see {@link overlayOf}) or is one of another flow
 * @example await svgOf(dotOf(flow, { flows, coverage })) // '<?xml …<svg …'
 */
export function dotOf(flow: Flow, options: GraphOptions = {}): string {
  const graph = graphOf(flow, options);
  const root = new Digraph(graph.id, { [_.label]: dotText(graph.title), [_.labelloc]: 't', [_.fontname]: 'Helvetica', [_.rankdir]: 'TB' });
  root.attributes.node.apply({ [_.fontname]: 'Helvetica', [_.fontsize]: 11 });
  root.attributes.edge.apply({ [_.fontname]: 'Helvetica', [_.fontsize]: 10 });
  const nodes = new Map<string, Node>();
  const add = (container: Digraph | Subgraph, list: readonly GraphNode[], clusters: readonly GraphCluster[]) => {
    for (const n of list) {
      const node = dotNode(n);
      nodes.set(n.key, node);
      container.addNode(node);
    }
    for (const c of clusters) {
      const sub = new Subgraph(`cluster_${c.key}`, { [_.label]: dotText(c.title), [_.style]: 'rounded', [_.color]: '#90a4ae' });
      container.addSubgraph(sub);
      add(sub, c.nodes, c.clusters);
    }
  };
  add(root, graph.nodes, graph.clusters);
  for (const e of graph.edges) root.addEdge(dotEdge(e, nodes));
  return `${toDot(root)}\n`;
}
