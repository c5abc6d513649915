import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestStack } from '../support/local';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;
let base: string;
beforeAll(async () => {
  stack = await startTestStack();
  base = stack.api.url;
});
afterAll(async () => stack.close());

const flow = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: `Flow ${id}`,
  steps: [{ id: 'set', type: 'DataAPI', configuration: { operation: 'assign', variables: { greeting: 'hello {{who}}' } } }],
  inputs: ['who'],
  ...extra,
});

describe('Flow API on DynamoDB Local', () => {
  it('deploys, reads (latest and by version), lists and deletes', async () => {
    expect(await api(base, 'PUT', '/flows/greet', flow('greet'))).toMatchObject({ status: 201, body: { flowId: 'greet', version: 1 } });
    expect(await api(base, 'PUT', '/flows/greet', flow('greet', { name: 'Greeter v2' }))).toMatchObject({ status: 200, body: { version: 2 } });
    expect((await api(base, 'GET', '/flows/greet')).body).toMatchObject({ id: 'greet', name: 'Greeter v2', version: 2 });
    expect((await api(base, 'GET', '/flows/greet?version=1')).body).toMatchObject({ name: 'Flow greet', version: 1 });
    expect((await api(base, 'GET', '/flows/greet?version=9')).status).toBe(404);
    const list = await api(base, 'GET', '/flows');
    expect(list.body.items).toContainEqual(expect.objectContaining({ id: 'greet', latestVersion: 2 }));
    expect((await api(base, 'DELETE', '/flows/greet')).status).toBe(204);
    expect((await api(base, 'GET', '/flows/greet')).status).toBe(404);
    expect((await api(base, 'GET', '/flows/greet?version=1')).status).toBe(404);
    expect((await api(base, 'DELETE', '/flows/greet')).status).toBe(404);
  });

  it('lists with pagination', async () => {
    for (const id of ['page-a', 'page-b', 'page-c']) await api(base, 'PUT', `/flows/${id}`, flow(id));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api(base, 'GET', `/flows?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((i: { id: string }) => i.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c']));
    expect((await api(base, 'GET', '/flows?cursor=garbage')).body.error.code).toBe('BAD_CURSOR');
    expect((await api(base, 'GET', '/flows?limit=0')).status).toBe(400);
  });

  it('a stale version gets 409 with the current version', async () => {
    await api(base, 'PUT', '/flows/stale', flow('stale'));
    const r = await api(base, 'PUT', '/flows/stale', flow('stale', { version: 1 }));
    expect(r).toMatchObject({ status: 409, body: { error: { code: 'VERSION_CONFLICT', details: { currentVersion: 1 } } } });
    expect((await api(base, 'PUT', '/flows/stale', flow('stale', { version: 2 }))).status).toBe(200);
  });

  it('20 concurrent deploys of the same version: exactly one wins, 19 get 409', async () => {
    await api(base, 'PUT', '/flows/race', flow('race'));
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => api(base, 'PUT', '/flows/race', flow('race', { version: 2, name: `racer ${i}` }))));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const winner = results.find((r) => r.status === 200)!;
    expect(winner.body.version).toBe(2);
    for (const loser of results.filter((r) => r.status === 409)) expect(loser.body.error.details).toMatchObject({ currentVersion: 2 });
    const stored = await api(base, 'GET', '/flows/race');
    expect(stored.body.version).toBe(2);
  });

  it('20 concurrent deploys without a version: versions are never skipped or reused', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => api(base, 'PUT', '/flows/burst', flow('burst'))));
    const versions = results
      .filter((r) => r.status < 300)
      .map((r) => r.body.version)
      .sort((a, b) => a - b);
    expect(versions).toEqual(versions.map((_, i) => i + 1));
    expect(results.every((r) => r.status < 300 || r.status === 409)).toBe(true);
  });

  it('POST /flows/validate lists problems and stores nothing', async () => {
    const r = await api(base, 'POST', '/flows/validate', { id: 'checked', name: 'x', steps: [{ id: 'a', type: 'Fax', configuration: {} }] });
    expect(r).toMatchObject({ status: 422, body: { valid: false, errors: [{ code: 'UNKNOWN_STEP_TYPE', path: 'steps[0].type' }] } });
    expect((await api(base, 'POST', '/flows/validate', flow('checked'))).body).toMatchObject({ valid: true });
    expect((await api(base, 'GET', '/flows/checked')).status).toBe(404);
  });

  it('checks sub-flow references against the store', async () => {
    const parent = { id: 'parent', name: 'p', steps: [{ id: 's', type: 'SubFlow', configuration: { flowId: 'not-deployed' } }] };
    expect((await api(base, 'PUT', '/flows/parent', parent)).body.error.details).toEqual([expect.objectContaining({ code: 'MISSING_FLOW' })]);
  });
});

describe('Flow API: bad input gets a 4xx with a code and changes nothing', () => {
  beforeAll(async () => {
    await api(base, 'PUT', '/flows/keep', flow('keep'));
  });
  const unchanged = async () => {
    const r = await api(base, 'GET', '/flows/keep');
    expect(r.body).toMatchObject({ version: 1, name: 'Flow keep' });
  };

  it.each([
    ['not JSON', '{"id": "keep", ', 400, 'INVALID_JSON'],
    ['a JSON array', '[1,2]', 400, 'INVALID_BODY'],
    ['wrong types', JSON.stringify({ ...flow('keep'), name: 7, steps: 'none' }), 422, 'INVALID_FLOW'],
    ['an unknown step type', JSON.stringify({ ...flow('keep'), steps: [{ id: 'a', type: 'Teleport', configuration: {} }] }), 422, 'INVALID_FLOW'],
    ['a mismatched id', JSON.stringify(flow('other')), 400, 'ID_MISMATCH'],
    ['an oversized body', JSON.stringify({ ...flow('keep'), description: 'x'.repeat(300 * 1024) }), 413, 'BODY_TOO_LARGE'],
    ['an empty body', '', 400, 'MISSING_BODY'],
  ])('%s → %i %s', async (_label, body, status, code) => {
    const res = await fetch(`${base}/flows/keep`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body });
    const answer = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(status);
    expect(answer.error.code).toBe(code);
    expect(answer.error.message).not.toMatch(/at .*\.ts:\d+/);
    await unchanged();
  });

  it('a non-JSON content type → 415', async () => {
    const res = await fetch(`${base}/flows/keep`, { method: 'PUT', headers: { 'content-type': 'text/yaml' }, body: 'id: keep' });
    expect(res.status).toBe(415);
    await unchanged();
  });

  it('unknown routes → 404', async () => {
    expect((await api(base, 'PATCH', '/flows/keep', {})).status).toBe(404);
    expect((await api(base, 'GET', '/nothing/here')).body.error.code).toBe('NO_ROUTE');
  });
});

describe('ivrflow deploy', () => {
  it("pushes flow files to the API, sub-flows first, and prints a refused flow's diagnostics as validate does", async () => {
    const { main } = await import('../../cli/main');
    const deploy = async (...args: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(
        ['deploy', ...args],
        (s) => out.push(s),
        (s) => err.push(s),
      );
      return { code, out, err };
    };
    // The parent comes first on the command line: it is retried once its sub-flow is there.
    const good = await deploy('examples/flows/customer-lookup-ivr.json', 'examples/flows/crm-integration.json', '--api', base);
    expect({ code: good.code, err: good.err }).toEqual({ code: 0, err: [] });
    expect(good.out).toEqual([expect.stringMatching(/crm-integration version 1$/), expect.stringMatching(/customer-lookup-ivr version 1$/)]);

    const bad = await deploy('test/fixtures/broken-flow.json', 'test/fixtures/missing.json', '--api', base);
    expect(bad.code).toBe(1);
    expect(bad.err[0]).toMatch(/^test\/fixtures\/broken-flow.json: refused: 422 INVALID_FLOW \(\d+ problem\(s\)\)$/);
    // Each diagnostic the server gave, in validate's format: file, level, code, path, message.
    expect(bad.err).toContainEqual(expect.stringMatching(/^test\/fixtures\/broken-flow.json: error DUPLICATE_STEP_ID steps\[2\]\.id: /));
    expect(bad.err).toContainEqual('test/fixtures/broken-flow.json: error OUT_OF_BOUNDS steps[0].configuration.timeout: timeout 90000 is too big: must be <= 30000');
    expect(bad.err.join('\n')).toMatch(/missing.json: ENOENT/);
    expect((await deploy('examples/flows/crm-integration.json')).code).toBe(2);
  });
});

describe('Flow API: graph and caller fit over the stored flows', () => {
  const example = (id: string) => JSON.parse(readFileSync(`examples/flows/${id}.json`, 'utf8')) as { id: string; steps: Array<{ id: string }> };
  beforeAll(async () => {
    // The stored flows the IVRs call: the IVR's sub-flow, the workflow and its configuration, the connection account-lookup-hub names.
    const crm = { baseUrl: 'http://127.0.0.1:9', timeoutMs: 2500, authentication: { type: 'none' }, requests: { 'lookup-account': { path: '/a' }, 'create-ticket': { method: 'POST', path: '/t', timeoutMs: 800 } } };
    expect((await api(base, 'PUT', '/connections/crm', crm)).status).toBeLessThan(300);
    for (const id of ['crm-integration', 'customer-lookup-ivr', 'crm-search-contact', 'account-lookup-hub']) expect((await api(base, 'PUT', `/flows/${id}`, example(id))).status).toBeLessThan(300);
    const configuration = JSON.parse(readFileSync('examples/workflow-configurations/crm-agent.json', 'utf8')) as unknown;
    expect((await api(base, 'PUT', '/workflow-configurations/crm-agent', configuration)).status).toBeLessThan(300);
    expect((await api(base, 'PUT', '/flows/agent-screen-pop-ivr', example('agent-screen-pop-ivr'))).status).toBeLessThan(300);
  });
  const graph = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('GET /flows/{id}/graph draws the IVR as Mermaid by default, its stored sub-flow as a cluster', async () => {
    const r = await graph('/flows/customer-lookup-ivr/graph');
    expect(r).toMatchObject({ status: 200, type: 'text/vnd.mermaid; charset=utf-8' });
    expect(r.text).toMatch(/^flowchart TD\n/);
    expect(r.text).toContain('subgraph c0 ["crm-integration (SubFlow subflow-integration)"]');
    for (const id of [...example('customer-lookup-ivr').steps, ...example('crm-integration').steps].map((s) => s.id)) expect(r.text).toContain(`"${id}<br/>`);
  });

  it('?format=svg renders SVG, ?format=dot DOT, ?version= an older version; a WorkflowExecute step gets its workflow flow as a cluster', async () => {
    const svg = await graph('/flows/customer-lookup-ivr/graph?format=svg');
    expect(svg).toMatchObject({ status: 200, type: 'image/svg+xml' });
    expect(svg.text).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*<\/svg>\n?$/);
    expect(svg.text.replaceAll('&#45;', '-')).toContain('>http-customer-lookup</text>');
    const dot = await graph('/flows/customer-lookup-ivr/graph?format=dot&version=1');
    expect(dot).toMatchObject({ status: 200, type: 'text/vnd.graphviz; charset=utf-8' });
    expect(dot.text).toMatch(/^digraph "customer-lookup-ivr" \{/);
    const workflow = await graph('/flows/agent-screen-pop-ivr/graph');
    expect(workflow.status).toBe(200);
    expect(workflow.text).toMatch(/subgraph c0 \["crm-search-contact \(WorkflowExecute [^)]+\)"\]/);
  });

  it('refuses a bad format (400), a malformed id (400) and a flow or version that does not exist (404)', async () => {
    const bad = await api(base, 'GET', '/flows/customer-lookup-ivr/graph?format=png');
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'INVALID_PARAMETER', message: "format must be one of mermaid, dot, svg; got 'png'" } } });
    expect((await api(base, 'GET', `/flows/${encodeURIComponent('bad id!')}/graph`)).status).toBe(400);
    expect((await api(base, 'GET', '/flows/never-deployed/graph')).body.error.code).toBe('NOT_FOUND');
    expect((await api(base, 'GET', '/flows/customer-lookup-ivr/graph?version=999')).status).toBe(404);
    expect((await api(base, 'GET', '/flows/customer-lookup-ivr/graph?version=abc')).status).toBe(400);
  });

  it('POST /flows/validate?caller=connect:3000 refuses the IVR (worst case 6000 ms: its stored sub-flow cut at its 6000 ms deadline), connect (8000) accepts it', async () => {
    const ivr = example('customer-lookup-ivr');
    const short = await api(base, 'POST', '/flows/validate?caller=connect:3000', ivr);
    expect(short.status).toBe(422);
    const body = short.body as unknown as { valid: boolean; errors: Array<{ code: string; message: string }>; callerFit: { limitMs: number; worstCaseMs: number; caller: { name: string } } };
    expect(body.valid).toBe(false);
    const exceeded = body.errors.find((e) => e.code === 'CALLER_DEADLINE_EXCEEDED');
    expect(exceeded?.message).toContain('can take 6000 ms in the worst case, more than the 3000 ms limit');
    expect(body.callerFit).toMatchObject({ limitMs: 3000, worstCaseMs: 6000, caller: { name: 'connect' } });
    const fits = await api(base, 'POST', '/flows/validate?caller=connect', ivr);
    expect(fits).toMatchObject({ status: 200, body: { valid: true, callerFit: { limitMs: 8000, worstCaseMs: 6000 } } });
    // Without a caller, the flow's own deadline is the limit and the findings are warnings.
    const none = await api(base, 'POST', '/flows/validate', ivr);
    expect(none).toMatchObject({ status: 200, body: { valid: true, warnings: [expect.objectContaining({ code: 'SUBFLOW_DEADLINE_EXCEEDED' })] } });
    expect(none.body).not.toHaveProperty('callerFit.caller');
    expect(await api(base, 'POST', '/flows/validate?caller=connect:9000', ivr)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_CALLER' } } });
    expect((await api(base, 'POST', '/flows/validate?caller=bogus', ivr)).status).toBe(400);
  });

  it("caller fit reads the stored connection's request timeouts: lookup-account 2 attempts × 2500 ms + 100 ms backoff = 5100 ms, create-ticket 800 ms (5900 ms within the 6000 ms deadline)", async () => {
    const r = await api(base, 'POST', '/flows/validate?caller=twilio', example('account-lookup-hub'));
    const body = r.body as unknown as { valid: boolean; errors: unknown[]; callerFit: { worstCaseMs: number; paths: Array<{ path: string[]; worstCaseMs: number }> } };
    expect(body.errors).toEqual([]);
    expect(body.callerFit.paths).toContainEqual({ path: ['format-phone', 'lookup-account', 'agent-fallback'], worstCaseMs: 5100, endsBy: 'End' });
    expect(body.callerFit.worstCaseMs).toBe(5100 + 800);
  });
});
