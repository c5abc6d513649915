import { describe, expect, it } from 'vitest';
import { ExpressionError } from '#shared/errors';
import { compileExpression, evaluate } from '#shared/expressions/evaluator';

const vars = {
  n: 7,
  s: '42',
  name: 'Dana',
  status: 503,
  nothing: null,
  list: [1, 2, 3],
  profile: { id: 'ACC-1', attributes: { tier: 'PLATINUM', tickets: 2 } },
  dtmf_input: '2125551234',
};

describe('evaluator: operators', () => {
  it.each([
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['n % 4', 3],
    ['10 / 4', 2.5],
    ['-n', -7],
    ['!true', false],
    ["'a' + 'b'", 'ab'],
    ["'id-' + n", 'id-7'],
    ["'x' + nothing", 'x'],
    ['n > 5 && n < 10', true],
    ['n > 10 || s', '42'],
    ['nothing ?? 5', 5],
    ['0 ?? 5', 0],
    ["n == 7 ? 'seven' : 'other'", 'seven'],
    ['s == 42', true],
    ['s === 42', false],
    ["'abc' < 'abd'", true],
    ['list.length', 3],
    ['list[1]', 2],
    ["profile['attributes'].tier", 'PLATINUM'],
    ['profile.attributes.tickets > 0', true],
    ['[1, n][1]', 7],
    ['1 / 0', null],
  ])('%s → %j', (source, expected) => {
    expect(evaluate(source, vars)).toEqual(expected);
  });

  it('comparisons with null are false both ways (a timed-out call is neither >= 500 nor < 500)', () => {
    expect(evaluate('nothing >= 500', vars)).toBe(false);
    expect(evaluate('nothing < 500', vars)).toBe(false);
    expect(evaluate('nothing == null', vars)).toBe(true);
  });
});

describe('evaluator: null-safety (the empty-array case)', () => {
  it.each([
    ['missing', null],
    ['missing.deep.path', null],
    ['list[10]', null],
    ['list[-1]', null],
    ['profile.nope.x', null],
    ['nothing.length', null],
    ['$.data[0]', null],
    ['$.data && $.data.length > 0 ? $.data[0] : null', null],
  ])('%s → null', (source, expected) => {
    expect(evaluate(source, { ...vars, $: { data: [] } })).toEqual(expected);
  });
});

describe('evaluator: {{ }} references', () => {
  it('is a variable reference outside quotes', () => {
    expect(evaluate('{{status}} >= 500', vars)).toBe(true);
  });
  it('is the text of the value inside quotes, never pasted code', () => {
    expect(evaluate("formatPhoneNumber('{{dtmf_input}}') + (validateE164('{{dtmf_input}}') ? '' : 'INVALID')", vars)).toBe('+12125551234');
    const hostile = { x: "') + process.exit(1) + ('" };
    expect(evaluate("'{{x}}'", hostile)).toBe(hostile.x);
    expect(evaluate("'<{{x}}>'", { x: 'a\'b"c\\d' })).toBe('<a\'b"c\\d>');
  });
});

describe('evaluator: functions', () => {
  const now = { now: () => 1_700_000_000_000 };
  it.each([
    ["formatPhoneNumber('(212) 555-1234')", '+12125551234'],
    ["formatPhoneNumber('020 7946 0958', 'GB')", '+442079460958'],
    ["formatPhoneNumber('123')", null],
    ['formatPhoneNumber(nothing)', null],
    ["validateE164('+12125551234')", true],
    ["validateE164('12345')", false],
    ["encodeUriComponent('a b&c=d#e+f')", 'a%20b%26c%3Dd%23e%2Bf'],
    ['parseJson(\'{"a":[1]}\').a[0]', 1],
    ["parseJson('not json')", null],
    ['toJson(list)', '[1,2,3]'],
    ['currentTimestamp()', 1_700_000_000_000],
    ['toUpperCase(name)', 'DANA'],
    ["trim('  x ')", 'x'],
    ["digitsOnly('21#2*5')", '2125'],
    ["substring('abcdef', 1, 3)", 'bc'],
    ["replaceAll('a-b-c', '-', '')", 'abc'],
    ['includes(list, 2)', true],
    ["split('a,b', ',')", ['a', 'b']],
    ["join(list, '-')", '1-2-3'],
    ['isEmpty(list)', false],
    ["toNumber('12.5')", 12.5],
    ["toNumber('x')", null],
    ["jsonPath(profile, '$.attributes.tier')", 'PLATINUM'],
    ["decodeJwt('garbage')", null],
  ])('%s → %j', (source, expected) => {
    expect(evaluate(source, vars, now)).toEqual(expected);
  });

  it('decodeJwt reads the claims of a JWT', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 1700000060, scope: 'crm:read' })).toString('base64url');
    const token = `eyJhbGciOiJub25lIn0.${payload}.`;
    expect(evaluate('decodeJwt(t).exp - currentTimestamp() / 1000', { t: token }, now)).toBe(60);
  });
});

describe('evaluator: injection attempts are refused', () => {
  it.each([
    'constructor',
    'profile.constructor',
    'profile.__proto__',
    "profile['__proto__']",
    "profile['constructor']['constructor']('return process')()",
    'list.prototype',
    'process.exit(1)',
    'name.toUpperCase()',
    'eval("1")',
    'Function("return 1")()',
    'require("fs")',
    'this',
    'this.constructor',
    'a = 1',
    'a; b',
    'n | 1',
    '~n',
    '1 +',
    '',
    "'unterminated",
    '{{ unclosed',
    'x'.repeat(5000),
  ])('%s', (source) => {
    expect(() => evaluate(source, vars)).toThrow(ExpressionError);
  });

  it('a computed forbidden key is refused at run time', () => {
    expect(() => evaluate('profile[k]', { ...vars, k: '__proto__' })).toThrow(/not accessible/);
  });

  it('inherited properties are invisible', () => {
    expect(evaluate('profile.hasOwnProperty', vars)).toBeNull();
    expect(evaluate('toString', vars)).toBeNull();
  });

  it('unknown functions name the function and the list', () => {
    expect(() => compileExpression('fetchUrl(1)')).toThrow(/unknown function 'fetchUrl'/);
  });

  it('reports the variables an expression reads', () => {
    expect([...compileExpression("a.b + c[d] + upper('{{e}}')".replace('upper', 'toUpperCase')).variables].sort()).toEqual(['a', 'c', 'd', 'e']);
  });
});
