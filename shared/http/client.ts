/**
 * The outbound HTTP port and its Node.js implementation.
 *
 * The engine never throws on a network outcome: {@link HttpClient.send} resolves to a response or
 * to a classified failure (`timeout`, `connection`, `blocked`), so that steps route every case.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isPrivateAddress, isPrivateHost } from './network-policy';

/** One outbound request. `timeoutMs` bounds the whole exchange, headers and body included. */
export interface HttpRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** An HTTP answer, whatever its status: header names lower-case (as Node gives them, repeated values joined with `, `), the body as bytes. */
export interface HttpResponse {
  kind: 'response';
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A request that produced no HTTP response. `dns`: the host name did not resolve (`ENOTFOUND`,
 * `EAI_AGAIN`); `blocked`: the destination is not allowed; `invalid`: the request could not be
 * sent as built (e.g. a header value Node refuses).
 */
export interface HttpFailure {
  kind: 'timeout' | 'connection' | 'dns' | 'blocked' | 'invalid';
  message: string;
}

/** The outbound HTTP port: resolves to a response or a classified failure, never rejects for a network outcome. */
export interface HttpClient {
  send(request: HttpRequest): Promise<HttpResponse | HttpFailure>;
}

/** Options of {@link NodeHttpClient}. */
export interface NodeHttpClientOptions {
  /** Allow loopback, private and link-local destinations (local development). @default false */
  allowPrivateNetworks?: boolean;
  /** Largest response body read, in bytes; a larger one is a `connection` failure. @default 1 MiB */
  maxResponseBytes?: number;
}

class BlockedAddressError extends Error {
  constructor(address: string) {
    super(`destination address ${address} is private, loopback or link-local`);
    this.name = 'BlockedAddressError';
  }
}

/**
 * `HttpClient` over node:http/https with keep-alive agents. Redirects are not followed (a
 * redirect could lead to a host that is not allowed); a 3xx is returned as is.
 */
export class NodeHttpClient implements HttpClient {
  private readonly allowPrivate: boolean;
  private readonly maxBytes: number;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(options: NodeHttpClientOptions = {}) {
    this.allowPrivate = options.allowPrivateNetworks ?? false;
    this.maxBytes = options.maxResponseBytes ?? 1024 * 1024;
    const lookup: LookupFunction = (hostname, opts, callback) => {
      dnsLookup(hostname, { ...opts, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 4);
        const list = addresses;
        const bad = this.allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
        if (bad) return callback(new BlockedAddressError(bad.address), '', 4);
        if (opts.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
        const first = list[0]!;
        callback(null, first.address, first.family);
      });
    };
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, lookup });
  }

  send(request: HttpRequest): Promise<HttpResponse | HttpFailure> {
    const { url } = request;
    if (!this.allowPrivate && isPrivateHost(url.hostname)) {
      return Promise.resolve({ kind: 'blocked', message: `host ${url.hostname} is private, loopback or link-local` });
    }
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: HttpResponse | HttpFailure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      };
      let req: http.ClientRequest;
      try {
        req = transport.request(
          url,
          {
            method: request.method,
            headers: request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
            agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > this.maxBytes) {
                req.destroy();
                finish({ kind: 'connection', message: `response body larger than ${this.maxBytes} bytes` });
                return;
              }
              chunks.push(chunk);
            });
            res.on('end', () => {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
              finish({ kind: 'response', status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
            });
            res.on('error', (err) => finish({ kind: 'connection', message: err.message }));
          },
        );
      } catch (err) {
        // transport.request validates headers and options synchronously (ERR_INVALID_CHAR, ...).
        return finish({ kind: 'invalid', message: (err as Error).message });
      }
      timer = setTimeout(
        () => {
          finish({ kind: 'timeout', message: `no complete response within ${request.timeoutMs} ms` });
          req.destroy();
        },
        Math.max(1, request.timeoutMs),
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const blocked = err instanceof BlockedAddressError || (err as { cause?: unknown }).cause instanceof BlockedAddressError;
        const kind = blocked ? 'blocked' : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'dns' : 'connection';
        finish({ kind, message: err.code ? `${err.code}: ${err.message}` : err.message });
      });
      if (request.body !== undefined) req.write(request.body);
      req.end();
    });
  }

  /** Closes idle keep-alive sockets (tests, CLI exit). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
