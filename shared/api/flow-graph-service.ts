/**
 * `GET /flows/{flowId}/graph` (docs/graph.md): a stored flow drawn as a flowchart, over the
 * {@link FlowService} that reads it and the flows it calls. Its own module, so that only the
 * function that serves the route (flow-api) bundles the Mermaid and DOT renderers.
 */
import { dotOf, mermaidOf } from '../flow/graph';
import { svgOf } from '../flow/graph-svg';
import type { FlowService } from './flow-service';

/** The formats of `GET /flows/{flowId}/graph`, and the media type each is served as. */
export const GRAPH_FORMATS = { mermaid: 'text/vnd.mermaid; charset=utf-8', dot: 'text/vnd.graphviz; charset=utf-8', svg: 'image/svg+xml' } as const;
/** A format of `GET /flows/{flowId}/graph`. */
export type GraphFormat = keyof typeof GRAPH_FORMATS;

/** Draws stored flows. */
export class FlowGraphService {
  constructor(private readonly flows: FlowService) {}

  /**
   * A stored flow drawn as a flowchart, the latest version of each flow it calls (SubFlow, and
   * WorkflowExecute through its workflow configuration) as a nested cluster.
   * @param format `mermaid` (GitHub renders it), `dot` (Graphviz) or `svg` (rendered in-process by Graphviz compiled to WASM)
   * @returns the drawing and its media type ({@link GRAPH_FORMATS})
   * @throws NotFoundError (404) when the flow or that version does not exist
   */
  async graph(flowId: string, format: GraphFormat, version?: number): Promise<{ contentType: string; body: string }> {
    const flow = await this.flows.get(flowId, version);
    const { flows, workflowFlowId } = await this.flows.calledFlows(flow);
    const options = { flows, workflowFlowId };
    const body = format === 'mermaid' ? mermaidOf(flow, options) : format === 'dot' ? dotOf(flow, options) : await svgOf(dotOf(flow, options));
    return { contentType: GRAPH_FORMATS[format], body };
  }
}
