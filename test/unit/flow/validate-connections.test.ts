/**
 * validateFlow: variables bound to secrets (SECRET_MISUSE, SECRET_VARIABLE_CONFLICT, UNBOUND_SECRET),
 * connection references checked through the `connection` callback (MISSING_CONNECTION,
 * UNKNOWN_REQUEST, HOST_NOT_ALLOWED), and messages about authentication that never echo a secret.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '#shared/errors';
import { validateFlow, type ValidateOptions, type ValidationResult } from '#shared/flow/validate';
import { connections, flowOf } from '../../support/flows';

const http = (id: string, configuration: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'HTTPRequest', configuration: { url: 'https://api.crm.example.com/v2/accounts', ...configuration }, ...extra });
const hub = (id: string, configuration: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'IntegrationHubExecute',
  configuration: { connectName: 'crm', requestName: 'getAccount', ...configuration },
  ...extra,
});
const assign = (id: string, variables: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ id, type: 'DataAPI', configuration: { operation: 'assign', variables }, ...extra });
const end = (id: string, configuration: Record<string, unknown> = {}) => ({ id, type: 'End', configuration });

/** Variables bound to secrets, as a flow declares them. */
const SECRETS = {
  api_token: { secretId: 'crm-api', key: 'token' },
  oauth_client_secret: { secretId: 'crm-oauth', key: 'clientSecret' },
  db_password: { secretId: 'db/credentials', key: 'password' },
};

const oauth2 = (clientSecret: unknown) => ({ type: 'oauth2', tokenEndpoint: 'https://auth.crm.example.com/oauth/token', clientId: 'ivr-client', clientSecret, scopes: ['accounts.read'] });

const where = (list: Diagnostic[]) => list.map((d) => `${d.code} ${d.path}`);
const withCode = (r: ValidationResult, code: string) => r.errors.filter((e) => e.code === code);

/** No diagnostic (error or warning) of `r` contains any of `values`. */
function expectNotShown(r: ValidationResult, ...values: string[]) {
  for (const d of [...r.errors, ...r.warnings]) for (const v of values) expect(d.message, `${d.code} ${d.path}`).not.toContain(v);
}

const CRM = { crm: { hosts: ['api.crm.example.com', '*.eu.crm.example.com'], requests: ['getAccount', 'updateAccount'] } };

