/**
 * A sample CRM + ticketing backend that answers like a real one, for the demo and the tests.
 * Listens on 127.0.0.1 only.
 *
 * Every route but `/health` needs a credential: the `X-API-Key`, or, with `oauth`, an
 * `Authorization: Bearer <JWT>` signed by the authorization server (checked against its JWKS with
 * `jose`: signature, expiry, and `requiredScope` when set; a missing or bad token is a 401 with
 * `WWW-Authenticate: Bearer` as RFC 6750 §3 describes, a token without the scope a 403).
 *
 * - `GET /v2/accounts?phone=<E.164>`: a known caller → `{ status, data: [account] }`;
 *   an unknown one → `{ status: "ok", data: [] }` (the empty-array case: mapping `$.data[0]` must
 *   give null, not fail). Numbers ending in 0401/0404/0503 answer 401/404/503; 0900 answers after
 *   `slowMs` (default 10 s).
 * - `POST /v1/tickets` (needs `X-API-Key`, JSON body with `account_id`) → 201 `{ id, case_number, metadata }`.
 * - `POST /v1/balance-requests` with `{ phone, callback_url }`: an asynchronous backend. Answers 202
 *   Accepted `{ request_id, status: "pending" }` at once, then, after `callbackDelayMs`, POSTs
 *   `{ request_id, status: "completed", phone, balance: { amount, currency } }` to `callback_url`,
 *   signed with `webhookSecret` as the Standard Webhooks specification describes (`webhook-id`,
 *   `webhook-timestamp`, `webhook-signature`). A phone ending in 0202 never calls back (for the
 *   timeout branch); 0200 answers 200 with the balance at once (no callback).
 * - `GET /v1/balance-requests`: the balance requests received, newest first, `{ data: [{ request_id,
 *   phone, callback_url, state: "pending" | "called-back" | "no-callback" | "answered" }] }` (to deliver
 *   a callback by hand).
 * - `GET /health` → 200.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Webhook } from 'standardwebhooks';

export interface CrmServerOptions {
  /** The API key callers must send in `X-API-Key`. @default 'demo-api-key' */
  apiKey?: string;
  /** Delay of the slow number, ms. @default 10000 */
  slowMs?: number;
  /** Port; 0 picks a free one. @default 0 @throws the listen error (EADDRINUSE) when the port is taken */
  port?: number;
  /** Accept OAuth2 bearer tokens signed by the keys at `jwksUrl` (e.g. oauth2-mock-server's `/jwks`). */
  oauth?: { jwksUrl: string; requiredScope?: string };
  /** The Standard Webhooks secret (`whsec_...`) callbacks are signed with; unsigned without it. */
  webhookSecret?: string;
  /** Delay before a balance request's callback, ms. @default 2000 */
  callbackDelayMs?: number;
}

/** A callback the CRM delivered, and the status the receiver answered (null when it could not be reached). */
export interface DeliveredCallback {
  url: string;
  webhookId: string;
  body: unknown;
  status: number | null;
}

export interface CrmServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Requests received per `METHOD path` (path without query). */
  hits: Map<string, number>;
  /** Tickets created, by id. */
  tickets: Map<string, unknown>;
  /** Bearer tokens refused (bad signature, expired, wrong scope), and accepted. */
  tokens: { accepted: number; refused: number };
  /** Callbacks of balance requests, in the order they were delivered. */
  callbacks: DeliveredCallback[];
  close(): Promise<void>;
}

export const DEMO_API_KEY = 'demo-api-key';

