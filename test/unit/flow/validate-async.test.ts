/**
 * validateFlow and async HTTPRequest steps: `{{callback_url}}` is a variable the async step provides
 * to its own templates (StepAnalysis `locals`), `async` is checked like the rest of the
 * configuration (bounds, unknown keys, callbackMapping sources), callbackMapping keys are variables
 * the step sets; and a URL that is a path is valid only on a connection's baseUrl.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '#shared/errors';
import { validateFlow, type ValidateOptions, type ValidationResult } from '#shared/flow/validate';
import { connections, flowOf } from '../../support/flows';

const http = (id: string, configuration: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'HTTPRequest', configuration: { url: 'https://api.crm.example.com/v2/jobs', ...configuration }, ...extra });
const assign = (id: string, variables: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'DataAPI', configuration: { operation: 'assign', variables }, ...extra });
const end = (id: string, configuration: Record<string, unknown> = {}) => ({ id, type: 'End', configuration });

const where = (list: Diagnostic[]) => list.map((d) => `${d.code} ${d.path}`);
const unset = (r: ValidationResult) => r.warnings.filter((w) => w.code === 'UNSET_VARIABLE');

const CRM = { crm: { hosts: ['api.crm.example.com'], requests: [] } };
const OPTIONS: ValidateOptions = { allowPrivateHosts: true };

describe('validateFlow: {{callback_url}} is provided by an async HTTPRequest to its own templates', () => {
  it('read in the URL query, a header and a JSON body leaf: no UNSET_VARIABLE warning, valid', async () => {
    const r = await validateFlow(
      flowOf([
        http('start', {
          method: 'POST',
          url: 'https://api.crm.example.com/v2/jobs?notify={{callback_url}}',
          headers: { 'X-Callback-Url': '{{callback_url}}', 'X-Tenant': 'acme' },
          body: { callback: { url: '{{ callback_url }}' }, list: ['{{callback_url}}'] },
          async: { maxWaitMs: 60000 },
        }),
      ]),
      OPTIONS,
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.flow!.steps[0]!.configuration).toMatchObject({ async: { maxWaitMs: 60000 } });
  });

  it('read in a string body template: no warning', async () => {
    const r = await validateFlow(flowOf([http('start', { method: 'POST', body: '{"callback": "{{callback_url}}", "n": 1}', async: {} })]), OPTIONS);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });

  it('async: {} takes the default maxWaitMs, 120000', async () => {
    const r = await validateFlow(flowOf([http('start', { url: 'https://api.crm.example.com/v2/jobs?cb={{callback_url}}', async: {} })]), OPTIONS);
    expect(r.valid).toBe(true);
    expect(r.flow!.steps[0]!.configuration).toMatchObject({ async: { maxWaitMs: 120000 } });
  });

  it('a step without async reading it gets UNSET_VARIABLE (in the URL, a header or the body)', async () => {
    const inUrl = await validateFlow(flowOf([http('a', { url: 'https://api.crm.example.com/v2/jobs?cb={{callback_url}}' })]), OPTIONS);
    expect(where(unset(inUrl))).toEqual(['UNSET_VARIABLE steps[0].configuration.url']);
    expect(unset(inUrl)[0]!.message).toContain("'callback_url'");
    const inHeader = await validateFlow(flowOf([http('a', { headers: { 'X-Callback': '{{callback_url}}' } })]), OPTIONS);
    expect(where(unset(inHeader))).toEqual(['UNSET_VARIABLE steps[0].configuration.headers.X-Callback']);
    const inBody = await validateFlow(flowOf([http('a', { method: 'POST', body: { cb: '{{callback_url}}' } })]), OPTIONS);
    expect(where(unset(inBody))).toEqual(['UNSET_VARIABLE steps[0].configuration.body.cb']);
  });

  it('callback_url is local to the async step: another step reading it, before or after, is warned about', async () => {
    const r = await validateFlow(
      flowOf([
        http('async', { url: 'https://api.crm.example.com/v2/jobs?cb={{callback_url}}', async: {} }, { next: 'copy' }),
        assign('copy', { cb: '{{callback_url}}' }, { next: 'plain' }),
        http('plain', { url: 'https://api.crm.example.com/v2/status?cb={{callback_url}}' }),
      ]),
      OPTIONS,
    );
    expect(r.errors).toEqual([]);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[1].configuration.variables.cb']);
  });

  it('other unset variables next to callback_url in an async step are still reported', async () => {
    const r = await validateFlow(flowOf([http('a', { method: 'POST', body: { cb: '{{callback_url}}', account: '{{account}}' }, async: {} })]), OPTIONS);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[0].configuration.body.account']);
    expect(unset(r)[0]!.message).toContain("'account'");
  });

  it('a `when` expression of an async step reading callback_url is warned about (it is not set there at run time)', async () => {
    const r = await validateFlow(flowOf([http('a', { url: 'https://api.crm.example.com/v2/jobs?cb={{callback_url}}', when: 'callback_url != null', async: {} })]), OPTIONS);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[0].configuration.when']);
  });

  it('a circuitBreaker.key of an async step reading callback_url is warned about (it is not set there at run time)', async () => {
    const r = await validateFlow(flowOf([http('a', { url: 'https://api.crm.example.com/v2/jobs?cb={{callback_url}}', circuitBreaker: { key: 'jobs-{{callback_url}}' }, async: {} })]), OPTIONS);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[0].configuration.circuitBreaker.key']);
  });
});

describe('validateFlow: the async object', () => {
  it('maxWaitMs 120001 and 999 are OUT_OF_BOUNDS at steps[i].configuration.async.maxWaitMs', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { maxWaitMs: 120001 } }, { next: 'b' }), http('b', { async: { maxWaitMs: 999 } })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(where(r.errors)).toEqual(['OUT_OF_BOUNDS steps[0].configuration.async.maxWaitMs', 'OUT_OF_BOUNDS steps[1].configuration.async.maxWaitMs']);
    expect(r.errors[0]!.message).toMatch(/120001.*too big.*120000/);
    expect(r.errors[1]!.message).toMatch(/999.*too small.*1000/);
  });

  it('the bounds themselves (1000, 120000) are valid', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { maxWaitMs: 1000 } }, { next: 'b' }), http('b', { async: { maxWaitMs: 120000 } })]), OPTIONS);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('a maxWaitMs that is not an integer is an error at the same path', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { maxWaitMs: 1500.5 } }, { next: 'b' }), http('b', { async: { maxWaitMs: '60000' } })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.path)).toEqual(['steps[0].configuration.async.maxWaitMs', 'steps[1].configuration.async.maxWaitMs']);
  });

  it('an unknown key inside async is UNKNOWN_KEY', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { maxWaitMs: 5000, pollEveryMs: 100 } })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(where(r.errors)).toEqual(['UNKNOWN_KEY steps[0].configuration.async.pollEveryMs']);
  });

  it('async that is not an object is INVALID_VALUE', async () => {
    const r = await validateFlow(flowOf([http('a', { async: true })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(where(r.errors)).toEqual(['INVALID_VALUE steps[0].configuration.async']);
  });

  it('a bad expression in async.callbackMapping.x is BAD_EXPRESSION at that path; a bad JSONPath is BAD_JSONPATH', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { callbackMapping: { x: 'status ==', ok: '$.status', y: '$..[' } } })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(where(r.errors)).toEqual(['BAD_EXPRESSION steps[0].configuration.async.callbackMapping.x', 'BAD_JSONPATH steps[0].configuration.async.callbackMapping.y']);
  });

  it('a callbackMapping key that is not a variable name is an error', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { callbackMapping: { 'not a name': '$.x' } } })]), OPTIONS);
    expect(r.valid).toBe(false);
    expect(r.errors.every((e) => e.path.startsWith('steps[0].configuration.async.callbackMapping'))).toBe(true);
  });

  it('callbackMapping keys are variables the step sets: a later step reading them gets no UNSET_VARIABLE', async () => {
    const r = await validateFlow(
      flowOf([
        http('hold', { method: 'POST', body: { cb: '{{callback_url}}' }, async: { callbackMapping: { balance: '$.balance', approved: "$.status == 'OK'" } }, responseMapping: { ticket: '$.id' } }, { next: 'say' }),
        assign('say', { message: 'Balance {{balance}}, approved {{approved}}, ticket {{ticket}}, status {{http_status_code}}' }, { next: 'done' }),
        end('done', { outputs: { balance: '{{balance}}' } }),
      ]),
      OPTIONS,
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.valid).toBe(true);
  });

  it('without the mapping, the same read is UNSET_VARIABLE', async () => {
    const r = await validateFlow(flowOf([http('hold', { async: {} }, { next: 'say' }), assign('say', { message: 'Balance {{balance}}' })]), OPTIONS);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[1].configuration.variables.message']);
  });

  it('OnTimeout is a branch of HTTPRequest (the async timeout branch)', async () => {
    const r = await validateFlow(flowOf([http('a', { async: { maxWaitMs: 30000 } }, { branches: { OnSuccess: 'ok', OnTimeout: 'late' } }), end('ok'), end('late', { status: 'FAILED' })]), OPTIONS);
    expect(r.errors).toEqual([]);
  });
});

describe('validateFlow: a URL that is a path, on a connection', () => {
  it("'/v1/x' with authentication.connection is valid, and the connection is looked up", async () => {
    const store = connections(CRM);
    const r = await validateFlow(flowOf([http('a', { url: '/v1/x', authentication: { connection: 'crm' } })]), { ...OPTIONS, connection: store.connection });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.valid).toBe(true);
    expect(store.names).toEqual(['crm']);
  });

  it('a path with templates and callback_url on a connection: variables are checked, callback_url is local', async () => {
    const store = connections(CRM);
    const r = await validateFlow(flowOf([http('a', { url: '/v1/accounts/{{account}}/hold?cb={{callback_url}}&t={{tenant}}', authentication: { connection: 'crm' }, async: {} })], { inputs: ['account'] }), {
      ...OPTIONS,
      connection: store.connection,
    });
    expect(r.errors).toEqual([]);
    expect(where(unset(r))).toEqual(['UNSET_VARIABLE steps[0].configuration.url']);
    expect(unset(r)[0]!.message).toContain("'tenant'");
  });

  it('a bad template in a path on a connection is BAD_EXPRESSION at url', async () => {
    const r = await validateFlow(flowOf([http('a', { url: '/v1/{{ a + }}', authentication: { connection: 'crm' } })]), { ...OPTIONS, ...connections(CRM) });
    expect(where(r.errors)).toEqual(['BAD_EXPRESSION steps[0].configuration.url']);
  });

  it('a path on a connection that does not exist is MISSING_CONNECTION', async () => {
    const store = connections(CRM);
    const r = await validateFlow(flowOf([http('a', { url: '/v1/x', authentication: { connection: 'erp' } })]), { ...OPTIONS, connection: store.connection });
    expect(where(r.errors)).toEqual(['MISSING_CONNECTION steps[0].configuration.authentication.connection']);
    expect(store.names).toEqual(['erp']);
  });

  it("'/v1/x' without a connection is BAD_URL (no authentication, or another form)", async () => {
    for (const extra of [{}, { authentication: { type: 'none' } }, { authentication: { type: 'apiKey', headerValue: '{{key}}' } }]) {
      const r = await validateFlow(flowOf([http('a', { url: '/v1/x', ...extra })], { inputs: ['key'] }), { ...OPTIONS, ...connections(CRM) });
      expect(where(r.errors), JSON.stringify(extra)).toEqual(['BAD_URL steps[0].configuration.url']);
      expect(r.valid).toBe(false);
    }
  });

  it('a path that does not start with / is BAD_URL even on a connection', async () => {
    const r = await validateFlow(flowOf([http('a', { url: 'v1/x', authentication: { connection: 'crm' } })]), { ...OPTIONS, ...connections(CRM) });
    expect(where(r.errors)).toEqual(['BAD_URL steps[0].configuration.url']);
  });
});
