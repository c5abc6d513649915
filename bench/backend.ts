/**
 * The bench's loopback backend (`node:http`, keep-alive): `GET /v2/accounts` answers the CRM
 * lookup of the guide, `/down` answers 503. It counts connections and requests per path, so a
 * figure can show that a case made no network call.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The CRM's answer (the body every HTTP figure maps). */
export const ACCOUNT_BODY = JSON.stringify({ status: 'ok', data: [{ id: 'ACC-1', attributes: { loyalty_tier: 'GOLD', support_tickets: 1 } }] });

/** A running loopback backend. */
export interface Backend {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Requests so far, by path (without the query). */
  readonly requests: Readonly<Record<string, number>>;
  close(): Promise<void>;
}

/** Listens on an ephemeral 127.0.0.1 port. @returns the server's base URL and a `close` that ends its connections too */
export async function listenOnLoopback(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Starts the backend on an ephemeral loopback port. */
export async function startBackend(): Promise<Backend> {
  let connections = 0;
  const requests: Record<string, number> = {};
  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests[path] = (requests[path] ?? 0) + 1;
    req.resume();
    if (path === '/v2/accounts') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ACCOUNT_BODY) });
      res.end(ACCOUNT_BODY);
    } else res.writeHead(503, { 'content-length': 0 }).end();
  });
  server.on('connection', () => connections++);
  const { url, close } = await listenOnLoopback(server);
  return {
    url,
    get connections() {
      return connections;
    },
    requests,
    close,
  };
}
