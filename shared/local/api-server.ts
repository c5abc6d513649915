/**
 * Serves Lambda handlers over HTTP on 127.0.0.1 with API Gateway HTTP API (payload v2) events, so
 * the local server runs exactly the code Lambda runs (docs/architecture.md, "Local development").
 * No authorization (local mode).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { json, type ApiEvent, type ApiResult } from '../api/http';
import { matchRoute } from '../api/routes';

export type LambdaHttpHandler = (event: ApiEvent, context: Context) => Promise<ApiResult>;

/** Requests larger than this are refused before reaching a handler (Lambda's 6 MB payload limit). */
const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

export interface LocalApiServer {
  url: string;
  close(): Promise<void>;
}

/** A Lambda context for a local invocation of a function with this timeout (ms). */
export function lambdaContext(functionName: string, requestId: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Starts the server.
 * @param functions name → handler and the route keys it serves
 */
export async function startLocalApiServer(functions: Record<string, { handler: LambdaHttpHandler; routes: readonly string[] }>, options: { port?: number } = {}): Promise<LocalApiServer> {
  const table = Object.entries(functions).flatMap(([name, f]) => f.routes.map((routeKey) => ({ routeKey, name, handler: f.handler })));
  const routeKeys = table.map((r) => r.routeKey);

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const send = (result: ApiResult) => {
      const headers = { ...(result.headers as Record<string, string> | undefined) };
      const body = result.body ?? '';
      res.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    const answer = async (): Promise<void> => {
      if (tooLarge) return send(json(413, { error: { code: 'BODY_TOO_LARGE', message: `request larger than ${MAX_REQUEST_BYTES} bytes` } }));
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      const match = matchRoute(method, url.pathname, routeKeys);
      if (!match) return send(json(404, { error: { code: 'NO_ROUTE', message: `no route for ${method} ${url.pathname}` } }));
      const route = table.find((r) => r.routeKey === match.routeKey)!;
      const requestId = randomUUID();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
      const query = Object.fromEntries(url.searchParams);
      const body = Buffer.concat(chunks).toString('utf8');
      const event: ApiEvent = {
        version: '2.0',
        routeKey: match.routeKey,
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        headers,
        ...(url.search ? { queryStringParameters: query } : {}),
        ...(Object.keys(match.pathParameters).length ? { pathParameters: match.pathParameters } : {}),
        ...(body ? { body } : {}),
        isBase64Encoded: false,
        requestContext: {
          accountId: '000000000000',
          apiId: 'local',
          domainName: '127.0.0.1',
          domainPrefix: 'local',
          http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: req.socket.remoteAddress ?? '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
          requestId,
          routeKey: match.routeKey,
          stage: '$default',
          time: new Date().toISOString(),
          timeEpoch: Date.now(),
        },
      };
      try {
        send(await route.handler(event, lambdaContext(route.name, requestId)));
      } catch {
        send(json(500, { error: { code: 'INTERNAL_ERROR', message: `internal error; request id ${requestId}` } }));
      }
    };
    // Nothing awaits an 'end' listener; answer() sends a 500 itself when the handler throws.
    req.on('end', () => void answer());
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
