/** docs/example-ivr-graph.md shows what `ivrflow graph` draws for the example IVR today. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { folderResolver } from '#shared/flow/files';
import { mermaidOf } from '#shared/flow/graph';
import type { Flow } from '#shared/flow/schema';

describe('docs/example-ivr-graph.md', () => {
  it('holds the Mermaid graph of customer-lookup-ivr with its sub-flow, as drawn now', async () => {
    const { flows } = await folderResolver('examples/flows', true);
    const latest = new Map<string, Flow>([...flows].map(([id, list]) => [id, list[0]!]));
    const shown = /```mermaid\n([\s\S]*?)```/.exec(readFileSync('docs/example-ivr-graph.md', 'utf8'))![1];
    expect(shown).toBe(mermaidOf(latest.get('customer-lookup-ivr')!, { flows: latest }));
  });
});
