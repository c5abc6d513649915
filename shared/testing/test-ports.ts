/**
 * The ports a flow test swaps (docs/testing.md): HTTP answered from the case's mocks by step path,
 * OAuth2 token requests answered with a valid token unless mocked, circuits that start in the
 * state the case gives, and seeded randomness. Time is a {@link FakeClock}: an answer's delay or a
 * timeout advances it, nothing waits. No socket is opened.
 */
import type { FakeClock, Randomness } from '../clock';
import { waitIdOf } from '../callbacks/callback-token';
import type { HttpClient, HttpFailure, HttpRequest, HttpResponse } from '../http/client';
import type { CircuitRecord } from '../resilience/circuit-breaker';
import { MemoryCircuitStore } from '../resilience/memory-circuit-store';
import type { MockAnswer, TestCase } from './test-file';

/** The callback base URL of test runs: `{{callback_url}}` is `https://ivrflow.test/callbacks/<token>`. */
export const TEST_CALLBACK_BASE = 'https://ivrflow.test';

/** The access token a token request gets when the case does not mock it. */
export const TEST_ACCESS_TOKEN = 'test-access-token';

/** A request as a test sees it: header names lower-case, the body parsed when it is JSON. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** A callback a mocked 202 promised: when (virtual ms, epoch) and what, for the wait of `waitId`; `null` never comes. */
export interface PromisedCallback {
  step: string;
  token: string;
  at: number | null;
  body: unknown;
  headers: Record<string, string>;
}

type Answers = MockAnswer | MockAnswer[];

