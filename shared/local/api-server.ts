/**
 * Serves Lambda handlers over HTTP on 127.0.0.1 with API Gateway HTTP API (payload v2) events, so
 * the local server runs exactly the code Lambda runs (docs/architecture.md, "Local development"),
 * and answers the Lambda Invoke API for every function, so `@aws-sdk/client-lambda` with `endpoint`
 * set to this server invokes them as it would in AWS. No authorization (local mode).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { json, type ApiEvent, type ApiResult } from '../api/http';
import { matchRoute } from '../api/routes';

/** An HTTP API Lambda handler (payload v2), as the local server invokes it. */
export type LambdaHttpHandler = (event: ApiEvent, context: Context) => Promise<ApiResult>;

/** Requests larger than this are refused before reaching a handler (Lambda's 6 MB payload limit). */
const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

/** A running local API server: its base URL (`http://127.0.0.1:<port>`) and how to stop it. */
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

/** A function as the Lambda Invoke API runs it: any event, its timeout. */
export interface InvocableFunction {
  handler: (event: unknown, context: Context) => Promise<unknown>;
  timeoutMs: number;
}

/** The Lambda Invoke API path (`POST /2015-03-31/functions/{name}/invocations`, as `sam local start-lambda` serves it). */
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * Starts the server.
 * @param functions name → handler and the route keys it serves
 * @param options.invocable functions the Lambda Invoke API runs, by name (the stack's logical ids):
 *   RequestResponse invocations answer the handler's result as JSON, a handler error as Lambda
 *   does (`X-Amz-Function-Error: Unhandled`, `{ errorType, errorMessage }`); an unknown name is 404
 *   `ResourceNotFoundException`
 */
export async function startLocalApiServer(functions: Record<string, { handler: LambdaHttpHandler; routes: readonly string[] }>, options: { port?: number; invocable?: Record<string, InvocableFunction> } = {}): Promise<LocalApiServer> {
  const table = Object.entries(functions).flatMap(([name, f]) => f.routes.map((routeKey) => ({ routeKey, name, handler: f.handler })));
  const routeKeys = table.map((r) => r.routeKey);

  /** One Lambda Invoke API call. */
  const invokeFunction = async (name: string, payload: string, invocationType: string | string[] | undefined): Promise<ApiResult> => {
    const fn = options.invocable?.[name];
    const awsError = (status: number, type: string, message: string): ApiResult => ({ statusCode: status, headers: { 'content-type': 'application/json', 'x-amzn-errortype': type }, body: JSON.stringify({ Type: 'User', message }) });
    if (!fn) return awsError(404, 'ResourceNotFoundException', `Function not found: ${name}; local functions: ${Object.keys(options.invocable ?? {}).join(', ')}`);
    if (invocationType !== undefined && invocationType !== 'RequestResponse') return awsError(400, 'InvalidParameterValueException', 'only RequestResponse invocations are served locally');
    let event: unknown;
    try {
      event = payload === '' ? {} : JSON.parse(payload);
    } catch {
      return awsError(400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    const requestId = randomUUID();
    try {
      const result = await fn.handler(event, lambdaContext(name, requestId, fn.timeoutMs));
      return { statusCode: 200, headers: { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST', 'x-amzn-requestid': requestId }, body: JSON.stringify(result ?? null) };
    } catch (err) {
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ errorType: (err as Error).name ?? 'Error', errorMessage: (err as Error).message ?? String(err) }),
      };
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const arrivedAt = performance.now();
    const send = (result: ApiResult) => {
      const headers = { ...(result.headers as Record<string, string> | undefined) };
      const body = result.body ?? '';
      // The server's own time (W3C Server Timing), from the request's arrival to its answer: what a caller's deadline measures inside API Gateway.
      const total = `total;dur=${(performance.now() - arrivedAt).toFixed(1)}`;
      res.writeHead(result.statusCode ?? 200, { ...headers, 'content-length': String(Buffer.byteLength(body)), 'server-timing': total });
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
      const invoke = method === 'POST' ? INVOKE_PATH.exec(url.pathname) : null;
      if (invoke) {
        let name: string;
        try {
          name = decodeURIComponent(invoke[1]!);
        } catch {
          return send(json(400, { Type: 'User', message: 'the function name is not valid percent-encoding' }));
        }
        return send(await invokeFunction(name, Buffer.concat(chunks).toString('utf8'), req.headers['x-amz-invocation-type']));
      }
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
    // Nothing awaits an 'end' listener: anything answer() did not catch is a 500, never an unhandled rejection.
    req.on('end', () => {
      answer().catch(() => {
        if (!res.headersSent) send(json(500, { error: { code: 'INTERNAL_ERROR', message: 'internal error' } }));
      });
    });
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
