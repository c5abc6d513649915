import { describe, expect, it } from 'vitest';
import { BudgetExceededError, ExpressionError, TemplateError } from '#shared/errors';
import { compileTemplate, jsonTemplateProblem, renderHeader, renderJsonText, renderJsonValue, renderText, renderUrl, renderValue } from '#shared/expressions/template';

const tricky = `a"b'c{d}e\\f&g+h#i\nj`;

describe('templates: text', () => {
  it('renders values as text, null as empty', () => {
    expect(renderText('Hi {{name}}, {{missing}}!', { name: 'Dana' })).toBe('Hi Dana, !');
    expect(renderText('{{obj}}', { obj: { a: 1 } })).toBe('{"a":1}');
  });
  it('keeps the type when the whole string is one reference', () => {
    expect(renderValue('{{n}}', { n: 5 })).toBe(5);
    expect(renderValue('{{ obj }}', { obj: { a: 1 } })).toEqual({ a: 1 });
    expect(renderValue('n={{n}}', { n: 5 })).toBe('n=5');
  });
  it('finds }} only outside quotes', () => {
    expect(renderText("{{ x == '}}' ? 'yes' : 'no' }}", { x: '}}' })).toBe('yes');
  });
  it('rejects unclosed and empty references at compile time', () => {
    expect(() => compileTemplate('a {{ b')).toThrow(ExpressionError);
    expect(() => compileTemplate('a {{ }} b')).toThrow(ExpressionError);
  });
});

describe('templates: URL', () => {
  it('percent-encodes values in path and query', () => {
    const { url } = renderUrl('https://api.example.com/v2/accounts/{{id}}?phone={{p}}&q={{t}}', { id: 'a/b c', p: '+12125551234', t: tricky });
    expect(url.pathname).toBe('/v2/accounts/a%2Fb%20c');
    expect(url.searchParams.get('phone')).toBe('+12125551234');
    expect(url.searchParams.get('q')).toBe(tricky);
    expect([...url.searchParams.keys()]).toEqual(['phone', 'q']);
    expect(url.hash).toBe('');
  });
  it('inserts a base URL in the origin position as is', () => {
    expect(renderUrl('{{base}}/v1/tickets', { base: 'http://127.0.0.1:8080' }).url.href).toBe('http://127.0.0.1:8080/v1/tickets');
  });
  it('refuses non-http schemes, credentials and garbage', () => {
    expect(() => renderUrl('{{base}}/x', { base: 'file:///etc' })).toThrow(TemplateError);
    expect(() => renderUrl('{{base}}/x', { base: 'http://user:pw@example.com' })).toThrow(TemplateError);
    expect(() => renderUrl('{{base}}/x', { base: null })).toThrow(TemplateError);
  });
  it('a value can never change a literal host', () => {
    expect(() => renderUrl('https://api.example.com{{path}}', { path: '.evil.example' })).toThrow(/change the host/);
    for (const path of ['@evil.example/x', '/v2/x', '#x']) expect(() => renderUrl('https://api.example.com{{path}}', { path })).toThrow(TemplateError);
    expect(renderUrl('https://api.example.com/{{path}}', { path: '@evil.example/x' }).url.hostname).toBe('api.example.com');
    expect(() => renderUrl('https://api.{{region}}.example.com/x', { region: 'eu/evil.example#' })).toThrow(TemplateError);
    expect(renderUrl('https://api.{{region}}.example.com/x', { region: 'eu.evil.example' }).url.hostname).toBe('api.eu.evil.example.example.com');
    expect(() => renderUrl('https://{{host}}.example.com/x', { host: 'evil.example/' })).toThrow(TemplateError);
    expect(renderUrl('https://api.example.com:{{port}}/x', { port: 8443 }).url.port).toBe('8443');
    expect(renderUrl('https://{{host}}/x', { host: 'crm.example.com' }).url.hostname).toBe('crm.example.com');
  });
  it('refuses dot segments, which would send the request to another path', () => {
    for (const id of ['..', '.']) expect(() => renderUrl('https://api.example.com/v2/accounts/{{id}}/tickets', { id })).toThrow(/segment/);
    // Encoded, '%2e' is no longer a dot: it stays inside its segment.
    expect(renderUrl('https://api.example.com/v2/accounts/{{id}}/tickets', { id: '%2e%2e' }).url.pathname).toBe('/v2/accounts/%252e%252e/tickets');
    for (const base of ['https://api.example.com/v1/..', 'https://api.example.com/v1/%2E%2e', 'https://api.example.com\\v1\\..']) {
      expect(() => renderUrl('{{base}}/v2/accounts', { base })).toThrow(/segment/);
    }
    expect(renderUrl('https://api.example.com/v2/accounts/{{id}}', { id: '...' }).url.pathname).toBe('/v2/accounts/...');
  });
  it('gives the path shape: every run of characters that came from a value becomes {}', () => {
    const shape = (t: string, scope: Record<string, unknown>) => renderUrl(t, scope).pathShape;
    expect(shape('https://api.example.com/v2/accounts/{{id}}?q={{q}}', { id: '42', q: 'x' })).toBe('/v2/accounts/{}');
    expect(shape('https://api.example.com/v2/accounts/{{id}}{{suffix}}/x', { id: '42', suffix: 'y' })).toBe('/v2/accounts/{}/x');
    expect(shape('{{base}}/v2/accounts/{{id}}', { base: 'http://crm.example.com', id: 'a#b?c' })).toBe('/v2/accounts/{}');
    // A base URL that brings its own path (and pushes the template's path into the query) cannot borrow the template's circuit.
    expect(shape('{{base}}/v2/accounts/{{id}}', { base: 'http://crm.example.com/v1/tickets?', id: '1' })).toBe('{}');
    expect(shape('https://{{host}}/v2', { host: 'crm.example.com' })).toBe('/v2');
    expect(shape('https://api.example.com', {})).toBe('/');
  });
});

