// Crash safety: a child process writing a burst is killed with SIGKILL; after a restart every event
// it had acknowledged is stored and the chain verifies. For the file backend we also tear the last
// line (what a power cut mid-write leaves): it is moved aside and the chain continues with an
// `audit.recovered` event. SIGKILL itself can cut a write(2) short between pages, so the tail
// moved aside may start with a partial line of events that were never acknowledged.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditFiles, createFileAuditBackend } from '../../src/audit/file.js';
import { createPostgresAuditBackend } from '../../src/audit/postgres.js';
import type { AuditBackend } from '../../src/audit/reader.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres } from '../helpers/peers/postgres.js';
import { startChild } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the burst writer until it has acknowledged `acks` events, then SIGKILLs it. */
async function burstAndKill(args: string[], acks: number): Promise<string[]> {
  const child = startChild(process.execPath, ['--import', 'tsx', 'test/helpers/gateways/audit-burst.ts', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  }).child;
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.split('\n').length > acks) resolve();
    });
    child.on('exit', (code) => reject(new Error(`writer exited (${code}) before ${acks} acks:\n${err}`)));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  // Only complete lines are acknowledged ids.
  return out.split('\n').slice(0, -1);
}

async function storedIds(b: AuditBackend): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { event } of b.scan({ limit: 1, order: 'asc' })) ids.add(event.id);
  return ids;
}

test('file backend: SIGKILL mid-burst loses no acknowledged event; a torn tail is recovered', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-audit-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const acked = await burstAndKill(['file', dir], 2000);
  const [file] = auditFiles(dir).slice(-1);
  const torn = '{"id":"00000000-0000-4000-8000-000000000000","time":"2026-';
  appendFileSync(file, torn);

  const b = createFileAuditBackend({ dir });
  t.after(() => b.close());
  const recovered = await new Promise<AuditEvent>((resolve, reject) => {
    const poll = async (tries: number) => {
      const page = await b.query({ types: ['audit.recovered'], limit: 1, order: 'desc' });
      if (page.events[0]) resolve(page.events[0]);
      else if (tries > 100) reject(new Error('no audit.recovered event'));
      else setTimeout(() => poll(tries + 1), 20);
    };
    void poll(0);
  });
  const stored = await storedIds(b);
  const missing = acked.filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged events missing`);
  const aside = join(dir, String(recovered.details?.moved_to));
  assert.ok(existsSync(aside), 'torn bytes kept for inspection');
  const movedAside = readFileSync(aside, 'utf8');
  assert.equal(recovered.details?.bytes, Buffer.byteLength(movedAside));
  assert.ok(movedAside.endsWith(torn), 'the torn line is what was moved aside');
  assert.ok(!movedAside.includes('\n'), `only the unfinished last line was moved aside: ${JSON.stringify(movedAside.slice(0, 200))}`);
  const next = await b.emit({ type: 'user.login', outcome: 'success', user: 'after-restart' });
  assert.equal(next.prev_hash, recovered.hash);
  const result = await b.verify();
  assert.equal(result.ok, true, JSON.stringify(result.break));
  assert.ok(result.events >= acked.length + 2);
});

test('PostgreSQL backend: SIGKILL mid-burst loses no acknowledged event', async (t: TestContext) => {
  if (!(await requirePostgres(t))) return;
  const schema = freshSchema('audit_crash');
  const spool = mkdtempSync(join(tmpdir(), 'gh-audit-crash-spool-'));
  t.after(async () => {
    await dropSchema(schema);
    rmSync(spool, { recursive: true, force: true });
  });
  const acked = await burstAndKill(['postgres', PG_URL, schema, spool], 1500);
  const b = createPostgresAuditBackend({ url: PG_URL, schema, spoolDir: spool });
  t.after(() => b.close());
  const stored = await storedIds(b);
  const missing = acked.filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged events missing`);
  const result = await b.verify();
  assert.equal(result.ok, true, JSON.stringify(result.break));
  assert.equal(result.events, stored.size);
});
