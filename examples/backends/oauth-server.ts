/**
 * A real OAuth 2.0 authorization server for the demo and the tests: `oauth2-mock-server` (RS256
 * signed JWT access tokens, a JWKS at `/jwks`) on 127.0.0.1, with what it lacks added in its hooks:
 * it checks the client's credentials (RFC 6749 §2.3.1, HTTP Basic or the form body; a wrong one is
 * a 401 `invalid_client`, §5.2), gives each token a `jti` (two tokens signed within one second are
 * otherwise identical), and issues tokens of `expiresInSeconds`.
 */
import { randomUUID } from 'node:crypto';
import { Events, OAuth2Server, type MutableResponse, type MutableToken, type TokenRequestIncomingMessage } from 'oauth2-mock-server';

export interface OAuthServerOptions {
  clientId: string;
  clientSecret: string;
  /** Lifetime of the tokens issued, seconds. @default 3600 */
  expiresInSeconds?: number;
}

export interface OAuthServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  tokenEndpoint: string;
  jwksUrl: string;
  /** Token requests answered (refused ones included). */
  readonly tokenRequests: number;
  /** The oauth2-mock-server instance (tests change its answers through `server.service` events). */
  server: OAuth2Server;
  close(): Promise<void>;
}

function decodeForm(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/** The client id and secret a token request authenticated with, by HTTP Basic or the form body. */
function clientOf(req: TokenRequestIncomingMessage): { id?: string; secret?: string } {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic !== undefined) {
    const [id = '', secret = ''] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    return { id: decodeForm(id), secret: decodeForm(secret) };
  }
  const body = req.body as unknown as Record<string, unknown>;
  return { ...(typeof body['client_id'] === 'string' ? { id: body['client_id'] } : {}), ...(typeof body['client_secret'] === 'string' ? { secret: body['client_secret'] } : {}) };
}

export async function startOAuthServer(options: OAuthServerOptions): Promise<OAuthServer> {
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  const expiresIn = options.expiresInSeconds ?? 3600;
  let tokenRequests = 0;
  server.service.on(Events.BeforeTokenSigning, (token: MutableToken) => {
    token.payload['jti'] = randomUUID();
    token.payload['exp'] = Math.floor(Date.now() / 1000) + expiresIn;
  });
  server.service.on(Events.BeforeResponse, (response: MutableResponse, req: TokenRequestIncomingMessage) => {
    tokenRequests++;
    const client = clientOf(req);
    if (client.id !== options.clientId || client.secret !== options.clientSecret) {
      response.statusCode = 401;
      response.body = { error: 'invalid_client', error_description: 'client authentication failed' };
    } else if (typeof response.body === 'object') response.body['expires_in'] = expiresIn;
  });
  // issuer.url says localhost whatever address the server listens on: use the bound one.
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    tokenEndpoint: `${url}/token`,
    jwksUrl: `${url}/jwks`,
    get tokenRequests() {
      return tokenRequests;
    },
    server,
    close: () => server.stop(),
  };
}
