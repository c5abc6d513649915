/**
 * SVG of a flow graph (docs/graph.md), rendered in-process by Graphviz compiled to WebAssembly
 * (`@hpcc-js/wasm-graphviz`): no system Graphviz is needed. The module is imported lazily and
 * loaded once, on the first call, so code that only draws Mermaid or DOT never loads the WASM.
 */
import type { Graphviz } from '@hpcc-js/wasm-graphviz';

let graphviz: Promise<Graphviz> | undefined;

/** The Graphviz instance, loaded on first use; a failed load is forgotten so a later call tries again. */
function loaded(): Promise<Graphviz> {
  graphviz ??= import('@hpcc-js/wasm-graphviz')
    .then(({ Graphviz: G }) => G.load())
    .catch((err: unknown) => {
      graphviz = undefined;
      throw err;
    });
  return graphviz;
}

/**
 * Renders DOT to SVG with Graphviz's `dot` layout.
 * @param dot DOT text, e.g. from `dotOf` (shared/flow/graph.ts)
 * @returns the SVG document (`<?xml …?>`, a DOCTYPE, then `<svg …>`): each node a `<g class="node">`
 *   whose `<title>` is its DOT id and whose `<text>` lines are its label
 * @throws Error when the WASM module cannot be loaded, or Graphviz refuses the DOT (its message says where)
 * @example const svg = await svgOf(dotOf(flow, { flows }));
 */
export async function svgOf(dot: string): Promise<string> {
  return (await loaded()).dot(dot, 'svg');
}
