/**
 * The OpenAPI 3.1 description of Gatehouse's JSON API, generated from the zod schemas of each
 * area (./identity.ts, kube, ssh, db, audit, recordings, issuer): JSON bodies the gateway sends are
 * components (output types, every field listed), what clients send is described as they write it.
 */
import { createRequire } from 'node:module';
import { z } from 'zod';
import { auditOperations } from './audit.js';
import { dbOperations } from './db.js';
import { errorBody } from './errors.js';
import { identityOperations } from './identity.js';
import { issuerOperations } from './issuer.js';
import { kubeOperations } from './kube.js';
import { json, type ApiOperation, type ApiResponse } from './operation.js';
import { recordingOperations } from './recordings.js';
import { sshOperations } from './ssh.js';
import { requestOperations } from './requests.js';

type JsonSchema = Record<string, unknown>;

const openapiOperation: ApiOperation = {
  method: 'get',
  path: '/api/v1/openapi.json',
  tag: 'meta',
  summary: 'This document',
  auth: 'none',
  responses: { 200: json('The OpenAPI 3.1 document.', 'OpenApiDocument', z.record(z.string(), z.unknown()).meta({ description: 'An OpenAPI 3.1 document.' })) },
};

const OPERATIONS: ApiOperation[] = [
  openapiOperation,
  ...identityOperations,
  ...kubeOperations,
  ...sshOperations,
  ...dbOperations,
  ...auditOperations,
  ...recordingOperations,
  ...requestOperations,
  ...issuerOperations,
];

const TAGS = [
  { name: 'identity', description: 'The caller.' },
  { name: 'kube', description: 'Kubernetes clusters and their artefacts.' },
  { name: 'ssh', description: 'SSH certificate authorities, nodes and user certificates.' },
  { name: 'db', description: 'Databases and their short-lived client certificates.' },
  { name: 'audit', description: 'The tamper-evident audit log.' },
  { name: 'recordings', description: 'Session recordings (asciicast v2).' },
  { name: 'requests', description: 'Just-in-time access requests: ask, review, withdraw.' },
  { name: 'oauth', description: 'The OIDC issuer and the CLI’s OAuth endpoints (listed in discovery).' },
  { name: 'meta', description: 'This description.' },
];

const DEFAULT_RESPONSE = json('Any other answer (5xx included): the shared error body.', 'Error', errorBody);

const SECURITY: Record<ApiOperation['auth'], Record<string, string[]>[]> = {
  principal: [{ session: [] }, { bearer: [] }],
  optional: [{}, { session: [] }, { bearer: [] }],
  none: [],
};

/** A standalone JSON Schema without the `$schema`/`$id` that the document's dialect already gives. */
const bare = ({ $schema: _s, $id: _i, ...rest }: JsonSchema): JsonSchema => rest;
const input = (schema: z.ZodType): JsonSchema => bare(z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as JsonSchema);

/** Query or path parameters, one per property of the object schema (an array is a repeatable parameter: `type=a&type=b`). */
function parameters(where: 'query' | 'path', schema: z.ZodObject | undefined): JsonSchema[] {
  if (!schema) return [];
  const { properties = {}, required = [] } = input(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(properties).map(([name, { description, ...property }]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    ...(description ? { description } : {}),
    schema: property,
  }));
}

/** `sessionCookie`: the session cookie's name as this gateway sets it (`__Host-` prefixed over https). */
export function openApiDocument(publicUrl: string, sessionCookie: string): JsonSchema {
  // Every JSON response body is a named component; shared ones (AuditEvent in AuditPage) become $refs.
  const registry = z.registry<{ id: string }>();
  const named = new Map<string, z.ZodType>();
  const responsesOf = (op: ApiOperation): Record<string, ApiResponse> => ({ ...op.responses, default: DEFAULT_RESPONSE });
  for (const op of OPERATIONS)
    for (const response of Object.values(responsesOf(op)))
      for (const body of Object.values(response.content ?? {})) {
        if (body.kind !== 'json') continue;
        const known = named.get(body.name);
        if (known && known !== body.schema) throw new Error(`two schemas are named ${body.name}`);
        if (!known) registry.add(body.schema, { id: body.name });
        named.set(body.name, body.schema);
      }
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', uri: (id) => `#/components/schemas/${id}` }) as {
    schemas: Record<string, JsonSchema>;
  };

  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) {
    const responses = Object.fromEntries(
      Object.entries(responsesOf(op)).map(([status, { description, content }]) => [
        status,
        {
          description,
          ...(content && {
            content: Object.fromEntries(
              Object.entries(content).map(([media, body]) => [
                media,
                { schema: body.kind === 'json' ? { $ref: `#/components/schemas/${body.name}` } : { type: 'string', description: body.description } },
              ]),
            ),
          }),
        },
      ]),
    );
    const params = [...parameters('path', op.pathParams), ...parameters('query', op.query)];
    (paths[op.path] ??= {})[op.method] = {
      tags: [op.tag],
      summary: op.summary,
      ...(op.description && { description: op.description }),
      operationId: operationId(op),
      security: SECURITY[op.auth],
      ...(params.length && { parameters: params }),
      ...(op.body && { requestBody: { required: op.body.required ?? false, content: { [op.body.media]: { schema: input(op.body.schema) } } } }),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse API',
      version: VERSION,
      description:
        'The JSON API of a Gatehouse gateway (`/api/v1/`), its OIDC issuer and the CLI’s OAuth endpoints. ' +
        'Callers authenticate with the browser session cookie or `Authorization: Bearer <gateway token>` (what `gatehouse login` gets). ' +
        'Errors are `{ error, message, request_id }` with a stable code (docs/errors.md); the OAuth endpoints answer RFC 6749 errors.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: publicUrl }],
    tags: TAGS,
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, schema]) => [id, bare(schema)])),
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: sessionCookie, description: 'The browser session (set by signing in at /login).' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A gateway token (audience `gatehouse`), as `gatehouse login` stores it.' },
      },
    },
  };
}

/** `GET /api/v1/audit/events/{id}` → `getApiV1AuditEventsById`. */
function operationId(op: ApiOperation): string {
  const words = op.path
    .split(/[/._-]+/)
    .filter(Boolean)
    .map((w) => (w.startsWith('{') ? `By${w.slice(1, 2).toUpperCase()}${w.slice(2, -1)}` : w));
  return op.method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
