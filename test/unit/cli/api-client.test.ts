/**
 * The CLI's API client: the base URL from --api or IVRFLOW_API_URL, the server's error envelope,
 * and `--aws` signing checked against a signature recomputed here with node:crypto, step by step
 * as the AWS documentation "Create a signed AWS API request" gives it (canonical request, string
 * to sign, the kSecret → kDate → kRegion → kService → kSigning HMAC chain) — not with the library
 * the client signs with. No network: fetch is replaced.
 */
import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiClient, ApiNetworkError, ApiResponseError, ApiUsageError, errorLines, expectOk, signingRegion, type ApiClientDeps, type AwsCredentials } from '../../../cli/api-client';

// The default credential chain, replaced only at its provider boundary: fromNodeProviderChain() hands back our provider.
const chain = vi.hoisted(() => ({ provider: vi.fn(() => Promise.resolve({ accessKeyId: 'AKIDCHAIN', secretAccessKey: 'chain-secret' })) }));
vi.mock('@aws-sdk/credential-providers', () => ({ fromNodeProviderChain: vi.fn(() => chain.provider) }));

const ACCESS_KEY_ID = 'AKIDEXAMPLE';
const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const CREDENTIALS: AwsCredentials = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY };
const SIGNING_DATE = new Date('2015-08-30T12:36:00Z');
const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com';

/** A fetch that records each request and answers `answer`. */
function fakeFetch(answer: { status?: number; body?: string } = {}) {
  const requests: { url: URL; method: string; headers: Record<string, string>; body?: string }[] = [];
  const fetch = vi.fn((input: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: new URL(input instanceof Request ? input.url : input), method: init?.method ?? 'GET', headers: { ...(init?.headers as Record<string, string>) }, ...(typeof init?.body === 'string' ? { body: init.body } : {}) });
    return Promise.resolve(new Response(answer.body ?? '{"items":[]}', { status: answer.status ?? 200, headers: { 'content-type': 'application/json' } }));
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, requests };
}

