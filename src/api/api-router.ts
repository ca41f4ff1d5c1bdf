/**
 * A small method + path router for node:http. Patterns are literal segments
 * and `:name` parameters (one segment each). The route table is also the
 * source of the OpenAPI document, so the two cannot drift apart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** HTTP methods the API uses. */
export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';

/** A request as handlers see it. */
export interface ApiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  pathname: string;
  /** The raw query after '?' (legacy routes take a bare path here). */
  rawQuery: string;
  query: URLSearchParams;
  /** Decoded `:name` parameters. */
  params: Record<string, string>;
}

/** Documentation of one route, rendered into the OpenAPI document. */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** 'legacy' for the device's documented API, 'v1' for /api/v1, 'ops' for /metrics. */
  tag: 'legacy' | 'v1' | 'ops';
  /** Status code -> [content type, description]. */
  responses: Record<string, [string, string]>;
  /** Request body content type and description. */
  requestBody?: [string, string];
  /** Query parameters (name -> description). */
  query?: Record<string, string>;
}

/** One route. */
export interface Route {
  method: Exclude<HttpMethod, 'HEAD'>;
  /** '/api/v1/recordings/:name' style pattern. */
  path: string;
  /**
   * Changes state: refused for cross-site browser requests and, without an
   * API token, for clients outside the trusted networks.
   */
  destructive?: boolean;
  /** Answers without the API token (pairing checks the token itself). */
  public?: boolean;
  doc: RouteDoc;
  handler: (request: ApiRequest) => void | Promise<void>;
}

/** Result of a lookup. */
export type RouteMatch =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'bad-path' }
  | { kind: 'none'; allowed: string[] };

/** The route table. */
export class ApiRouter {
  readonly routes: Route[] = [];

  add(route: Route): this {
    this.routes.push(route);
    return this;
  }

  /** Finds the route for `method` (HEAD uses GET) and `pathname`. */
  match(method: string, pathname: string): RouteMatch {
    const want = method === 'HEAD' ? 'GET' : method;
    const parts = pathname.split('/');
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchPattern(route.path, parts);
      if (params === undefined) continue;
      if (params === null) return { kind: 'bad-path' };
      if (route.method === want) return { kind: 'found', route, params };
      allowed.push(route.method);
    }
    return { kind: 'none', allowed };
  }
}

/** undefined: no match; null: matched but a parameter is malformed. */
function matchPattern(pattern: string, parts: string[]): Record<string, string> | undefined | null {
  const pp = pattern.split('/');
  if (pp.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  let bad = false;
  for (let i = 0; i < pp.length; i++) {
    const p = pp[i] as string;
    const v = parts[i] as string;
    if (p.startsWith(':')) {
      if (v === '') return undefined;
      try {
        const decoded = decodeURIComponent(v);
        // Parameters name files: a decoded separator or NUL is a trick, never a name.
        if (/[\0/\\]/.test(decoded) || decoded === '.' || decoded === '..') bad = true;
        params[p.slice(1)] = decoded;
      } catch {
        bad = true;
      }
    } else if (p !== v) return undefined;
  }
  return bad ? null : params;
}