/** Seeded randomness: ids `test-1`, `test-2`, …, and `random()` from mulberry32 (so jitter repeats for a seed). */
export function seededRandomness(seed: number): Randomness {
  let ids = 0;
  let state = seed >>> 0;
  return {
    id: () => `test-${++ids}`,
    random: () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

function parsedBody(body: string | undefined): unknown {
  if (body === undefined) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

/**
 * The HTTP port of a flow test. `step` is the path of the step running (set by the executor's
 * `onStep`); each call of a step takes the next answer of its mock, the last one repeating. A call
 * with no mock is answered as a refused connection and noted in `problems` as `NO_MOCK`.
 */
export class MockHttpClient implements HttpClient {
  /** The path of the step running now. */
  step = '';
  /** Requests sent, per step path, in order (token requests are not listed). */
  readonly requests = new Map<string, SeenRequest[]>();
  /** Callbacks promised by mocked 202s, by wait id. */
  readonly callbacks = new Map<string, PromisedCallback>();
  /** What makes the case fail whatever it expects (`NO_MOCK`, a callback with nowhere to go). */
  readonly problems: string[] = [];
  /** What the case's report mentions when it fails (set by the runner: a refused callback). */
  readonly notes: string[] = [];
  private readonly used = new Map<string, number>();

  /**
   * @param tokenEndpoints token endpoint URL → the connections that use it (a token mock may name either)
   */
  constructor(
    private readonly clock: FakeClock,
    private readonly testCase: Pick<TestCase, 'mocks' | 'tokens'>,
    private readonly tokenEndpoints: ReadonlyMap<string, readonly string[]>,
  ) {}

  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    if (request.method === 'POST' && /(^|&)grant_type=/.test(request.body ?? '')) return Promise.resolve(this.token(request));
    const step = this.step;
    const seen: SeenRequest = { method: request.method, url: request.url.href, headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])) };
    if (request.body !== undefined) seen.body = parsedBody(request.body);
    const list = this.requests.get(step) ?? [];
    list.push(seen);
    this.requests.set(step, list);
    const mocks = this.testCase.mocks ?? {};
    const answers = Object.hasOwn(mocks, step) ? mocks[step] : undefined;
    if (!answers) {
      const message = `NO_MOCK: step ${step}: ${request.method} ${request.url.href}`;
      this.problems.push(message);
      return Promise.resolve({ kind: 'connection', message });
    }
    const answer = this.next(step, answers);
    return Promise.resolve(this.answer(answer, request, step));
  }

  private next(key: string, answers: Answers): MockAnswer {
    const n = this.used.get(key) ?? 0;
    this.used.set(key, n + 1);
    return Array.isArray(answers) ? answers[Math.min(n, answers.length - 1)]! : answers;
  }

  private answer(answer: MockAnswer, request: HttpRequest, step: string): HttpResponse | HttpFailure {
    const timeout = (): HttpFailure => {
      this.clock.advance(request.timeoutMs);
      return { kind: 'timeout', message: `no answer within ${request.timeoutMs} ms` };
    };
    if ('timeout' in answer) return timeout();
    if ('error' in answer) return answer.error === 'ENOTFOUND' ? { kind: 'dns', message: `getaddrinfo ENOTFOUND ${request.url.hostname}` } : { kind: 'connection', message: `${answer.error} ${request.url.host}` };
    const delayMs = answer.delayMs ?? 0;
    if (delayMs >= request.timeoutMs) return timeout();
    this.clock.advance(delayMs);
    const headers: Record<string, string> = {};
    if (answer.body !== undefined && typeof answer.body !== 'string') headers['content-type'] = 'application/json';
    for (const [k, v] of Object.entries(answer.headers ?? {})) headers[k.toLowerCase()] = v;
    const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    if (answer.callback !== undefined) this.promise(step, request, answer.callback);
    return { kind: 'response', status: answer.status, headers, body: Buffer.from(body) };
  }

  /** Notes the callback a 202 promises, to the `{{callback_url}}` its request carried. */
  private promise(step: string, request: HttpRequest, callback: NonNullable<Extract<MockAnswer, { status: number }>['callback']> | null): void {
    const carried = [request.url.href, ...Object.values(request.headers), request.body ?? ''].join('\n');
    const token = new RegExp(`${TEST_CALLBACK_BASE.replace(/\./g, '\\.')}/callbacks/([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43})`).exec(carried)?.[1];
    if (!token) {
      if (callback !== null) this.problems.push(`NO_CALLBACK_URL: step ${step}: the mock promises a callback, but the request carried no {{callback_url}}`);
      return;
    }
    this.callbacks.set(waitIdOf(token), { step, token, at: callback === null ? null : this.clock.now() + callback.afterMs, body: callback?.body, headers: callback?.headers ?? {} });
  }

  /** A client-credentials token request: the case's `tokens` mock (by endpoint URL, then by connection name), else a valid token. */
  private token(request: HttpRequest): HttpResponse | HttpFailure {
    const endpoint = `${request.url.origin}${request.url.pathname}`;
    const tokens = this.testCase.tokens ?? {};
    const key = [request.url.href, endpoint, ...(this.tokenEndpoints.get(endpoint) ?? [])].find((k) => Object.hasOwn(tokens, k));
    if (key !== undefined) return this.answer(this.next(`token:${key}`, tokens[key]!), request, `token ${key}`);
    const scope = new URLSearchParams(request.body ?? '').get('scope');
    const body = JSON.stringify({ access_token: TEST_ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600, ...(scope ? { scope } : {}) });
    return { kind: 'response', status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }
}

/** How long a circuit a case starts `open` stays open: the whole case. */
const OPEN_FOR_MS = 24 * 3600_000;

/**
 * Circuits in memory that start as the case says: `circuits` maps a circuit key, or the path of
 * the step that uses it, to `open` (refused for the whole case), `half-open` (the next call is the
 * probe) or `closed`. A record is seeded the first time its key is read.
 */
export class SeededCircuitStore extends MemoryCircuitStore {
  private readonly seen = new Set<string>();

  constructor(
    private readonly states: NonNullable<TestCase['circuits']>,
    private readonly clock: FakeClock,
    private readonly step: () => string,
  ) {
    super();
  }

  override get(key: string): Promise<CircuitRecord | undefined> {
    if (!this.seen.has(key)) {
      this.seen.add(key);
      const step = this.step();
      const state = Object.hasOwn(this.states, key) ? this.states[key] : Object.hasOwn(this.states, step) ? this.states[step] : undefined;
      const now = this.clock.now();
      if (state === 'open') this.set({ key, state: 'OPEN', failures: 0, retryAt: now + OPEN_FOR_MS, version: 1, updatedAt: now });
      if (state === 'half-open') this.set({ key, state: 'OPEN', failures: 0, retryAt: now, version: 1, updatedAt: now });
    }
    return super.get(key);
  }
}