function deps(extra: Partial<ApiClientDeps> = {}): ApiClientDeps & { requests: ReturnType<typeof fakeFetch>['requests'] } {
  const { fetch, requests } = fakeFetch();
  return { env: {}, credentials: () => Promise.resolve(CREDENTIALS), now: () => SIGNING_DATE, fetch, ...extra, requests };
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * The Authorization header AWS expects, from the doc's four tasks. `headers` are the signed ones,
 * lower-case; the canonical URI is each segment URI-encoded twice (every service but S3).
 */
function expectedAuthorization(r: { method: string; path: string; query: [string, string][]; headers: Record<string, string>; body: string; region: string; credentials?: AwsCredentials }): string {
  const credentials = r.credentials ?? CREDENTIALS;
  const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalUri = r.path
    .split('/')
    .map((segment) => encode(segment))
    .join('/');
  const canonicalQuery = r.query
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const names = Object.keys(r.headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${r.headers[n]!.trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [r.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaders, sha256Hex(r.body)].join('\n');
  const amzDate = '20150830T123600Z';
  const scope = `20150830/${r.region}/execute-api/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${credentials.secretAccessKey}`, '20150830');
  const kRegion = hmac(kDate, r.region);
  const kService = hmac(kRegion, 'execute-api');
  const kSigning = hmac(kService, 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

afterEach(() => {
  vi.clearAllMocks();
});

describe('--aws: AWS Signature Version 4', () => {
  it('GET /flows?limit=2 carries the Authorization header AWS computes for it (fixed credentials and date)', async () => {
    const d = deps();
    const res = await apiClient({ api: API, aws: true }, d).request('GET', '/flows', { query: { limit: 2 } });
    expect(res).toEqual({ status: 200, body: { items: [] } });
    const [sent] = d.requests;
    expect(sent!.url.href).toBe(`${API}/flows?limit=2`);
    expect(sent!.headers['x-amz-date']).toBe('20150830T123600Z');
    expect(sent!.headers['x-amz-content-sha256']).toBe(EMPTY_SHA256);
    const expected = expectedAuthorization({
      method: 'GET',
      path: '/flows',
      query: [['limit', '2']],
      headers: { accept: 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20150830T123600Z' },
      body: '',
      region: 'eu-west-1',
    });
    expect(sent!.headers['authorization']).toBe(expected);
    // The scope and the signed headers as the doc lists them for a GET without a body.
    expect(expected).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20150830\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=accept;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
  });

  it('a PUT with a body, a stage path, an encoded segment, a query needing encoding and a session token is signed over all of them', async () => {
    const d = deps({ credentials: () => Promise.resolve({ ...CREDENTIALS, sessionToken: 'session/token+1' }) });
    const body = { id: 'a b', name: 'Ünïcode' };
    await apiClient({ api: `${API}/prod/`, aws: true }, d).request('PUT', `/circuits/${encodeURIComponent('GET crm/x')}`, { query: { since: '2024-01-01T00:00:00Z', kind: 'flow.deployed', empty: '', none: undefined }, body });
    const [sent] = d.requests;
    expect(sent!.url.pathname).toBe('/prod/circuits/GET%20crm%2Fx');
    expect(sent!.url.search).toBe('?since=2024-01-01T00%3A00%3A00Z&kind=flow.deployed');
    expect(sent!.body).toBe(JSON.stringify(body));
    const bodyHash = sha256Hex(JSON.stringify(body));
    expect(sent!.headers['x-amz-content-sha256']).toBe(bodyHash);
    expect(sent!.headers['x-amz-security-token']).toBe('session/token+1');
    expect(sent!.headers['authorization']).toBe(
      expectedAuthorization({
        method: 'PUT',
        path: '/prod/circuits/GET%20crm%2Fx',
        query: [
          ['since', '2024-01-01T00:00:00Z'],
          ['kind', 'flow.deployed'],
        ],
        headers: {
          accept: 'application/json',
          'content-type': 'application/json',
          host: 'abc123.execute-api.eu-west-1.amazonaws.com',
          'x-amz-content-sha256': bodyHash,
          'x-amz-date': '20150830T123600Z',
          'x-amz-security-token': 'session/token+1',
        },
        body: JSON.stringify(body),
        region: 'eu-west-1',
      }),
    );
  });

  it('a host with a port is signed as host:port; fetch sets Host itself', async () => {
    const d = deps({ env: { AWS_REGION: 'us-east-2' } });
    await apiClient({ api: 'http://127.0.0.1:4567', aws: true }, d).request('GET', '/circuits');
    const [sent] = d.requests;
    expect(sent!.headers['host']).toBeUndefined();
    expect(sent!.headers['authorization']).toBe(
      expectedAuthorization({
        method: 'GET',
        path: '/circuits',
        query: [],
        headers: { accept: 'application/json', host: '127.0.0.1:4567', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20150830T123600Z' },
        body: '',
        region: 'us-east-2',
      }),
    );
  });

  it('without --aws nothing is signed and no credential is asked for', async () => {
    const credentials = vi.fn(() => Promise.resolve(CREDENTIALS));
    const d = deps({ credentials });
    await apiClient({ api: API }, d).request('GET', '/flows');
    expect(d.requests[0]!.headers).toEqual({ accept: 'application/json' });
    expect(credentials).not.toHaveBeenCalled();
  });
});

describe('the signing region', () => {
  it("is the execute-api host's region, even when AWS_REGION names another", () => {
    const env = { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'ap-south-1' };
    expect(signingRegion(new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/prod'), env)).toBe('eu-west-1');
    expect(signingRegion(new URL('https://abc123.execute-api.cn-north-1.amazonaws.com.cn'), env)).toBe('cn-north-1');
    expect(signingRegion(new URL('https://abc123-vpce-0123.execute-api.eu-central-1.vpce.amazonaws.com'), env)).toBe('eu-central-1');
    expect(apiClient({ api: API, aws: true }, deps({ env })).region).toBe('eu-west-1');
  });

  it('is AWS_REGION, else AWS_DEFAULT_REGION, for another host (a custom domain, a local server)', async () => {
    expect(signingRegion(new URL('https://ivr.example.com'), { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'ap-south-1' })).toBe('us-east-1');
    expect(signingRegion(new URL('https://ivr.example.com'), { AWS_DEFAULT_REGION: 'ap-south-1' })).toBe('ap-south-1');
    const d = deps({ env: { AWS_DEFAULT_REGION: 'ap-south-1' } });
    await apiClient({ api: 'https://ivr.example.com', aws: true }, d).request('GET', '/flows');
    expect(d.requests[0]!.headers['authorization']).toContain('Credential=AKIDEXAMPLE/20150830/ap-south-1/execute-api/aws4_request');
  });

  it('missing is a usage error naming AWS_REGION and AWS_DEFAULT_REGION, before anything is sent', () => {
    const d = deps({ env: { AWS_REGION: '' } });
    expect(() => apiClient({ api: 'https://ivr.example.com', aws: true }, d)).toThrow(ApiUsageError);
    expect(() => apiClient({ api: 'https://ivr.example.com', aws: true }, d)).toThrow(/AWS_REGION or AWS_DEFAULT_REGION/);
    expect(d.requests).toHaveLength(0);
    // Without --aws no region is needed.
    expect(apiClient({ api: 'https://ivr.example.com' }, d).region).toBeUndefined();
  });
});

describe('the API URL', () => {
  it('is --api, else IVRFLOW_API_URL; the flag wins', async () => {
    const d = deps({ env: { IVRFLOW_API_URL: 'http://127.0.0.1:3000/base' } });
    await apiClient({}, d).request('GET', '/flows');
    await apiClient({ api: 'http://127.0.0.1:4000' }, d).request('GET', '/flows');
    expect(d.requests.map((r) => r.url.href)).toEqual(['http://127.0.0.1:3000/base/flows', 'http://127.0.0.1:4000/flows']);
  });

  it('missing is a usage error naming --api and IVRFLOW_API_URL; a non-URL names where it came from', () => {
    expect(() => apiClient({}, deps())).toThrow(new ApiUsageError('no API URL: pass --api <url> or set IVRFLOW_API_URL'));
    expect(() => apiClient({ api: 'not a url' }, deps())).toThrow(new ApiUsageError('--api is not a URL: not a url'));
    expect(() => apiClient({}, deps({ env: { IVRFLOW_API_URL: 'ftp://x' } }))).toThrow(new ApiUsageError('IVRFLOW_API_URL is not an http(s) URL: ftp://x'));
  });
});

describe('credentials', () => {
  it('are the provider given, asked at each request', async () => {
    const credentials = vi.fn(() => Promise.resolve({ accessKeyId: 'AKIDGIVEN', secretAccessKey: 'given-secret' }));
    const d = deps({ credentials });
    const client = apiClient({ api: API, aws: true }, d);
    await client.request('GET', '/flows');
    await client.request('GET', '/circuits');
    expect(credentials).toHaveBeenCalledTimes(2);
    expect(d.requests[1]!.headers['authorization']).toBe(
      expectedAuthorization({
        method: 'GET',
        path: '/circuits',
        query: [],
        headers: { accept: 'application/json', host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-amz-content-sha256': EMPTY_SHA256, 'x-amz-date': '20150830T123600Z' },
        body: '',
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDGIVEN', secretAccessKey: 'given-secret' },
      }),
    );
    expect(chain.provider).not.toHaveBeenCalled();
  });

  it("default to the Node provider chain's, built once per client", async () => {
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    const { credentials: _none, ...rest } = deps();
    const client = apiClient({ api: API, aws: true }, rest);
    await client.request('GET', '/flows');
    await client.request('GET', '/flows');
    expect(fromNodeProviderChain).toHaveBeenCalledTimes(1);
    expect(chain.provider).toHaveBeenCalledTimes(2);
    expect(rest.requests[0]!.headers['authorization']).toContain('Credential=AKIDCHAIN/20150830/eu-west-1/execute-api/aws4_request');
  });

  it("a provider's failure is the client's error, and nothing is sent", async () => {
    const d = deps({ credentials: () => Promise.reject(new Error('Could not load credentials from any providers')) });
    await expect(apiClient({ api: API, aws: true }, d).request('GET', '/flows')).rejects.toThrow('--aws: cannot sign the request: Could not load credentials from any providers');
    expect(d.requests).toHaveLength(0);
  });
});

describe('answers and errors', () => {
  it("a 4xx/5xx answer is the server's code, message and details; the lines are printed as it gave them", async () => {
    const { fetch } = fakeFetch({ status: 409, body: JSON.stringify({ error: { code: 'VERSION_CONFLICT', message: "flow 'a' is at version 3", details: { currentVersion: 3 } } }) });
    const res = await apiClient({ api: API }, deps({ fetch })).request('PUT', '/flows/a', { body: {} });
    expect(res.status).toBe(409);
    const error = (() => {
      try {
        expectOk(res);
      } catch (e) {
        return e as ApiResponseError;
      }
      throw new Error('expectOk accepted a 409');
    })();
    expect(error).toBeInstanceOf(ApiResponseError);
    expect(errorLines(error)).toEqual(["ivrflow: 409 VERSION_CONFLICT: flow 'a' is at version 3", 'ivrflow: details: {"currentVersion":3}']);
  });

  it("an answer without the envelope (API Gateway's own 403) keeps its status and message", async () => {
    const { fetch } = fakeFetch({ status: 403, body: '{"message":"Missing Authentication Token"}' });
    const res = await apiClient({ api: API }, deps({ fetch })).request('GET', '/flows');
    expect(() => expectOk(res)).toThrow(ApiResponseError);
    try {
      expectOk(res);
    } catch (e) {
      expect(errorLines(e as ApiResponseError)).toEqual(['ivrflow: 403 FORBIDDEN: Missing Authentication Token']);
    }
    expect(expectOk({ status: 204, body: undefined })).toEqual({ status: 204, body: undefined });
  });

  it('an unreachable API is one line', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
    const fetch = vi.fn(() => Promise.reject(refused)) as unknown as typeof globalThis.fetch;
    const failure = apiClient({ api: 'http://127.0.0.1:9' }, deps({ fetch })).request('GET', '/flows');
    await expect(failure).rejects.toThrow(ApiNetworkError);
    const e = (await failure.then(
      () => undefined,
      (x: unknown) => x,
    )) as ApiNetworkError;
    expect(errorLines(e)).toEqual(['ivrflow: cannot reach http://127.0.0.1:9/: fetch failed (ECONNREFUSED)']);
  });
});