describe('validateFlow: variables bound to secrets', () => {
  it('accepts bound secrets read in headers, basic, apiKey and inline oauth2 authentication, with no UNSET_VARIABLE warning', async () => {
    const r = await validateFlow(
      flowOf(
        [
          http('headers', { headers: { Authorization: 'Bearer {{api_token}}', 'X-Tenant': '{{tenant}}', 'X-Signature': 'sig={{ api_token }}' } }, { next: 'oauth' }),
          http('oauth', { method: 'POST', body: { tenant: '{{tenant}}' }, authentication: oauth2('{{ oauth_client_secret }}') }, { next: 'oauth-compact' }),
          http('oauth-compact', { authentication: { ...oauth2('{{oauth_client_secret}}'), clientId: '{{ api_token }}', clientAuthentication: 'body' } }, { next: 'basic' }),
          http('basic', { authentication: { type: 'basic', username: 'svc-ivr', password: '{{ db_password }}' } }, { next: 'apikey' }),
          http('apikey', { authentication: { type: 'apiKey', headerName: 'X-Api-Key', headerValue: '{{api_token}}' } }, { next: 'done' }),
          end('done'),
        ],
        { inputs: ['tenant'], secrets: SECRETS },
      ),
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.flow?.secrets).toEqual(SECRETS);
  });

  describe('SECRET_MISUSE: a bound variable read anywhere but authentication fields and headers', () => {
    const misuse = async (steps: unknown[], extra: Record<string, unknown> = {}) => {
      const r = await validateFlow(flowOf(steps, { secrets: SECRETS, ...extra }));
      expect(r.valid).toBe(false);
      return r;
    };

    it('in an HTTPRequest URL (path and query)', async () => {
      const r = await misuse([http('a', { url: 'https://api.crm.example.com/v2/accounts?access_token={{api_token}}' }), http('b', { url: 'https://api.crm.example.com/{{ db_password }}/x' })]);
      expect(where(r.errors)).toEqual(['SECRET_MISUSE steps[0].configuration.url', 'SECRET_MISUSE steps[1].configuration.url']);
      expect(r.errors[0]!.message).toBe("variable 'api_token' is bound to a secret: it may be used only in authentication fields and headers");
      expect(r.errors[1]!.message).toContain("'db_password'");
    });

    it('in an HTTPRequest body: a JSON value (at the leaf) or a string template', async () => {
      const r = await misuse([
        http('a', { method: 'POST', body: { account: { credentials: ['x', '{{api_token}}'] } } }),
        http('b', { method: 'POST', body: '{"password": "{{db_password}}"}' }),
        http('c', { method: 'POST', body: { safe: 'literal', tenant: '{{ flow_id }}' } }),
      ]);
      expect(where(r.errors)).toEqual(['SECRET_MISUSE steps[0].configuration.body.account.credentials[1]', 'SECRET_MISUSE steps[1].configuration.body']);
      expect(r.errors[0]!.message).toContain("'api_token'");
      expect(r.errors[1]!.message).toContain("'db_password'");
    });

    it('in a `when` expression, with or without {{ }}', async () => {
      const r = await misuse([http('a', { when: "api_token != ''" }), hub('b', { when: "{{oauth_client_secret}} == 'x'" })]);
      expect(where(r.errors)).toEqual(['SECRET_MISUSE steps[0].configuration.when', 'SECRET_MISUSE steps[1].configuration.when']);
      expect(r.errors[0]!.message).toContain("'api_token'");
      expect(r.errors[1]!.message).toContain("'oauth_client_secret'");
    });

    it('in a DataAPI assign, evaluate and validate', async () => {
      const r = await misuse([
        assign('a', { copy: '{{api_token}}', nested: { list: ['{{ db_password }}'] } }),
        { id: 'b', type: 'DataAPI', configuration: { operation: 'evaluate', expression: 'length(oauth_client_secret) > 0' } },
        { id: 'c', type: 'DataAPI', configuration: { operation: 'validate', input: 'api_token', schema: { type: 'string' } } },
      ]);
      expect(where(r.errors)).toEqual([
        'SECRET_MISUSE steps[0].configuration.variables.copy',
        'SECRET_MISUSE steps[0].configuration.variables.nested.list[0]',
        'SECRET_MISUSE steps[1].configuration.expression',
        'SECRET_MISUSE steps[2].configuration.input',
      ]);
    });

    it('in a Condition, an End output, a SubFlow pass-through and an IntegrationHubExecute payload', async () => {
      const r = await misuse([
        {
          id: 'cond',
          type: 'Condition',
          configuration: {
            conditions: [
              { expression: 'true', nextStepId: 'end' },
              { expression: "startsWith(api_token, 'sk_')", nextStepId: 'end' },
            ],
          },
        },
        end('end', { outputs: { leaked: 'token={{ api_token }}' } }),
        { id: 'sub', type: 'SubFlow', configuration: { flowId: 'child', passThroughVariables: ['account', 'db_password'] } },
        hub('hub-object', { requestPayload: { id: '{{account}}', secret: '{{oauth_client_secret}}' } }),
        hub('hub-text', { requestPayload: '{"token": "{{api_token}}"}' }),
      ]);
      expect(where(r.errors)).toEqual([
        'SECRET_MISUSE steps[0].configuration.conditions[1].expression',
        'SECRET_MISUSE steps[1].configuration.outputs.leaked',
        'SECRET_MISUSE steps[2].configuration.passThroughVariables[1]',
        'SECRET_MISUSE steps[3].configuration.requestPayload.secret',
        'SECRET_MISUSE steps[4].configuration.requestPayload',
      ]);
    });

    it('one error per variable and place; other variables in the same template are not errors', async () => {
      const r = await misuse([http('a', { url: 'https://api.crm.example.com/x?a={{api_token}}&b={{api_token}}&c={{db_password}}&d={{flow_id}}' })]);
      expect(r.errors.map((e) => `${e.code} ${e.path} ${e.message.split("'")[1]}`)).toEqual(['SECRET_MISUSE steps[0].configuration.url api_token', 'SECRET_MISUSE steps[0].configuration.url db_password']);
    });

    it('the same reads are fine for a variable that is not bound', async () => {
      const r = await validateFlow(
        flowOf([http('a', { url: 'https://api.crm.example.com/x?t={{api_token}}', when: "api_token != ''", body: { t: '{{api_token}}' }, method: 'POST' }, { next: 'b' }), assign('b', { copy: '{{api_token}}' })], {
          inputs: ['api_token'],
          secrets: { other_secret: { secretId: 'other', key: 'k' } },
        }),
      );
      expect(r.errors).toEqual([]);
    });

    it('in a circuit breaker key template (HTTPRequest and IntegrationHubExecute)', async () => {
      // The key is a template rendered from the run's variables (shared/http/call-pipeline.ts), so it is a read like any other.
      const r = await validateFlow(flowOf([http('a', { circuitBreaker: { key: 'crm-{{api_token}}' } }), hub('b', { circuitBreaker: { key: 'crm-{{db_password}}' } })], { secrets: SECRETS }));
      expect(where(r.errors)).toEqual(['SECRET_MISUSE steps[0].configuration.circuitBreaker.key', 'SECRET_MISUSE steps[1].configuration.circuitBreaker.key']);
    });
  });

  describe('SECRET_VARIABLE_CONFLICT: a bound variable that is also an input, an output, a session variable or set by a step', () => {
    it('inputs, outputs and session variables, reported at secrets.<name>', async () => {
      const r = await validateFlow(
        flowOf([end('a')], {
          secrets: SECRETS,
          inputs: ['phone', 'api_token'],
          outputs: ['db_password'],
          session: { key: '{{phone}}', variables: ['oauth_client_secret'] },
        }),
      );
      expect(where(r.errors)).toEqual(['SECRET_VARIABLE_CONFLICT secrets.api_token', 'SECRET_VARIABLE_CONFLICT secrets.db_password', 'SECRET_VARIABLE_CONFLICT secrets.oauth_client_secret']);
      expect(r.errors[0]!.message).toBe("variable 'api_token' is bound to a secret, so it cannot also be a built-in variable, an input, an output or a session variable");
      expect(r.errors[1]!.message).toContain("'db_password'");
      expect(r.errors[2]!.message).toContain("'oauth_client_secret'");
    });

    it('set by a step: DataAPI assign, an HTTP response mapping, an IntegrationHubExecute output, a SubFlow return, an End output', async () => {
      const r = await validateFlow(
        flowOf(
          [
            assign('a', { api_token: 'overwritten' }),
            http('b', { responseMapping: { db_password: '$.password' } }),
            hub('c', { requestBodyVarName: 'oauth_client_secret' }),
            { id: 'd', type: 'SubFlow', configuration: { flowId: 'child', returnVariables: ['api_token'] } },
            end('e', { outputs: { db_password: 'x' } }),
          ],
          { secrets: SECRETS },
        ),
      );
      expect(where(withCode(r, 'SECRET_VARIABLE_CONFLICT'))).toEqual([
        'SECRET_VARIABLE_CONFLICT steps[0].configuration',
        'SECRET_VARIABLE_CONFLICT steps[1].configuration',
        'SECRET_VARIABLE_CONFLICT steps[2].configuration',
        'SECRET_VARIABLE_CONFLICT steps[3].configuration',
        'SECRET_VARIABLE_CONFLICT steps[4].configuration',
      ]);
      expect(withCode(r, 'SECRET_VARIABLE_CONFLICT').map((e) => e.message)).toEqual([
        "the step sets 'api_token', a variable bound to a secret",
        "the step sets 'db_password', a variable bound to a secret",
        "the step sets 'oauth_client_secret', a variable bound to a secret",
        "the step sets 'api_token', a variable bound to a secret",
        "the step sets 'db_password', a variable bound to a secret",
      ]);
    });

    it('binding a variable every HTTPRequest sets (http_status_code) conflicts with each such step', async () => {
      const r = await validateFlow(flowOf([http('a', {}, { next: 'b' }), http('b', {})], { secrets: { http_status_code: { secretId: 'x', key: 'y' } } }));
      expect(where(r.errors)).toEqual(['SECRET_VARIABLE_CONFLICT steps[0].configuration', 'SECRET_VARIABLE_CONFLICT steps[1].configuration']);
    });

    it('none when bound variables are distinct from inputs, outputs, session variables and step outputs', async () => {
      const r = await validateFlow(
        flowOf([assign('a', { greeting: 'hi' }, { next: 'b' }), http('b', { headers: { Authorization: 'Bearer {{api_token}}' }, responseMapping: { tier: '$.tier' } })], {
          secrets: SECRETS,
          inputs: ['phone'],
          outputs: ['tier'],
          session: { key: '{{phone}}', variables: ['greeting'] },
        }),
      );
      expect(r.errors).toEqual([]);
    });
  });

  describe('UNBOUND_SECRET: an inline oauth2 clientSecret must be exactly {{ name }} of a bound variable', () => {
    it('accepts {{ name }} with or without spaces', async () => {
      for (const clientSecret of ['{{oauth_client_secret}}', '{{ oauth_client_secret }}', '{{   oauth_client_secret\t}}']) {
        const r = await validateFlow(flowOf([http('a', { authentication: oauth2(clientSecret) })], { secrets: SECRETS }));
        expect(r.errors, clientSecret).toEqual([]);
      }
    });

    it('refuses a reference to an input, an unknown variable, a path, an expression, or text around the reference', async () => {
      const values = ['{{ client_secret }}', '{{ nowhere }}', '{{ oauth_client_secret.value }}', "{{ oauth_client_secret + '' }}", 'x{{oauth_client_secret}}', '{{oauth_client_secret}} ', '{{a}}{{oauth_client_secret}}'];
      const r = await validateFlow(
        flowOf(
          values.map((v, i) => http(`s${i}`, { authentication: oauth2(v) })),
          { secrets: SECRETS, inputs: ['client_secret', 'a'] },
        ),
      );
      expect(where(withCode(r, 'UNBOUND_SECRET'))).toEqual(values.map((_, i) => `UNBOUND_SECRET steps[${i}].configuration.authentication.clientSecret`));
      expect(r.errors[0]!.message).toMatch(/^must be a \{\{ reference \}\} to a variable bound in the flow's secrets/);
    });

    it('a literal client secret is both LITERAL_SECRET and UNBOUND_SECRET, and is never shown', async () => {
      const r = await validateFlow(flowOf([http('a', { authentication: oauth2('s3cr3t-Literal-Value') })], { secrets: SECRETS }));
      expect(where(r.errors).sort()).toEqual(['LITERAL_SECRET steps[0].configuration.authentication.clientSecret', 'UNBOUND_SECRET steps[0].configuration.authentication.clientSecret']);
      expectNotShown(r, 's3cr3t-Literal-Value');
    });

    it('a flow without secrets cannot use inline oauth2', async () => {
      const r = await validateFlow(flowOf([http('a', { authentication: oauth2('{{ oauth_client_secret }}') })]));
      expect(where(r.errors)).toEqual(['UNBOUND_SECRET steps[0].configuration.authentication.clientSecret']);
    });

    it('only oauth2 client secrets must be bound: basic and apiKey may reference any variable', async () => {
      const r = await validateFlow(
        flowOf([http('a', { authentication: { type: 'basic', username: 'u', password: '{{ pw }}' } }, { next: 'b' }), http('b', { authentication: { type: 'apiKey', headerValue: '{{ key }}' } })], { inputs: ['pw', 'key'] }),
      );
      expect(r.errors).toEqual([]);
    });
  });

  describe('secret bindings', () => {
    it('a binding names a secret under flows/ only: reserved first segments, a leading /, empty, . and .. segments are refused', async () => {
      const r = await validateFlow(
        flowOf([end('a')], {
          secrets: {
            a: { secretId: 'connections/crm', key: 'clientSecret' },
            b: { secretId: 'tokens/crm', key: 'accessToken' },
            c: { secretId: 'callers/basic', key: 'password' },
            d: { secretId: 'flows/crm', key: 'k' },
            e: { secretId: '../callers/basic', key: 'password' },
            f: { secretId: 'crm/../../callers/basic', key: 'password' },
            g: { secretId: '/ivrflow/callers/basic', key: 'password' },
            h: { secretId: 'crm//x', key: 'k' },
            i: { secretId: './crm', key: 'k' },
            ok: { secretId: 'crm/connections/x', key: 'k' },
            ok2: { secretId: 'crm-oauth', key: 'k' },
          },
        }),
      );
      expect(where(r.errors)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((v) => `INVALID_VALUE secrets.${v}.secretId`));
      expect(r.errors[0]!.message).toMatch(/first segment may not be connections, tokens, flows, callers: a binding reaches <prefix>flows\/<secretId> only/);
      expect(r.errors[4]!.message).toMatch(/no leading \/, empty, \. or \.\. segments/);
    });

    it('a binding takes secretId and key only, and names a variable', async () => {
      const r = await validateFlow(flowOf([end('a')], { secrets: { ok: { secretId: 's', key: 'k', value: 'hunter2-inline' }, 'not a name': { secretId: 's', key: 'k' } } as never }));
      expect(where(r.errors).sort()).toEqual(['INVALID_VALUE secrets.not a name', 'UNKNOWN_KEY secrets.ok.value']);
      expectNotShown(r, 'hunter2-inline');
    });
  });
});

describe('validateFlow: connections, checked through the connection callback', () => {
  describe('MISSING_CONNECTION', () => {
    it('an HTTPRequest authentication connection and an IntegrationHubExecute connectName that do not exist', async () => {
      const store = connections(CRM);
      const r = await validateFlow(flowOf([http('a', { authentication: { connection: 'erp' } }), hub('b', { connectName: 'billing', requestName: 'nope' }), hub('c')]), { connection: store.connection });
      expect(where(r.errors)).toEqual(['MISSING_CONNECTION steps[0].configuration.authentication.connection', 'MISSING_CONNECTION steps[1].configuration.connectName']);
      expect(r.errors.map((e) => e.message)).toEqual(["connection 'erp' does not exist", "connection 'billing' does not exist"]);
      expect(store.names).toEqual(['erp', 'billing', 'crm']);
    });

    it('steps that exist are valid', async () => {
      const store = connections(CRM);
      const r = await validateFlow(flowOf([http('a', { authentication: { connection: 'crm' } }, { next: 'b' }), hub('b', { requestName: 'updateAccount', requestPayload: { id: '{{account}}' } })], { inputs: ['account'] }), {
        connection: store.connection,
      });
      expect(r.errors).toEqual([]);
      expect(r.valid).toBe(true);
    });

    it('without the callback, no connection is checked', async () => {
      const r = await validateFlow(flowOf([http('a', { url: 'https://evil.example.net/x', authentication: { connection: 'erp' } }, { next: 'b' }), hub('b', { connectName: 'billing', requestName: 'deleteEverything' })]));
      expect(r.errors).toEqual([]);
      expect(r.valid).toBe(true);
    });

    it('what the callback throws is thrown by validateFlow', async () => {
      const failing: ValidateOptions['connection'] = () => Promise.reject(new Error('connection store down'));
      await expect(validateFlow(flowOf([hub('a')]), { connection: failing })).rejects.toThrow('connection store down');
    });
  });

  describe('UNKNOWN_REQUEST: an IntegrationHubExecute requestName the connection does not define', () => {
    it('names the connection, the request and the known requests', async () => {
      const r = await validateFlow(flowOf([hub('a', { requestName: 'deleteAll' })]), connections(CRM));
      expect(r.errors).toEqual([{ code: 'UNKNOWN_REQUEST', path: 'steps[0].configuration.requestName', message: "connection 'crm' has no request 'deleteAll'; its requests: 'getAccount', 'updateAccount'" }]);
    });

    it('a connection with no requests', async () => {
      const r = await validateFlow(flowOf([hub('a')]), connections({ crm: { hosts: ['api.crm.example.com'], requests: [] } }));
      expect(r.errors).toEqual([{ code: 'UNKNOWN_REQUEST', path: 'steps[0].configuration.requestName', message: "connection 'crm' has no request 'getAccount'; it defines no requests" }]);
    });

    it('request names are compared exactly (case matters)', async () => {
      expect(where((await validateFlow(flowOf([hub('a', { requestName: 'GetAccount' })]), connections(CRM))).errors)).toEqual(['UNKNOWN_REQUEST steps[0].configuration.requestName']);
      expect((await validateFlow(flowOf([hub('a', { requestName: 'getAccount' })]), connections(CRM))).errors).toEqual([]);
    });
  });

  describe("HOST_NOT_ALLOWED: an HTTPRequest authenticated by a connection, to a literal host outside the connection's hosts", () => {
    const withConnection = (url: string) => http('a', { url, authentication: { connection: 'crm' } });

    it('names the host and the connection', async () => {
      const r = await validateFlow(flowOf([withConnection('https://evil.example.net/v2/accounts')]), connections(CRM));
      expect(r.errors).toEqual([{ code: 'HOST_NOT_ALLOWED', path: 'steps[0].configuration.url', message: "host evil.example.net is not one of connection 'crm' hosts: 'api.crm.example.com', '*.eu.crm.example.com'" }]);
    });

    it('hosts on the list (exact, wildcard, any case, with a port, with templates after the host) pass', async () => {
      const urls = ['https://api.crm.example.com/v2/accounts/{{account}}', 'https://API.CRM.Example.com:8443/x?q={{account}}', 'https://fr.eu.crm.example.com/x', 'https://api.crm.example.com'];
      const r = await validateFlow(
        flowOf(
          urls.map((u, i) => http(`s${i}`, { url: u, authentication: { connection: 'crm' } })),
          { inputs: ['account'] },
        ),
        connections(CRM),
      );
      expect(r.errors).toEqual([]);
    });

    it('hosts off the list: a parent of a wildcard, a look-alike suffix, userinfo tricks', async () => {
      const urls = ['https://eu.crm.example.com/x', 'https://api.crm.example.com.evil.net/x', 'https://api.crm.example.com@evil.example.net/x', 'https://crm.example.com/x'];
      const r = await validateFlow(flowOf(urls.map((u, i) => http(`s${i}`, { url: u, authentication: { connection: 'crm' } }))), connections(CRM));
      // The userinfo trick is also refused as a URL carrying credentials.
      expect(where(r.errors)).toEqual([
        ...urls.map((_, i) => `HOST_NOT_ALLOWED steps[${i}].configuration.url`).slice(0, 2),
        'BAD_URL steps[2].configuration.url',
        'HOST_NOT_ALLOWED steps[2].configuration.url',
        'HOST_NOT_ALLOWED steps[3].configuration.url',
      ]);
      const hostErrors = r.errors.filter((e) => e.code === 'HOST_NOT_ALLOWED');
      expect(hostErrors.map((e) => e.message.split(' ')[1])).toEqual(['eu.crm.example.com', 'api.crm.example.com.evil.net', 'evil.example.net', 'crm.example.com']);
    });

    it('a host taken from a value is left to the run-time check (a warning when no allowedHosts)', async () => {
      const r = await validateFlow(flowOf([withConnection('{{base_url}}/v2/accounts')], { inputs: ['base_url'] }), connections(CRM));
      expect(r.errors).toEqual([]);
      expect(where(r.warnings)).toEqual(['UNRESTRICTED_HOST steps[0].configuration.url']);
      const templatedHost = await validateFlow(flowOf([withConnection('https://{{region}}.eu.crm.example.com/x')], { inputs: ['region'], allowedHosts: ['*.example.com'] }), connections(CRM));
      expect(templatedHost.errors).toEqual([]);
    });

    it('only steps authenticated by a connection are checked against its hosts', async () => {
      const r = await validateFlow(flowOf([http('a', { url: 'https://evil.example.net/x', authentication: { type: 'none' } })]), connections(CRM));
      expect(r.errors).toEqual([]);
    });

    it('without the callback, connection hosts are not checked; allowedHosts still are, separately', async () => {
      expect((await validateFlow(flowOf([withConnection('https://evil.example.net/x')]))).errors).toEqual([]);
      const r = await validateFlow(flowOf([withConnection('https://other.example.com/x')], { allowedHosts: ['*.example.com'] }), connections(CRM));
      expect(where(r.errors)).toEqual(['HOST_NOT_ALLOWED steps[0].configuration.url']);
      expect(r.errors[0]!.message).toMatch(/one of connection 'crm' hosts/);
      const both = await validateFlow(flowOf([withConnection('https://evil.example.org/x')], { allowedHosts: ['*.example.com'] }), connections(CRM));
      expect(both.errors.map((e) => e.message)).toEqual([expect.stringMatching(/is not in allowedHosts/), expect.stringMatching(/is not one of connection 'crm' hosts/)]);
    });
  });
});

describe('validateFlow: an authentication object that fits no form never echoes a secret', () => {
  const errorsOf = async (authentication: unknown) => validateFlow(flowOf([http('a', { authentication })]));

  it('a basic password of the wrong type: the type only', async () => {
    const r = await errorsOf({ type: 'basic', username: 'u', password: 12345678 });
    expect(r.errors).toEqual([{ code: 'INVALID_VALUE', path: 'steps[0].configuration.authentication.password', message: 'password must be a string, got a number (not shown: it may be a secret)' }]);
    expectNotShown(r, '12345678');
  });

  it('an empty object: fits none of its forms', async () => {
    const r = await errorsOf({});
    expect(r.errors).toEqual([{ code: 'INVALID_VALUE', path: 'steps[0].configuration.authentication', message: 'authentication fits none of its allowed forms; got an object' }]);
  });

  it('other credential fields of the wrong type: apiKey headerValue, oauth2 clientSecret', async () => {
    const apiKey = await errorsOf({ type: 'apiKey', headerValue: { key: 'sk_live_9f8e7d6c' } });
    expect(apiKey.errors).toEqual([{ code: 'INVALID_VALUE', path: 'steps[0].configuration.authentication.headerValue', message: 'headerValue must be a string, got an object (not shown: it may be a secret)' }]);
    expectNotShown(apiKey, 'sk_live_9f8e7d6c');
    const oauth = await errorsOf(oauth2(87654321));
    expect(where(oauth.errors)).toEqual(['INVALID_VALUE steps[0].configuration.authentication.clientSecret']);
    expectNotShown(oauth, '87654321');
  });

  it('a secret next to keys of no single form, or of two forms at once', async () => {
    for (const authentication of [
      { type: 'basic', username: 'u', password: 'pw-Literal-4242', extra: 1 },
      { connection: 'crm', password: 'pw-Literal-4242' },
      { connection: 'crm', type: 'basic', username: 'u', password: 'pw-Literal-4242' },
      { type: 'oauth2', tokenEndpoint: 'https://auth.example.com/t', clientId: 'c', clientSecret: 'pw-Literal-4242', token: 'pw-Literal-4242' },
      { type: 'magic', password: 'pw-Literal-4242' },
      ['pw-Literal-4242'],
      { type: 'basic', username: 'u', password: { nested: 'pw-Literal-4242' } },
    ]) {
      const r = await errorsOf(authentication);
      expect(r.valid, JSON.stringify(authentication)).toBe(false);
      expect(r.errors.every((e) => e.path.startsWith('steps[0].configuration.authentication'))).toBe(true);
      expectNotShown(r, 'pw-Literal-4242');
    }
  });

  it('a scalar in place of the authentication object (a pasted token, password or number) is not shown', async () => {
    for (const authentication of ['Bearer sk_live_51HxQ2eZvKYlo2C', 'hunter2-Pasted', 12345678]) {
      const r = await errorsOf(authentication);
      expect(where(r.errors)).toEqual(['INVALID_VALUE steps[0].configuration.authentication']);
      expectNotShown(r, String(authentication));
    }
  });

  it('a wrong-typed Authorization header is not shown either', async () => {
    const r = await validateFlow(flowOf([http('a', { headers: { Authorization: 55554444, 'X-Api-Key': ['k-77776666'] } })]));
    expect(where(r.errors)).toEqual(['INVALID_VALUE steps[0].configuration.headers.Authorization', 'INVALID_VALUE steps[0].configuration.headers.X-Api-Key']);
    expectNotShown(r, '55554444', 'k-77776666');
  });
});
