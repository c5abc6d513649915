/**
 * The HTTP API's routes, per function — read by the CDK stack (to create routes), by the
 * handlers (to dispatch on `routeKey`) and by the local server (to match requests).
 */
export const ROUTES = {
  flowApi: [
    'PUT /flows/{flowId}',
    'GET /flows/{flowId}',
    'GET /flows/{flowId}/graph',
    'GET /flows/{flowId}/versions',
    'GET /flows',
    'DELETE /flows/{flowId}',
    'POST /flows/validate',
    'GET /circuits',
    'GET /circuits/{key}',
    'DELETE /circuits/{key}',
    'PUT /connections/{name}',
    'GET /connections/{name}',
    'GET /connections',
    'DELETE /connections/{name}',
    'PUT /workflow-configurations/{configurationId}',
    'GET /workflow-configurations/{configurationId}',
    'DELETE /workflow-configurations/{configurationId}',
    'GET /executions',
    'GET /audit',
  ],
  flowExecutor: ['POST /flows/{flowId}/executions', 'GET /flows/{flowId}/executions', 'GET /executions/{executionId}'],
  /** Authenticated by the callback token and the webhook signature, not by the API's authorizer. */
  webhookCallback: ['POST /callbacks/{token}'],
  agentEvents: ['PUT /agents/{agentId}/custom-event', 'POST /agents/{agentId}/session', 'DELETE /agents/{agentId}/session', 'GET /agents/{agentId}/next-event'],
} as const satisfies Record<string, readonly string[]>;

/** A function that serves routes: a key of {@link ROUTES}. */
export type FunctionName = keyof typeof ROUTES;

/**
 * Matches a method and path against route keys (API Gateway semantics: literal segments beat
 * `{param}` segments).
 * @returns the route key and path parameters, or undefined.
 */
export function matchRoute(method: string, path: string, routeKeys: readonly string[]): { routeKey: string; pathParameters: Record<string, string> } | undefined {
  const segments = path.split('/').filter(Boolean);
  let best: { routeKey: string; pathParameters: Record<string, string>; literals: number } | undefined;
  for (const routeKey of routeKeys) {
    const [m, template] = routeKey.split(' ') as [string, string];
    if (m !== method) continue;
    const parts = template.split('/').filter(Boolean);
    if (parts.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    let literals = 0;
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const part = parts[i]!;
      const seg = segments[i]!;
      if (part.startsWith('{')) {
        try {
          pathParameters[part.slice(1, -1)] = decodeURIComponent(seg);
        } catch {
          ok = false;
        }
      } else if (part === seg) literals++;
      else ok = false;
    }
    if (ok && (!best || literals > best.literals)) best = { routeKey, pathParameters, literals };
  }
  return best && { routeKey: best.routeKey, pathParameters: best.pathParameters };
}