const ACCOUNTS: Record<string, unknown> = {
  '+12125551234': { id: 'ACC-1001', type: 'account', attributes: { name: 'Dana Whitfield', loyalty_tier: 'PLATINUM', support_tickets: 2 } },
  '+13125557788': { id: 'ACC-2002', type: 'account', attributes: { name: 'Luis Ortega', loyalty_tier: 'SILVER', support_tickets: 0 } },
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the sample CRM on 127.0.0.1. */
export async function startCrmServer(options: CrmServerOptions = {}): Promise<CrmServer> {
  const apiKey = options.apiKey ?? DEMO_API_KEY;
  const slowMs = options.slowMs ?? 10000;
  const hits = new Map<string, number>();
  const tickets = new Map<string, unknown>();
  const timers = new Set<NodeJS.Timeout>();
  let nextTicket = 5000;
  const tokens = { accepted: 0, refused: 0 };
  const jwks = options.oauth ? createRemoteJWKSet(new URL(options.oauth.jwksUrl)) : undefined;
  const callbacks: DeliveredCallback[] = [];
  const signer = options.webhookSecret ? new Webhook(options.webhookSecret) : undefined;
  let nextRequest = 9000;
  const balanceRequests: Array<{ request_id: string; phone: string; callback_url: string | null; state: string }> = [];

  /** POSTs a signed callback (what the backend's worker does when the job is done). */
  const deliver = async (url: string, body: unknown): Promise<void> => {
    const text = JSON.stringify(body);
    const webhookId = `msg_${randomUUID()}`;
    const headers: Record<string, string> = { 'content-type': 'application/json', 'webhook-id': webhookId };
    if (signer) {
      const now = new Date();
      headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000));
      headers['webhook-signature'] = signer.sign(webhookId, now, text);
    }
    let status: number | null = null;
    try {
      const res = await fetch(url, { method: 'POST', headers, body: text, signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = null;
    }
    callbacks.push({ url, webhookId, body, status });
  };

  /** 'ok', or the answer to give: 401 for no or a bad credential, 403 for a token without the scope. */
  const authorize = async (req: IncomingMessage): Promise<'ok' | { status: number; error: string }> => {
    if (req.headers['x-api-key'] === apiKey) return 'ok';
    const bearer = /^Bearer (.+)$/i.exec(req.headers['authorization'] ?? '')?.[1];
    if (!jwks || bearer === undefined) return { status: 401, error: 'invalid_api_key' };
    try {
      const { payload } = await jwtVerify(bearer, jwks);
      const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : [];
      if (options.oauth?.requiredScope && !scopes.includes(options.oauth.requiredScope)) {
        tokens.refused++;
        return { status: 403, error: 'insufficient_scope' };
      }
      tokens.accepted++;
      return 'ok';
    } catch {
      tokens.refused++;
      return { status: 401, error: 'invalid_token' };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const key = `${req.method} ${url.pathname}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    if (url.pathname === '/health') return send(res, 200, { status: 'ok' });
    const verdict = await authorize(req);
    if (verdict !== 'ok') {
      if (verdict.status === 401) res.setHeader('www-authenticate', `Bearer error="${verdict.error}"`);
      return send(res, verdict.status, { error: verdict.error, message: 'missing or wrong X-API-Key or bearer token' });
    }

    if (req.method === 'GET' && url.pathname === '/v2/accounts') {
      const phone = url.searchParams.get('phone') ?? '';
      if (!/^\+[1-9]\d{1,14}$/.test(phone)) return send(res, 400, { error: 'invalid_phone', message: 'phone must be E.164' });
      if (phone.endsWith('0401')) return send(res, 401, { error: 'token_expired' });
      if (phone.endsWith('0404')) return send(res, 404, { error: 'not_found' });
      if (phone.endsWith('0503')) return send(res, 503, { error: 'service_unavailable' });
      if (phone.endsWith('0900')) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send(res, 200, { status: 'ok', data: [] });
        }, slowMs);
        timers.add(timer);
        return;
      }
      const account = ACCOUNTS[phone];
      return send(res, 200, { status: 'ok', data: account ? [account] : [] });
    }

    if (req.method === 'POST' && url.pathname === '/v1/tickets') {
      let body: { account_id?: unknown };
      try {
        body = JSON.parse(await readBody(req)) as { account_id?: unknown };
      } catch {
        return send(res, 400, { error: 'invalid_json' });
      }
      if (typeof body.account_id !== 'string' || body.account_id === '') return send(res, 422, { error: 'account_id required' });
      const id = `TKT-${nextTicket++}`;
      tickets.set(id, body);
      return send(res, 201, { id, case_number: `CS-${id.slice(4)}`, metadata: { estimated_resolution_minutes: 45 } });
    }
    if (req.method === 'POST' && url.pathname === '/v1/balance-requests') {
      let body: { phone?: unknown; callback_url?: unknown };
      try {
        body = JSON.parse(await readBody(req)) as typeof body;
      } catch {
        return send(res, 400, { error: 'invalid_json' });
      }
      const phone = typeof body.phone === 'string' ? body.phone : '';
      if (!/^\+[1-9]\d{1,14}$/.test(phone)) return send(res, 400, { error: 'invalid_phone', message: 'phone must be E.164' });
      const result = { request_id: `BAL-${nextRequest++}`, status: 'completed', phone, balance: { amount: ACCOUNTS[phone] ? 1234.56 : 0, currency: 'USD' } };
      if (phone.endsWith('0200')) {
        balanceRequests.unshift({ request_id: result.request_id, phone, callback_url: null, state: 'answered' });
        return send(res, 200, result);
      }
      if (typeof body.callback_url !== 'string' || !/^https?:\/\//.test(body.callback_url)) return send(res, 422, { error: 'callback_url required' });
      const callbackUrl = body.callback_url;
      const job = { request_id: result.request_id, phone, callback_url: callbackUrl, state: phone.endsWith('0202') ? 'no-callback' : 'pending' };
      balanceRequests.unshift(job);
      if (job.state === 'pending') {
        const timer = setTimeout(() => {
          timers.delete(timer);
          job.state = 'called-back';
          void deliver(callbackUrl, result);
        }, options.callbackDelayMs ?? 2000);
        timers.add(timer);
      }
      return send(res, 202, { request_id: result.request_id, status: 'pending' });
    }
    if (req.method === 'GET' && url.pathname === '/v1/balance-requests') {
      return send(res, 200, { data: balanceRequests.slice(0, 100) });
    }
    send(res, 404, { error: 'no_route' });
  };
  // Nothing awaits a request listener; every path of handle() answers (a bad body is a 400).
  const server: Server = createServer((req, res) => void handle(req, res));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    tickets,
    tokens,
    callbacks,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
