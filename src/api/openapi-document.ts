/**
 * The OpenAPI 3.1 document served at /api/v1/openapi.json, generated from the
 * route table itself so every route is documented and nothing else is.
 */
import type { ApiRouter } from './api-router.js';

/** OpenAPI path of a router pattern: `:name` becomes `{name}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z_]\w*)/g, '{$1}');
}

/** Builds the document. */
export function openApiDocument(router: ApiRouter, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of router.routes) {
    const path = openApiPath(route.path);
    const item = paths[path] ?? {};
    paths[path] = item;
    const params = [...route.path.matchAll(/:([A-Za-z_]\w*)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const responses: Record<string, unknown> = {};
    for (const [status, [type, description]] of Object.entries(route.doc.responses)) {
      responses[status] = {
        description,
        content: { [type]: { schema: type.startsWith('application/json') ? { type: 'object' } : { type: 'string' } } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase()) || 'Root'}`,
      tags: [route.doc.tag],
      summary: route.doc.summary,
      responses,
    };
    if (route.doc.description) op.description = route.doc.description;
    if (params.length > 0) op.parameters = params;
    if (route.doc.query) op['x-raw-query'] = route.doc.query;
    if (route.doc.requestBody) {
      const [type, description] = route.doc.requestBody;
      op.requestBody = {
        required: true,
        description,
        content: { [type]: { schema: type.startsWith('application/json') ? { type: 'object' } : { type: 'string' } } },
      };
    }
    if (route.destructive) op['x-refused-cross-site'] = true;
    item[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Velovision Rearview camera API',
      version,
      description:
        'The device\'s documented plain-text API (tag legacy) and the JSON API under /api/v1. JSON errors are {"error":{"code","message"}}. With an API token every request needs Authorization: Bearer TOKEN or the pairing cookie (POST /api/v1/pair); never a token in the URL.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
