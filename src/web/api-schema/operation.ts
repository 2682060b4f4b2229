/**
 * How an area of the API describes its operations (one file per area, assembled by openapi.ts).
 * Every JSON body is a zod schema: responses become named components, inputs (query, path,
 * request bodies) are described as the client writes them.
 */
import type { z } from 'zod';
import { errorBody } from './errors.js';

/** A response body: JSON with a named schema (a component), or text of the response's media type. */
export type Body = { kind: 'json'; name: string; schema: z.ZodType } | { kind: 'text'; description: string };

export interface ApiResponse {
  description: string;
  /** Media type → body. */
  content?: Record<string, Body>;
}

export interface ApiOperation {
  method: 'get' | 'post' | 'delete';
  /** An OpenAPI path template: `/api/v1/audit/events/{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** `principal`: a session cookie or gateway bearer token is required; `optional`: used when sent; `none`: public. */
  auth: 'principal' | 'optional' | 'none';
  query?: z.ZodObject;
  pathParams?: z.ZodObject;
  body?: { media: 'application/json' | 'application/x-www-form-urlencoded'; schema: z.ZodType; required?: boolean };
  /** By status; every other status (5xx included) answers the shared error body (`default`). */
  responses: Record<number, ApiResponse>;
}

export const json = (description: string, name: string, schema: z.ZodType): ApiResponse => ({
  description,
  content: { 'application/json': { kind: 'json', name, schema } },
});

export const text = (description: string, media: string, body: string): ApiResponse => ({
  description,
  content: { [media]: { kind: 'text', description: body } },
});

/** The shared error body (`{ error, message, request_id }`, src/web/errors.ts) for each status, with what it means here. */
export const errors = (meanings: Record<number, string>): Record<number, ApiResponse> =>
  Object.fromEntries(Object.entries(meanings).map(([status, description]) => [status, json(description, 'Error', errorBody)]));

/** What every operation that needs a principal may answer. */
export const UNAUTHENTICATED = { 401: 'No session or bearer token (`unauthenticated`), or the token was refused (`invalid_token`, `token_revoked`).' };
