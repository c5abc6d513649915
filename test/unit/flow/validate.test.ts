import { describe, expect, it } from 'vitest';
import { validateFlow } from '#shared/flow/validate';
import { flowOf } from '../../support/flows';

const http = (id: string, configuration: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'HTTPRequest', configuration: { url: 'https://api.example.com/x', ...configuration }, ...extra });
const end = (id: string) => ({ id, type: 'End', configuration: {} });

async function codes(raw: unknown, options = {}) {
  const r = await validateFlow(raw, options);
  return { errors: r.errors.map((e) => `${e.code} ${e.path}`), warnings: r.warnings.map((e) => `${e.code} ${e.path}`), valid: r.valid };
}

describe('validateFlow: one test per error code', () => {
  it('accepts a valid flow and applies defaults', async () => {
    const r = await validateFlow(flowOf([http('a', {}, { next: 'b' }), end('b')]));
    expect(r.errors).toEqual([]);
    expect(r.flow?.deadlineMs).toBe(8000);
    expect(r.flow?.maxSteps).toBe(200);
  });

  it('INVALID_VALUE: wrong types', async () => {
    expect((await codes({ ...flowOf([end('a')]), name: 42 })).errors).toEqual(['INVALID_VALUE name']);
  });

  it('MISSING_FIELD: a required key is absent', async () => {
    expect((await codes(flowOf([{ id: 'a', type: 'HTTPRequest', configuration: {} }]))).errors).toEqual(['MISSING_FIELD steps[0].configuration.url']);
  });

  it('UNKNOWN_KEY: keys the schema does not define, at every level', async () => {
    const r = await codes({ ...flowOf([http('a', { colour: 'red' }, { extra: 1 })]), owner: 'x' });
    expect(r.errors.sort()).toEqual(['UNKNOWN_KEY owner', 'UNKNOWN_KEY steps[0].configuration.colour', 'UNKNOWN_KEY steps[0].extra'].sort());
  });

  it('UNKNOWN_STEP_TYPE', async () => {
    const r = await validateFlow(flowOf([{ id: 'a', type: 'SendFax', configuration: {} }]));
    expect(r.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['UNKNOWN_STEP_TYPE steps[0].type']);
    expect(r.errors[0]!.message).toMatch(/HTTPRequest/);
  });

  it('UNKNOWN_BRANCH: a branch the step type cannot take', async () => {
    expect((await codes(flowOf([{ id: 'a', type: 'DataAPI', configuration: { operation: 'assign', variables: {} }, branches: { OnTimeout: 'a' } }]))).errors).toEqual(['UNKNOWN_BRANCH steps[0].branches.OnTimeout']);
  });

  it('OUT_OF_BOUNDS: timeouts, retries, deadline, maxSteps', async () => {
    const r = await codes(flowOf([http('a', { timeout: 60000, retryPolicy: { maxRetries: 9 } })], { deadlineMs: 50, maxSteps: 0 }));
    expect(r.errors.sort()).toEqual(['OUT_OF_BOUNDS deadlineMs', 'OUT_OF_BOUNDS maxSteps', 'OUT_OF_BOUNDS steps[0].configuration.retryPolicy.maxRetries', 'OUT_OF_BOUNDS steps[0].configuration.timeout'].sort());
  });

  it('DUPLICATE_STEP_ID', async () => {
    expect((await codes(flowOf([end('a'), end('a')]))).errors).toEqual(['DUPLICATE_STEP_ID steps[1].id']);
  });

  it('MISSING_STEP: next, branches, condition targets and startStepId', async () => {
    const r = await codes(
      flowOf([http('a', {}, { next: 'nowhere', branches: { OnError: 'gone' } }), { id: 'c', type: 'Condition', configuration: { conditions: [{ expression: 'true', nextStepId: 'lost' }], defaultStepId: 'void' } }], { startStepId: 'start' }),
    );
    expect(r.errors.sort()).toEqual(
      ['MISSING_STEP startStepId', 'MISSING_STEP steps[0].next', 'MISSING_STEP steps[0].branches.OnError', 'MISSING_STEP steps[1].configuration.conditions[0].nextStepId', 'MISSING_STEP steps[1].configuration.defaultStepId'].sort(),
    );
  });

  it('MISSING_FLOW: a sub-flow that does not exist', async () => {
    const raw = flowOf([{ id: 's', type: 'SubFlow', configuration: { flowId: 'ghost' } }]);
    expect((await codes(raw, { flowExists: (id: string) => Promise.resolve(id === 'real') })).errors).toEqual(['MISSING_FLOW steps[0].configuration.flowId']);
    expect((await codes(raw)).errors).toEqual([]);
  });

  it('BAD_EXPRESSION: expressions and templates that do not parse, unknown functions, forbidden access', async () => {
    const r = await codes(
      flowOf([
        {
          id: 'c',
          type: 'Condition',
          configuration: {
            conditions: [
              { expression: '{{http_status_code}} >=', nextStepId: 'c' },
              { expression: 'hack()', nextStepId: 'c' },
              { expression: 'x.constructor', nextStepId: 'c' },
            ],
          },
        },
        http('h', { headers: { 'X-Id': '{{ unclosed' }, body: { a: '{{ 1 + }}' } }),
      ]),
    );
    expect(r.errors.sort()).toEqual(
      [
        'BAD_EXPRESSION steps[0].configuration.conditions[0].expression',
        'BAD_EXPRESSION steps[0].configuration.conditions[1].expression',
        'BAD_EXPRESSION steps[0].configuration.conditions[2].expression',
        'BAD_EXPRESSION steps[1].configuration.headers.X-Id',
        'BAD_EXPRESSION steps[1].configuration.body.a',
      ].sort(),
    );
  });

  it('BAD_JSONPATH: response mappings that do not parse', async () => {
    expect((await codes(flowOf([http('a', { responseMapping: { x: '$.data[0', y: '$.data[?(@.constructor)]' } })]))).errors.sort()).toEqual(
      ['BAD_JSONPATH steps[0].configuration.responseMapping.x', 'BAD_JSONPATH steps[0].configuration.responseMapping.y'].sort(),
    );
  });

  it('BAD_URL: relative URLs and other schemes', async () => {
    expect((await codes(flowOf([http('a', { url: '/v1/x' }), http('b', { url: 'ftp://example.com/x' })]))).errors).toEqual(['BAD_URL steps[0].configuration.url', 'BAD_URL steps[1].configuration.url']);
  });

  it('LITERAL_SECRET: literal passwords, API keys and Authorization headers', async () => {
    const r = await codes(
      flowOf([
        http('a', { authentication: { type: 'apiKey', headerName: 'X-API-Key', headerValue: 'sk_live_123' } }),
        http('b', { authentication: { type: 'basic', username: 'svc', password: 'hunter2' } }),
        http('c', { headers: { Authorization: 'Bearer abc' } }),
        http('d', { authentication: { type: 'apiKey', headerValue: '{{api_key}}' } }),
      ]),
    );
    expect(r.errors).toEqual(['LITERAL_SECRET steps[0].configuration.authentication.headerValue', 'LITERAL_SECRET steps[1].configuration.authentication.password', 'LITERAL_SECRET steps[2].configuration.headers.Authorization']);
  });

  it('LITERAL_SECRET: literal credentials in a URL query and in bodies, never showing the value; templates stay allowed', async () => {
    const raw = flowOf(
      [
        http('a', { url: 'https://api.example.com/x?id=7&api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc' }, { next: 'b' }),
        http('b', { url: 'https://api.example.com/x?apikey=abc&access_token=ya29.a0Af&client_secret=s3&password=p%40ss' }, { next: 'c' }),
        http('c', { method: 'POST', body: { meta: { Authorization: 'Bearer eyJhbGciOi' }, list: [{ authorization: 'Basic dXNlcjpwYXNz' }], name: 'ok' } }, { next: 'd' }),
        http('d', { method: 'POST', body: '{"Authorization": "Bearer literal-token", "n": {{ n }}}' }, { next: 'e' }),
        // Templates, empty values, and names that are not credentials:
        http('e', { url: 'https://api.example.com/x?api_key={{api_key}}&password=&apikey=pre{{k}}&keyword=abc&page=2', method: 'POST', body: { Authorization: 'Bearer {{ token }}', password: '{{pin}}' } }, { next: 'f' }),
        http('f', { method: 'POST', body: '{"Authorization": "{{ auth }}", "n": 1}' }),
      ],
      { inputs: ['n', 'api_key', 'k', 'token', 'pin', 'auth'] },
    );
    const r = await validateFlow(raw);
    expect(r.errors.map((e) => `${e.code} ${e.path}`)).toEqual([
      'LITERAL_SECRET steps[0].configuration.url',
      'LITERAL_SECRET steps[1].configuration.url',
      'LITERAL_SECRET steps[1].configuration.url',
      'LITERAL_SECRET steps[1].configuration.url',
      'LITERAL_SECRET steps[1].configuration.url',
      'LITERAL_SECRET steps[2].configuration.body.meta.Authorization',
      'LITERAL_SECRET steps[2].configuration.body.list[0].authorization',
      'LITERAL_SECRET steps[3].configuration.body',
    ]);
    expect(r.errors.map((e) => /^(query parameter|body field) '([^']+)'/.exec(e.message)?.[2])).toEqual(['api_key', 'apikey', 'access_token', 'client_secret', 'password', 'Authorization', 'authorization', 'Authorization']);
    for (const secret of ['sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'ya29.a0Af', 'p@ss', 'p%40ss', 'eyJhbGciOi', 'dXNlcjpwYXNz', 'literal-token']) expect(JSON.stringify(r.errors)).not.toContain(secret);
  });

  it('LITERAL_SECRET in a connection request: a literal api_key in its path query or an Authorization in its body', async () => {
    const { requestProblems } = await import('#shared/connections/connection');
    const problems = requestProblems({
      lookup: { method: 'GET', path: '/v1/x?api_key=sk_live_123&q={{q}}' },
      update: { method: 'POST', path: '/v1/y?api_key={{k}}', body: { Authorization: 'Bearer abc', id: '{{id}}' } },
    } as never);
    expect(problems.map((p) => `${p.code} ${p.path}`)).toEqual(['LITERAL_SECRET requests.lookup.path', 'LITERAL_SECRET requests.update.body.Authorization']);
    expect(JSON.stringify(problems)).not.toContain('sk_live_123');
  });

  it('inputs: names or { name, type, required }; an unknown type or key and a name declared twice are refused', async () => {
    const ok = await validateFlow(
      flowOf([end('a')], { inputs: ['note', { name: 'account', type: 'string', required: true }, { name: 'amount', type: 'number' }, { name: 'vip', type: 'boolean' }, { name: 'profile', type: 'object' }, { name: 'plain' }] }),
    );
    expect(ok.errors).toEqual([]);
    const bad = await codes(flowOf([end('a')], { inputs: [{ name: 'a', type: 'date' }, { name: 'b', optional: true }, { type: 'string' }, 'c', 'c'] } as never));
    expect(bad.errors.length).toBeGreaterThan(0);
    expect(bad.errors.every((e) => e.startsWith('INVALID_VALUE inputs') || e.startsWith('UNKNOWN_KEY inputs') || e.startsWith('MISSING_FIELD inputs'))).toBe(true);
    const twice = await validateFlow(flowOf([end('a')], { inputs: ['c', { name: 'c', type: 'string' }] }));
    expect(twice.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['INVALID_VALUE inputs[1]']);
    expect(twice.errors[0]!.message).toMatch(/^input 'c' is declared twice/);
  });

  it('typed inputs count as set for UNSET_VARIABLE, like plain names', async () => {
    const r = await codes(flowOf([http('a', { url: 'https://api.example.com/x?id={{account}}&n={{note}}' })], { inputs: [{ name: 'account', type: 'string', required: true }, 'note'] }));
    expect(r.warnings).toEqual([]);
  });

  it('PRIVATE_HOST: loopback, private and link-local hosts unless allowed', async () => {
    const raw = flowOf([http('a', { url: 'http://169.254.169.254/latest/meta-data' }), http('b', { url: 'http://127.0.0.1:8080/x' }), http('c', { url: 'http://10.1.2.3/x' }), http('d', { url: 'http://localhost/x' })]);
    expect((await codes(raw)).errors).toEqual(['PRIVATE_HOST steps[0].configuration.url', 'PRIVATE_HOST steps[1].configuration.url', 'PRIVATE_HOST steps[2].configuration.url', 'PRIVATE_HOST steps[3].configuration.url']);
    expect((await codes(raw, { allowPrivateHosts: true })).errors).toEqual([]);
  });

  it('HOST_NOT_ALLOWED: hosts outside allowedHosts', async () => {
    const raw = flowOf([http('a', { url: 'https://api.example.com/x' }), http('b', { url: 'https://evil.example.net/x' })], { allowedHosts: ['*.example.com'] });
    expect((await codes(raw)).errors).toEqual(['HOST_NOT_ALLOWED steps[1].configuration.url']);
  });

  it('BAD_BODY_TEMPLATE: a string body that cannot render to JSON, checked with placeholder values', async () => {
    const bad = await validateFlow(flowOf([http('a', { method: 'POST', body: '{"phone": "{{p}}", "n": {{n}}' }, { next: 'b' }), end('b')], { inputs: ['p', 'n'] }));
    expect(bad.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['BAD_BODY_TEMPLATE steps[0].configuration.body']);
    expect(bad.errors[0]!.message).toMatch(/JSON/);
    expect(bad.errors[0]!.message).toContain('{\\"phone\\"'); // names the template
    expect((await codes(flowOf([http('a', { method: 'POST', body: '{"a": {{x}}, "b": "{{y}}"}' })], { inputs: ['x', 'y'] }))).errors).toEqual([]);
    // A template that does not compile is a BAD_EXPRESSION only.
    expect((await codes(flowOf([http('a', { method: 'POST', body: '{"a": {{ 1 + }}}' })]))).errors).toEqual(['BAD_EXPRESSION steps[0].configuration.body']);
  });

  it('BAD_SCHEMA: DataAPI validate schemas that do not compile (back-references, look-ahead, schemas Ajv rejects)', async () => {
    const validate = (id: string, schema: unknown) => ({ id, type: 'DataAPI', configuration: { operation: 'validate', schema } });
    const r = await validateFlow(
      flowOf([validate('backref', { type: 'string', pattern: '(a)\\1' }), validate('lookahead', { type: 'string', pattern: '^(?=a)a' }), validate('ajv', { type: 'nope' }), validate('fine', { type: 'string', pattern: '^[0-9]{4}$' })]),
    );
    expect(r.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['BAD_SCHEMA steps[0].configuration.schema', 'BAD_SCHEMA steps[1].configuration.schema', 'BAD_SCHEMA steps[2].configuration.schema']);
    expect(r.errors.every((e) => e.message.startsWith('JSON Schema does not compile'))).toBe(true);
  });

  it('INVALID_SUBFLOW: flowExists answers with why the sub-flow cannot be used', async () => {
    const raw = flowOf([{ id: 's', type: 'SubFlow', configuration: { flowId: 'child' } }]);
    const r = await validateFlow(raw, { flowExists: () => "flow 'child' (file flows/child.json) is invalid: BAD_URL steps[0].configuration.url: no" });
    expect(r.errors).toEqual([{ code: 'INVALID_SUBFLOW', path: 'steps[0].configuration.flowId', message: "flow 'child' (file flows/child.json) is invalid: BAD_URL steps[0].configuration.url: no" }]);
    // A store failure is not a flow problem: it is thrown, not reported.
    await expect(validateFlow(raw, { flowExists: () => Promise.reject(new Error('store down')) })).rejects.toThrow('store down');
  });

  it('INVALID_VALUE: a flow that is not an object', async () => {
    expect((await codes('nope')).errors).toEqual(['INVALID_VALUE ']); // path '' is the root
  });

  it('lists every problem at once, including those in other steps', async () => {
    const r = await codes(flowOf([{ id: 'a', type: 'Nope', configuration: {} }, http('b', { timeout: -1 }, { next: 'zzz' }), end('b')]));
    expect(r.errors.sort()).toEqual(['DUPLICATE_STEP_ID steps[2].id', 'MISSING_STEP steps[1].next', 'OUT_OF_BOUNDS steps[1].configuration.timeout', 'UNKNOWN_STEP_TYPE steps[0].type'].sort());
  });
});

describe('validateFlow: messages name the offending value', () => {
  const messageAt = async (raw: unknown, path: string) => (await validateFlow(raw)).errors.find((e) => e.path === path)?.message;

  it('an unknown step type, key or branch', async () => {
    expect(await messageAt(flowOf([{ id: 'a', type: 'Teleport', configuration: {} }]), 'steps[0].type')).toMatch(/^unknown step type 'Teleport'; known types: HTTPRequest, /);
    expect(await messageAt(flowOf([http('a', { foo: 1 })]), 'steps[0].configuration.foo')).toBe(
      "unknown key 'foo'; valid keys here: url, method, headers, body, timeout, retryPolicy, authentication, responseMapping, defaultResponse, when, circuitBreaker, async",
    );
    // A typo is named, at any depth; the form of a union is the one its discriminator picks.
    expect(await messageAt(flowOf([http('a', { retryPolicy: { maxRetry: 2 } })]), 'steps[0].configuration.retryPolicy.maxRetry')).toMatch(/^unknown key 'maxRetry' \(did you mean 'maxRetries'\?\); valid keys here: maxRetries, /);
    expect(await messageAt({ ...flowOf([end('a')]), deadline: 3000 }, 'deadline')).toMatch(/^unknown key 'deadline' \(did you mean 'deadlineMs'\?\); valid keys here: \$schema, id, name, /);
    expect(await messageAt(flowOf([{ id: 'e', type: 'End', configuration: { outcom: 'x' } }]), 'steps[0].configuration.outcom')).toMatch(/^unknown key 'outcom' \(did you mean 'outcome'\?\); valid keys here: /);
    expect(await messageAt(flowOf([http('a', {}, { branches: { OnFoo: 'a' } })]), 'steps[0].branches.OnFoo')).toMatch(/^unknown branch 'OnFoo'; HTTPRequest steps take OnSuccess, .*Default$/);
  });

  it('an out-of-bounds number and a value of the wrong type or format', async () => {
    expect(await messageAt(flowOf([http('a', { timeout: 999999 })]), 'steps[0].configuration.timeout')).toBe('timeout 999999 is too big: must be <= 30000');
    expect(await messageAt(flowOf([end('a')], { deadlineMs: 50 }), 'deadlineMs')).toBe('deadlineMs 50 is too small: must be >= 100');
    expect(await messageAt(flowOf([http('a', { method: 'abc' })]), 'steps[0].configuration.method')).toMatch(/; got "abc"$/);
    expect(await messageAt({ ...flowOf([end('a')]), name: 42 }, 'name')).toBe('name must be a string, got 42');
    expect(await messageAt(flowOf([end('a b')]), 'steps[0].id')).toMatch(/; got "a b"$/);
  });

  it('previews are short JSON, cut with …; secrets are never shown', async () => {
    const message = await messageAt({ ...flowOf([end('a')]), name: { long: 'x'.repeat(10_000) } }, 'name');
    expect(message).toMatch(/got \{"long":"x+…$/);
    expect(message!.length).toBeLessThan(120);
    const secret = await messageAt(flowOf([http('a', { authentication: { type: 'basic', username: 'svc', password: 987654321 } })]), 'steps[0].configuration.authentication.password');
    expect(secret).toMatch(/got a number/);
    expect(secret).not.toContain('987654321');
    expect((await validateFlow(flowOf([http('a', { authentication: { type: 'apiKey', headerValue: 'sk_live_123' } })]))).errors[0]!.message).not.toContain('sk_live_123');
  });
});

describe('validateFlow: warnings', () => {
  it('POSSIBLE_LITERAL_SECRET: token, key, sig or signature with a literal of 16 characters or more, in a query or a body; valid anyway', async () => {
    const r = await validateFlow(
      flowOf(
        [
          http('a', { url: 'https://api.example.com/x?token=0123456789abcdef&key=short&sig=AbCdEfGhIjKlMnOpQr' }, { next: 'b' }),
          http('b', { method: 'POST', body: { signature: 'deadbeefdeadbeefdeadbeef', key: 'customer-id', Token: '{{ t }}' } }, { next: 'c' }),
          http('c', { url: 'https://api.example.com/x?token={{t}}&keyword=0123456789abcdef0123' }),
        ],
        { inputs: ['t'] },
      ),
    );
    expect(r.valid).toBe(true);
    expect(r.warnings.map((w) => `${w.code} ${w.path}`)).toEqual(['POSSIBLE_LITERAL_SECRET steps[0].configuration.url', 'POSSIBLE_LITERAL_SECRET steps[0].configuration.url', 'POSSIBLE_LITERAL_SECRET steps[1].configuration.body.signature']);
    expect(r.warnings.map((w) => w.message.split(' has ')[0])).toEqual(["query parameter 'token'", "query parameter 'sig'", "body field 'signature'"]);
    expect(JSON.stringify(r.warnings)).not.toContain('0123456789abcdef');
  });

  it('UNREACHABLE_STEP', async () => {
    const r = await codes(flowOf([end('a'), end('b')]));
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual(['UNREACHABLE_STEP steps[1]']);
  });
  it('UNSET_VARIABLE: read but never set; inputs, built-ins and step outputs count as set', async () => {
    const r = await codes(
      flowOf(
        [
          http('a', { url: 'https://api.example.com/{{account}}?p={{phone}}', headers: { 'X-Request-Id': '{{flow_execution_id}}' }, responseMapping: { tier: '$.tier' } }, { next: 'b' }),
          { id: 'b', type: 'Condition', configuration: { conditions: [{ expression: "tier == 'GOLD' && http_status_code == 200 && mystery", nextStepId: 'a' }] } },
        ],
        { inputs: ['account'] },
      ),
    );
    expect(r.warnings.sort()).toEqual(['UNSET_VARIABLE steps[0].configuration.url', 'UNSET_VARIABLE steps[1].configuration.conditions[0].expression'].sort());
  });
  it('UNRESTRICTED_HOST: the host comes from a value and the flow sets no allowedHosts', async () => {
    const steps = [http('a', { url: '{{base}}/x' }, { next: 'b' }), http('b', { url: 'https://{{host}}/x' }, { next: 'c' }), http('c', { url: 'https://api.example.com/{{path}}?q={{q}}' })];
    const r = await validateFlow(flowOf(steps, { inputs: ['base', 'host', 'path', 'q'] }));
    expect(r.valid).toBe(true);
    expect(r.warnings.map((w) => `${w.code} ${w.path}`)).toEqual(['UNRESTRICTED_HOST steps[0].configuration.url', 'UNRESTRICTED_HOST steps[1].configuration.url']);
    expect(r.warnings[0]!.message).toMatch(/\{\{base\}\}\/x.*any public host.*allowedHosts/);
    expect((await codes(flowOf(steps, { inputs: ['base', 'host', 'path', 'q'], allowedHosts: ['*.example.com'] }))).warnings).toEqual([]);
  });
});