describe('templates: header values', () => {
  it('refuses characters HTTP does not allow in a field value, naming the code point', () => {
    for (const bad of ['a\r\nX-Injected: 1', 'nul\0', 'bell\u0007', 'del\u007f', 'snow ☃', 'emoji 😀']) {
      expect(() => renderHeader('X-Caller', '{{v}}', { v: bad })).toThrow(TemplateError);
    }
    expect(() => renderHeader('X-Caller', '{{v}}', { v: 'snow ☃' })).toThrow(/U\+2603/);
    expect(renderHeader('X-Caller', '{{v}}', { v: "Zoë\tO'Brien" })).toBe("Zoë\tO'Brien");
  });
});

describe('templates: budgets', () => {
  it('refuses a rendered text, URL or JSON body past 64 KiB before building it', () => {
    const big = 'x'.repeat(40 * 1024);
    expect(() => renderText('{{a}}{{a}}', { a: big })).toThrow(BudgetExceededError);
    expect(() => renderUrl('https://api.example.com/{{a}}/{{a}}', { a: big })).toThrow(BudgetExceededError);
    expect(() => renderJsonText('["{{a}}", "{{a}}"]', { a: big })).toThrow(BudgetExceededError);
    expect(() => renderJsonValue({ one: '{{a}}', two: '{{a}}' }, { a: big })).toThrow(BudgetExceededError);
    expect(renderJsonValue({ one: '{{a}}' }, { a: big })).toEqual({ one: big });
  });
  it('finds a JSON string template that can never render to JSON, without values', () => {
    expect(jsonTemplateProblem('{"phone": "{{p}}", "n": {{n}}, {{k}}: 1, "list": [{{a}}, {{b}}]}')).toBeUndefined();
    expect(jsonTemplateProblem('{"phone": "{{p}}", "n": {{n}}')).toMatch(/JSON|Expected|end/i);
    expect(jsonTemplateProblem('{"phone": {{p}}}}')).toBeDefined();
  });
});

describe('templates: JSON string body', () => {
  const body = '{"account_id": "{{id}}", "note": "{{note}}", "count": {{n}}, "tags": {{tags}}}';
  it('JSON-escapes values inside strings and writes typed values outside', () => {
    const text = renderJsonText(body, { id: 'ACC-1', note: tricky, n: 3, tags: ['a', 'b'] });
    expect(JSON.parse(text)).toEqual({ account_id: 'ACC-1', note: tricky, count: 3, tags: ['a', 'b'] });
  });
  it('an injection attempt stays inside its string', () => {
    const text = renderJsonText('{"a": "{{x}}", "admin": false}', { x: '", "admin": true, "z": "' });
    expect(JSON.parse(text)).toEqual({ a: '", "admin": true, "z": "', admin: false });
  });
  it('null outside a string is null, inside is empty', () => {
    expect(JSON.parse(renderJsonText('{"a": {{x}}, "b": "{{x}}"}', {}))).toEqual({ a: null, b: '' });
  });
  it('a template that cannot make JSON fails before sending, naming the problem', () => {
    expect(() => renderJsonText('{"a": {{x}}', { x: 1 })).toThrow(/body is not valid JSON after rendering/);
  });
  it('a CRM ticket body renders', () => {
    const guide = '{"account_id": "{{customer_profile.id}}", "phone": "{{formatted_phone}}", "priority": "{{loyalty_tier == \'PLATINUM\' ? \'HIGH\' : \'NORMAL\'}}", "source": "IVR_AUTO"}';
    expect(JSON.parse(renderJsonText(guide, { customer_profile: { id: 'ACC-1' }, formatted_phone: '+12125551234', loyalty_tier: 'PLATINUM' }))).toEqual({
      account_id: 'ACC-1',
      phone: '+12125551234',
      priority: 'HIGH',
      source: 'IVR_AUTO',
    });
  });
});

describe('templates: JSON object body and headers', () => {
  it('renders leaf by leaf, exact references keep their type', () => {
    expect(renderJsonValue({ a: '{{n}}', b: ['x{{n}}', { c: '{{obj}}' }], d: 4, e: tricky }, { n: 2, obj: { k: true } })).toEqual({ a: 2, b: ['x2', { c: { k: true } }], d: 4, e: tricky });
  });
  it('refuses header values with line breaks (header injection)', () => {
    expect(() => renderHeader('X-Id', '{{v}}', { v: 'a\r\nX-Admin: 1' })).toThrow(TemplateError);
    expect(renderHeader('X-Id', 'id-{{v}}', { v: 'a&b' })).toBe('id-a&b');
  });
});
