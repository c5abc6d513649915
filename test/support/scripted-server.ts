/**
 * A real HTTP server on 127.0.0.1 whose answers are scripted per request, for integration tests.
 * Each answer is `{ status, body?, delayMs?, hang? }`; the last one repeats.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedAnswer {
  status?: number;
  body?: unknown;
  /** Raw text body (not JSON-encoded). */
  text?: string;
  delayMs?: number;
  /** Never answer (the connection stays open until the server closes). */
  hang?: boolean;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface ScriptedServer {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startScriptedServer(script: ScriptedAnswer[] | ((req: ReceivedRequest, n: number) => ScriptedAnswer)): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(received);
      const n = requests.length - 1;
      const answer = typeof script === 'function' ? script(received, n) : (script[Math.min(n, script.length - 1)] ?? { status: 200 });
      if (answer.hang) return;
      const reply = () => {
        const text = answer.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body));
        res.writeHead(answer.status ?? 200, { 'content-type': answer.text === undefined ? 'application/json' : 'text/plain', ...answer.headers });
        res.end(text);
      };
      if (answer.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          reply();
        }, answer.delayMs);
        timers.add(t);
      } else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
