/** Session recordings: search, and the asciicast v2 file. */
import { z } from 'zod';
import type { RecordingMeta } from '../../recording/recorder.js';
import { errors, json, text, UNAUTHENTICATED, type ApiOperation } from './operation.js';
import { schemaOf } from './typed.js';

const recordingMeta = schemaOf<RecordingMeta>()(
  z
    .object({
      id: z.string().describe('The SSH session id (as in session.start and session.end).'),
      user: z.string(),
      login: z.string(),
      node: z.string(),
      command: z.string().optional().describe('The exec command; absent for a shell.'),
      kind: z.enum(['shell', 'exec']),
      start: z.iso.datetime(),
      end: z.iso.datetime().optional(),
      cols: z.number().int(),
      rows: z.number().int(),
      term: z.string().optional(),
      bytes: z.number().int().describe('Output bytes seen (recorded or not).'),
      exit_code: z.number().int().nullable().optional(),
      exit_signal: z.string().optional(),
      sha256: z.string().optional().describe('SHA-256 of the .cast file, once closed.'),
      truncated: z.boolean().optional().describe('The size quota stopped the recording early.'),
      complete: z.boolean().optional().describe('Absent until the session ends: a crash leaves a playable prefix without it.'),
    })
    .meta({ description: 'One recording’s metadata.' }),
);

const recordingList = z.object({ recordings: z.array(recordingMeta) }).meta({ description: 'Matching recordings, newest first.' });

const time = (description: string) => z.string().optional().describe(`${description} YYYY-MM-DD or RFC 3339.`);

export const recordingOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/recordings',
    tag: 'recordings',
    summary: 'Search recordings (auditors see every one, anyone else their own)',
    auth: 'principal',
    query: z.object({
      user: z.string().optional(),
      node: z.string().optional(),
      q: z.string().optional().describe('Case-insensitive text in the session’s output.'),
      from: time('Sessions that started at or after this.'),
      to: time('Sessions that started at or before this (a date: the end of that day).'),
      limit: z.number().int().min(1).max(1000).default(100),
    }),
    responses: {
      200: json('The recordings.', 'RecordingList', recordingList),
      ...errors({ 400: '`from` or `to` is not a date or time (`invalid_request`).', ...UNAUTHENTICATED }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/recordings/{id}',
    tag: 'recordings',
    summary: 'Download a recording (asciicast v2; audited as recording.access)',
    auth: 'principal',
    pathParams: z.object({ id: z.string().describe('The recording (session) id, a UUID.') }),
    responses: {
      200: text(
        'The .cast file: playable by `asciinema play` and `gatehouse play`.',
        'application/x-asciicast',
        'A JSON header line, then one event per line.',
      ),
      ...errors({
        400: 'The id is not a session id (`invalid_recording_id`).',
        ...UNAUTHENTICATED,
        404: 'No such recording, or one the caller may not see (`recording_not_found`).',
      }),
    },
  },
];
