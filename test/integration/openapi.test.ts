/**
 * GET /api/v1/openapi.json against a real gateway:
 * - the document is a valid OpenAPI 3.1 description (the official meta-schema);
 * - every operation it describes is called for real, signed in (session cookie or the CLI's
 *   bearer token) and with bad input, and every answer's status, media type and body match what
 *   the document says for that path, method and status (ajv, draft 2020-12);
 * - a described operation that no check here answered fails the run, and so does an /api/v1
 *   route in src/web/routes/ that the document lacks.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createRecorder } from '../../src/recording/recorder.js';
import { Browser } from '../helpers/browsers/browser.js';
import { logIn } from '../helpers/browsers/sign-in.js';
import { CLI_CLIENT, cliLogin } from '../helpers/gateways/cli-oauth.js';
import { alice, bob, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { closedPort } from '../helpers/peers/services.js';

const ROUTES_DIR = fileURLToPath(new URL('../../src/web/routes/', import.meta.url));
/**
 * /api/v1 routes the document does not describe yet, as `file: method path`. Only for routes that
 * landed without their description: add it under src/web/api-schema/ (and a check here), then
 * remove the entry.
 */
const UNDESCRIBED_ROUTES = new Set<string>([]);

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
}

let s: SsoSetup;
let dir: string;
let doc: OpenApi;
let refreshToken: string;
const ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
addFormats.default(ajv);
// The document's own keywords: ajv reads the schemas inside it by JSON pointer.
ajv.addVocabulary(['openapi', 'info', 'servers', 'tags', 'paths', 'components']);

/** Who calls: a browser session, the CLI's bearer token, or nobody. */
type Caller = { cookie: string } | { bearer: string } | null;
const callers: Record<'alice' | 'aliceCli' | 'bob', Caller> = { alice: null, aliceCli: null, bob: null };

/** `${method} ${path}` of every operation a 2xx answer was checked for, and every status checked. */
const answered = new Set<string>();
const statusesSeen: string[] = [];

const pointer = (...segments: string[]) => `openapi.json#/${segments.map((p) => encodeURIComponent(p.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/')}`;

interface Answer {
  status: number;
  media: string;
  text: string;
  body: unknown;
}

/**
 * Calls the gateway and checks the answer against the document's response for (path, method,
 * status), falling back to `default`: the media type is one it lists and a JSON body validates.
 */
async function call(
  method: 'get' | 'post' | 'delete',
  path: string,
  url: string,
  caller: Caller,
  options: { json?: unknown; form?: Record<string, string>; accept?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (caller && 'cookie' in caller) headers.cookie = caller.cookie;
  if (caller && 'bearer' in caller) headers.authorization = `Bearer ${caller.bearer}`;
  if (options.accept) headers.accept = options.accept;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  }
  const res = await fetch(`${s.gw.url}${url}`, { method: method.toUpperCase(), headers, body, redirect: 'manual' });
  const text = await res.text();
  const media = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  const operation = doc.paths[path]?.[method];
  assert.ok(operation, `the document describes ${method} ${path}`);
  const status = String(res.status) in operation.responses ? String(res.status) : 'default';
  const content = operation.responses[status].content ?? {};
  assert.ok(media in content, `${method} ${url} → ${res.status} ${media}: the document lists ${Object.keys(content).join(', ') || 'no body'} for ${status}`);
  let parsed: unknown = text;
  if (media === 'application/json' || media.endsWith('+json')) {
    parsed = JSON.parse(text);
    const validate = ajv.getSchema(pointer('paths', path, method, 'responses', status, 'content', media, 'schema'))!;
    assert.ok(validate(parsed), `${method} ${url} → ${res.status}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 2000)}`);
  }
  if (media === 'application/x-ndjson') {
    const event = ajv.getSchema('openapi.json#/components/schemas/AuditEvent')!;
    for (const line of text.split('\n').filter(Boolean)) assert.ok(event(JSON.parse(line)), `${url}: ${ajv.errorsText(event.errors)}`);
  }
  if (res.status >= 200 && res.status < 300) answered.add(`${method} ${path}`);
  statusesSeen.push(`${method} ${path} ${res.status}`);
  return { status: res.status, media, text, body: parsed };
}

const errorOf = (answer: Answer) => (answer.body as { error?: string }).error;

/** An OpenSSH public key line, made here (no ssh-keygen needed). */
function publicKeyLine(): string {
  const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} openapi-test`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-openapi-'));
  writeFileSync(join(dir, 'prod-ca.pem'), '-----BEGIN CERTIFICATE-----\nnot used by this test\n-----END CERTIFICATE-----\n');
  writeFileSync(join(dir, 'sa-token'), randomBytes(16).toString('hex'), { mode: 0o600 });
  s = await startSso({
    roles: [
      {
        name: 'admin',
        kubernetes_groups: ['platform-admins'],
        logins: ['ops'],
        node_labels: { env: ['*'] },
        audit: 'read',
        cluster_artefacts: true,
        ssh_ca_admin: true,
        databases: [{ labels: { env: '*' }, users: ['postgres', '{{username}}'], names: ['*'] }],
      },
      {
        name: 'developer',
        kubernetes_groups: ['developers'],
        logins: ['dev'],
        node_labels: { env: ['dev'] },
        databases: [{ labels: { env: 'dev' }, users: ['{{username}}'], names: ['app'] }],
        request: { roles: ['prod-admin'], reviewers: { roles: ['admin'], approvals: 1 }, require_reason: true },
      },
      { name: 'prod-admin', kubernetes_groups: ['prod-admins'], requestable: true, max_duration: '2h' },
    ],
    mappings: [
      { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
      { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
    ],
    clusters: [
      { name: 'prod', audience: 'gatehouse:prod', api_server: 'https://10.0.0.1:6443', ca_file: join(dir, 'prod-ca.pem') },
      { name: 'eks', audience: 'gatehouse:eks', mode: 'proxy', api_server: `https://127.0.0.1:${await closedPort()}`, token_file: join(dir, 'sa-token') },
    ],
    kube_proxy: { listen: '127.0.0.1:0' },
    tokenreview: { bearer_token: randomBytes(16).toString('hex') },
    ssh: { listen: '127.0.0.1:0', nodes: [{ name: 'web-1', addr: '127.0.0.1:22', labels: { env: 'dev' } }] },
    recordings: { dir: join(dir, 'recordings') },
    // Listing databases and issuing certificates never contacts the database: nothing listens there.
    databases: [{ name: 'orders-pg', protocol: 'postgres', address: `127.0.0.1:${await closedPort()}`, labels: { env: 'dev' }, tls: { mode: 'disable' } }],
    db: { listen: `127.0.0.1:${await closedPort()}` },
  });
  const session = async (user: typeof alice) => {
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', user);
    return browser;
  };
  const aliceBrowser = await session(alice);
  const cookieOf = (browser: Browser) => ({
    cookie: Object.entries(browser.cookies('127.0.0.1'))
      .map(([k, v]) => `${k}=${v}`)
      .join('; '),
  });
  callers.alice = cookieOf(aliceBrowser);
  callers.bob = cookieOf(await session(bob));
  // The CLI's login (code + PKCE at /oauth/token): its access token is the bearer principal.
  const tokens = await cliLogin(aliceBrowser, s.gw.url);
  assert.ok(tokens.access_token, JSON.stringify(tokens));
  callers.aliceCli = { bearer: tokens.access_token };
  refreshToken = tokens.refresh_token;

  const fetched = await fetch(`${s.gw.url}/api/v1/openapi.json`);
  assert.equal(fetched.status, 200);
  doc = (await fetched.json()) as OpenApi;
  ajv.addSchema(doc, 'openapi.json');
});
after(async () => {
  await s?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('OpenAPI description', () => {
  test('is a valid OpenAPI 3.1 document, served publicly as JSON', async () => {
    const result = await new Validator().validate(structuredClone(doc) as unknown as Record<string, unknown>);
    assert.deepEqual(result, { valid: true });
    assert.match(doc.openapi, /^3\.1\./);
    const answer = await call('get', '/api/v1/openapi.json', '/api/v1/openapi.json', null);
    assert.equal(answer.status, 200);
    assert.equal(answer.media, 'application/json');
    assert.deepEqual(answer.body, doc);
  });

  test('identity: whoami with a session, with a bearer token, and without either', async () => {
    const withSession = await call('get', '/api/v1/whoami', '/api/v1/whoami', callers.alice);
    assert.equal(withSession.status, 200);
    assert.equal((withSession.body as { username: string }).username, 'alice');
    assert.notEqual((withSession.body as { session: unknown }).session, null);
    const withToken = await call('get', '/api/v1/whoami', '/api/v1/whoami', callers.aliceCli);
    assert.equal((withToken.body as { session: unknown }).session, null);
    const anonymous = await call('get', '/api/v1/whoami', '/api/v1/whoami', null);
    assert.equal(anonymous.status, 401);
    assert.equal(errorOf(anonymous), 'unauthenticated');
    const forged = await call('get', '/api/v1/whoami', '/api/v1/whoami', { bearer: 'not-a-token' });
    assert.equal(forged.status, 401);
    assert.equal(errorOf(forged), 'invalid_token');
    await s.gw.waitForEvent((e) => e.type === 'auth.token_rejected' && e.outcome === 'failure');
  });

  test('kube: clusters and the artefacts, refused without cluster_artefacts', async () => {
    const clusters = await call('get', '/api/v1/kube/clusters', '/api/v1/kube/clusters', callers.alice);
    assert.deepEqual(
      (clusters.body as { clusters: { name: string; mode: string }[] }).clusters.map((c) => [c.name, c.mode]),
      [
        ['prod', 'oidc'],
        ['eks', 'proxy'],
      ],
    );
    assert.equal((await call('get', '/api/v1/kube/clusters', '/api/v1/kube/clusters', null)).status, 401);
    const apiserver = await call('get', '/api/v1/kube/artefacts/apiserver-config', '/api/v1/kube/artefacts/apiserver-config?cluster=prod', callers.aliceCli);
    assert.equal(apiserver.status, 200);
    assert.match(apiserver.text, /AuthenticationConfiguration/);
    const unknown = await call('get', '/api/v1/kube/artefacts/apiserver-config', '/api/v1/kube/artefacts/apiserver-config?cluster=nope', callers.aliceCli);
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown), 'unknown_cluster');
    for (const kind of ['rbac', 'webhook-config'])
      assert.equal((await call('get', `/api/v1/kube/artefacts/${kind}`, `/api/v1/kube/artefacts/${kind}`, callers.alice)).status, 200);
    const refused = await call('get', '/api/v1/kube/artefacts/rbac', '/api/v1/kube/artefacts/rbac', callers.bob);
    assert.equal(refused.status, 403);
    assert.equal(errorOf(refused), 'cluster_artefacts_forbidden');
    await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob' && e.reason === 'cluster_artefacts_forbidden');
  });

  test('ssh: CA lines, nodes, a certificate and its revocation, CA rotation, and refusals', async () => {
    for (const type of ['user', 'host']) assert.equal((await call('get', '/api/v1/ssh/ca', `/api/v1/ssh/ca?type=${type}`, null)).status, 200);
    assert.equal((await call('get', '/api/v1/ssh/ca', '/api/v1/ssh/ca?type=host', callers.alice)).status, 200);
    const badType = await call('get', '/api/v1/ssh/ca', '/api/v1/ssh/ca?type=root', null);
    assert.equal(badType.status, 400);
    assert.equal(errorOf(badType), 'invalid_request');

    const nodes = await call('get', '/api/v1/ssh/nodes', '/api/v1/ssh/nodes', callers.bob);
    assert.deepEqual((nodes.body as { nodes: { name: string; logins: string[] }[] }).nodes, [{ name: 'web-1', labels: { env: 'dev' }, logins: ['dev'] }]);

    const cert = await call('post', '/api/v1/ssh/certs', '/api/v1/ssh/certs', callers.alice, { json: { public_key: publicKeyLine() } });
    assert.equal(cert.status, 201, cert.text);
    const badKey = await call('post', '/api/v1/ssh/certs', '/api/v1/ssh/certs', callers.aliceCli, { json: { public_key: 'ssh-ed25519 nonsense' } });
    assert.equal(badKey.status, 400);
    assert.equal(errorOf(badKey), 'invalid_public_key');
    await s.gw.waitForEvent((e) => e.type === 'ssh.cert.issued' && e.outcome === 'failure' && e.reason === 'invalid_public_key');
    const noBody = await call('post', '/api/v1/ssh/certs', '/api/v1/ssh/certs', callers.aliceCli, { json: { key: 'x' } });
    assert.equal(errorOf(noBody), 'invalid_public_key');

    const { serial } = cert.body as { serial: string };
    const revoked = await call('post', '/api/v1/ssh/certs/revoke', '/api/v1/ssh/certs/revoke', callers.aliceCli, { json: { serial } });
    assert.equal(revoked.status, 200, revoked.text);
    assert.deepEqual(revoked.body, { revoked: { serial, user: 'alice' } });
    const all = await call('post', '/api/v1/ssh/certs/revoke', '/api/v1/ssh/certs/revoke', callers.bob, { json: { user: 'bob' } });
    assert.equal(all.status, 200);
    const foreign = await call('post', '/api/v1/ssh/certs/revoke', '/api/v1/ssh/certs/revoke', callers.bob, { json: { user: 'alice' } });
    assert.equal(foreign.status, 403);
    assert.equal(errorOf(foreign), 'revoke_forbidden');
    await s.gw.waitForEvent((e) => e.type === 'ssh.cert.revoked' && e.outcome === 'failure' && e.reason === 'revoke_forbidden');
    const unknown = await call('post', '/api/v1/ssh/certs/revoke', '/api/v1/ssh/certs/revoke', callers.bob, { json: { serial: '12345' } });
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown), 'cert_unknown');
    const neither = await call('post', '/api/v1/ssh/certs/revoke', '/api/v1/ssh/certs/revoke', callers.bob, { json: {} });
    assert.equal(neither.status, 400);
    assert.equal(errorOf(neither), 'invalid_request');

    const rotation = await call('get', '/api/v1/ssh/ca/rotation', '/api/v1/ssh/ca/rotation', null);
    assert.deepEqual(
      (rotation.body as { cas: { kind: string; phase: string }[] }).cas.map((c) => [c.kind, c.phase]),
      [
        ['user', 'standby'],
        ['host', 'standby'],
      ],
    );
    const init = await call('post', '/api/v1/ssh/ca/rotate', '/api/v1/ssh/ca/rotate', callers.aliceCli, { json: { kind: 'host', phase: 'init' } });
    assert.equal(init.status, 200, init.text);
    const outOfOrder = await call('post', '/api/v1/ssh/ca/rotate', '/api/v1/ssh/ca/rotate', callers.aliceCli, { json: { kind: 'host', phase: 'init' } });
    assert.equal(outOfOrder.status, 409);
    assert.equal(errorOf(outOfOrder), 'ssh_ca_phase');
    const notAdmin = await call('post', '/api/v1/ssh/ca/rotate', '/api/v1/ssh/ca/rotate', callers.bob, { json: { kind: 'user', phase: 'init' } });
    assert.equal(notAdmin.status, 403);
    assert.equal(errorOf(notAdmin), 'ssh_ca_forbidden');
    await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob' && e.reason === 'ssh_ca_forbidden');
  });

  test('db: the databases, a certificate, and refusals of db users and names the roles do not allow', async () => {
    const listed = await call('get', '/api/v1/db/databases', '/api/v1/db/databases', callers.alice);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual((listed.body as { databases: unknown[] }).databases, [
      {
        name: 'orders-pg',
        protocol: 'postgres',
        labels: { env: 'dev' },
        users: ['alice', 'postgres'],
        names: ['*', 'app'],
        connect: ['gatehouse db connect orders-pg --db-user alice', 'gatehouse db connect orders-pg --db-user postgres'],
      },
    ]);
    assert.match((listed.body as { address: string }).address, /^127\.0\.0\.1:\d+$/);
    const bobs = await call('get', '/api/v1/db/databases', '/api/v1/db/databases', callers.bob);
    assert.deepEqual(
      (bobs.body as { databases: { users: string[]; names: string[] }[] }).databases.map((d) => [d.users, d.names]),
      [[['bob'], ['app']]],
    );
    const anonymous = await call('get', '/api/v1/db/databases', '/api/v1/db/databases', null);
    assert.equal(anonymous.status, 401);
    assert.equal(errorOf(anonymous), 'unauthenticated');

    const issued = await call('post', '/api/v1/db/certs', '/api/v1/db/certs', callers.aliceCli, {
      json: { database: 'orders-pg', db_user: 'postgres', db_name: 'orders' },
    });
    assert.equal(issued.status, 201, issued.text);
    const cert = issued.body as { certificate: string; key: string; ca: string; db_user: string; db_name: string; serial: string };
    assert.deepEqual([cert.db_user, cert.db_name], ['postgres', 'orders']);
    const x509 = new X509Certificate(cert.certificate);
    assert.ok(x509.checkPrivateKey(createPrivateKey(cert.key)), 'the key is the certificate’s');
    assert.ok(x509.checkIssued(new X509Certificate(cert.ca)), 'signed by the database CA it sends');
    assert.equal(x509.serialNumber.toLowerCase(), cert.serial);
    await s.gw.waitForEvent((e) => e.type === 'db.cert.issued' && e.outcome === 'success' && e.user === 'alice');

    // bob's roles allow only db user bob on db name app.
    const otherUser = await call('post', '/api/v1/db/certs', '/api/v1/db/certs', callers.bob, { json: { database: 'orders-pg', db_user: 'postgres' } });
    assert.equal(otherUser.status, 403);
    assert.equal(errorOf(otherUser), 'db_user_not_allowed');
    await s.gw.waitForEvent(
      (e) =>
        e.type === 'db.cert.issued' && e.outcome === 'failure' && e.user === 'bob' && e.reason === 'db_user_not_allowed' && e.details?.db_user === 'postgres',
    );
    const otherName = await call('post', '/api/v1/db/certs', '/api/v1/db/certs', callers.bob, {
      json: { database: 'orders-pg', db_user: 'bob', db_name: 'orders' },
    });
    assert.equal(otherName.status, 403);
    assert.equal(errorOf(otherName), 'db_name_not_allowed');
    await s.gw.waitForEvent((e) => e.type === 'db.cert.issued' && e.outcome === 'failure' && e.user === 'bob' && e.reason === 'db_name_not_allowed');
    const unknown = await call('post', '/api/v1/db/certs', '/api/v1/db/certs', callers.bob, { json: { database: 'nope' } });
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown), 'unknown_database');
    const emptyUser = await call('post', '/api/v1/db/certs', '/api/v1/db/certs', callers.bob, { json: { database: 'orders-pg', db_user: '' } });
    assert.equal(emptyUser.status, 400);
    assert.equal(errorOf(emptyUser), 'invalid_request');
    await s.gw.waitForEvent((e) => e.type === 'db.cert.issued' && e.outcome === 'failure' && e.user === 'bob' && e.reason === 'invalid_request');
    assert.equal((await call('post', '/api/v1/db/certs', '/api/v1/db/certs', null, { json: { database: 'orders-pg' } })).status, 401);
  });

  test('audit: pages, exports, one event, verification, and refusals', async () => {
    const page = await call('get', '/api/v1/audit/events', '/api/v1/audit/events?limit=5&type=user.*', callers.alice);
    const { events } = page.body as { events: { id: string; type: string }[] };
    assert.ok(events.length > 0 && events.every((e) => e.type.startsWith('user.')));
    for (const format of ['ndjson', 'csv']) {
      const exported = await call('get', '/api/v1/audit/events', `/api/v1/audit/events?format=${format}&limit=20`, callers.aliceCli);
      assert.equal(exported.status, 200);
      assert.equal(exported.media, format === 'csv' ? 'text/csv' : 'application/x-ndjson');
    }
    const accepted = await call('get', '/api/v1/audit/events', '/api/v1/audit/events', callers.aliceCli, { accept: 'application/x-ndjson' });
    assert.equal(accepted.media, 'application/x-ndjson');
    const invalid = await call('get', '/api/v1/audit/events', '/api/v1/audit/events?limit=0', callers.alice);
    assert.equal(invalid.status, 400);
    assert.equal(errorOf(invalid), 'invalid_query');
    const foreign = await call('get', '/api/v1/audit/events', '/api/v1/audit/events?user=alice', callers.bob);
    assert.equal(foreign.status, 403);
    assert.equal(errorOf(foreign), 'audit_forbidden');
    await s.gw.waitForEvent((e) => e.type === 'audit.read' && e.outcome === 'failure' && e.user === 'bob');

    const one = await call('get', '/api/v1/audit/events/{id}', `/api/v1/audit/events/${events[0].id}`, callers.alice);
    assert.equal((one.body as { id: string }).id, events[0].id);
    const missing = await call('get', '/api/v1/audit/events/{id}', `/api/v1/audit/events/${randomUUID()}`, callers.alice);
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing), 'not_found');

    const verified = await call('get', '/api/v1/audit/verify', '/api/v1/audit/verify', callers.aliceCli);
    assert.equal((verified.body as { ok: boolean }).ok, true);
    const notAuditor = await call('get', '/api/v1/audit/verify', '/api/v1/audit/verify', callers.bob);
    assert.equal(notAuditor.status, 403);
    assert.equal(errorOf(notAuditor), 'audit_forbidden');
  });

  test('recordings: search and download, and refusals', async () => {
    const recorder = createRecorder({ dir: join(dir, 'recordings'), maxBytesPerSession: 1 << 20, recordInput: false });
    const id = randomUUID();
    const stream = recorder.start({ id, user: 'alice', login: 'ops', node: 'web-1', kind: 'shell', cols: 80, rows: 24, term: 'xterm' });
    stream.output(Buffer.from('hello from the openapi test\r\n'));
    stream.close({ exitCode: 0 });

    const list = await call('get', '/api/v1/recordings', '/api/v1/recordings?q=openapi', callers.alice);
    assert.deepEqual(
      (list.body as { recordings: { id: string }[] }).recordings.map((r) => r.id),
      [id],
    );
    const badTime = await call('get', '/api/v1/recordings', '/api/v1/recordings?from=yesterday', callers.alice);
    assert.equal(badTime.status, 400);
    assert.equal(errorOf(badTime), 'invalid_request');

    const cast = await call('get', '/api/v1/recordings/{id}', `/api/v1/recordings/${id}`, callers.aliceCli);
    assert.equal(cast.status, 200);
    assert.equal((JSON.parse(cast.text.split('\n')[0]) as { version: number }).version, 2);
    const notYours = await call('get', '/api/v1/recordings/{id}', `/api/v1/recordings/${id}`, callers.bob);
    assert.equal(notYours.status, 404);
    assert.equal(errorOf(notYours), 'recording_not_found');
    await s.gw.waitForEvent((e) => e.type === 'recording.access' && e.outcome === 'failure' && e.user === 'bob');
    const badId = await call('get', '/api/v1/recordings/{id}', '/api/v1/recordings/not-a-session', callers.alice);
    assert.equal(badId.status, 400);
    assert.equal(errorOf(badId), 'invalid_recording_id');
  });

  test('requests: ask, list, show, review, drop, and refusals', async () => {
    const created = await call('post', '/api/v1/requests', '/api/v1/requests', callers.bob, {
      json: { roles: ['prod-admin'], reason: 'INC-77', duration: '1h' },
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.body as { id: string }).id;
    const path = `/api/v1/requests/${id}`;
    assert.equal(
      errorOf(await call('post', '/api/v1/requests', '/api/v1/requests', callers.bob, { json: { roles: ['prod-admin'] } })),
      'request_reason_required',
    );
    assert.equal(
      errorOf(await call('post', '/api/v1/requests', '/api/v1/requests', callers.bob, { json: { roles: ['admin'], reason: 'x' } })),
      'request_role_not_allowed',
    );
    assert.equal(errorOf(await call('post', '/api/v1/requests', '/api/v1/requests', callers.bob, { json: { nope: 1 } })), 'invalid_request');
    assert.equal(errorOf(await call('post', '/api/v1/requests', '/api/v1/requests', null, { json: {} })), 'unauthenticated');

    const listed = await call('get', '/api/v1/requests', '/api/v1/requests?state=pending', callers.aliceCli);
    assert.ok((listed.body as { requests: { id: string; can_review: boolean }[] }).requests.some((r) => r.id === id && r.can_review));
    assert.equal(errorOf(await call('get', '/api/v1/requests', '/api/v1/requests?state=nope', callers.bob)), 'invalid_request');
    assert.equal((await call('get', '/api/v1/requests/{id}', path, callers.bob)).status, 200);
    assert.equal(errorOf(await call('get', '/api/v1/requests/{id}', '/api/v1/requests/unknown', callers.bob)), 'request_not_found');

    const review = (caller: Caller, body: unknown) => call('post', '/api/v1/requests/{id}/review', `${path}/review`, caller, { json: body });
    assert.equal(errorOf(await review(callers.bob, { decision: 'approve' })), 'request_self_review');
    assert.equal(errorOf(await review(callers.aliceCli, { decision: 'maybe' })), 'invalid_request');
    const approved = await review(callers.aliceCli, { decision: 'approve', comment: 'ok' });
    assert.equal((approved.body as { state: string }).state, 'active');
    assert.equal(errorOf(await review(callers.alice, { decision: 'approve' })), 'request_not_pending');

    assert.equal((await call('delete', '/api/v1/requests/{id}', path, callers.bob)).status, 200);
    assert.equal(errorOf(await call('delete', '/api/v1/requests/{id}', path, callers.bob)), 'request_not_active');
    assert.equal(errorOf(await call('delete', '/api/v1/requests/{id}', '/api/v1/requests/unknown', callers.bob)), 'request_not_found');
  });

  test('issuer and OAuth: discovery, JWKS, token refresh and errors, device authorization', async () => {
    const discovery = await call('get', '/.well-known/openid-configuration', '/.well-known/openid-configuration', null);
    assert.equal((discovery.body as { issuer: string }).issuer, s.gw.url);
    const jwks = await call('get', '/.well-known/jwks.json', '/.well-known/jwks.json', null);
    assert.equal(jwks.media, 'application/jwk-set+json');

    const refreshed = await call('post', '/oauth/token', '/oauth/token', null, {
      form: { grant_type: 'refresh_token', client_id: CLI_CLIENT, refresh_token: refreshToken },
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    const unsupported = await call('post', '/oauth/token', '/oauth/token', null, { form: { grant_type: 'password', client_id: CLI_CLIENT } });
    assert.equal(unsupported.status, 400);
    assert.equal(errorOf(unsupported), 'unsupported_grant_type');
    await s.gw.waitForEvent((e) => e.type === 'token.issued' && e.outcome === 'failure' && e.reason === 'unsupported_grant_type');

    const device = await call('post', '/oauth/device_authorization', '/oauth/device_authorization', null, { form: { client_id: CLI_CLIENT } });
    assert.equal(device.status, 200, device.text);
    const unknownClient = await call('post', '/oauth/device_authorization', '/oauth/device_authorization', null, { form: { client_id: 'someone-else' } });
    assert.equal(unknownClient.status, 401);
    assert.equal(errorOf(unknownClient), 'invalid_client');
  });

  test('every described operation was answered for real, and every /api/v1 route is described', () => {
    const described = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    const unchecked = described.filter((op) => !answered.has(op));
    assert.deepEqual(unchecked, [], `operations in the document that no check here answered with a 2xx (seen: ${statusesSeen.join(', ')})`);

    // Route paths as the route files write them (`'/api/v1/audit/events/:id'`, `` `/api/v1/kube/artefacts/${kind}` ``):
    // a parameter segment on either side matches any segment.
    const parameter = (segment: string) => /^(?::|\{|\$\{)/.test(segment);
    const sameShape = (route: string, path: string) => {
      const [a, b] = [route.split('/'), path.split('/')];
      return a.length === b.length && a.every((segment, i) => segment === b[i] || parameter(segment) || parameter(b[i]));
    };
    const undocumented: string[] = [];
    for (const file of readdirSync(ROUTES_DIR).filter((f) => f.endsWith('.ts'))) {
      for (const [, method, route] of readFileSync(join(ROUTES_DIR, file), 'utf8').matchAll(
        /router\.(get|post|put|patch|delete)\(\s*['`](\/api\/v1\/[^'`]*)['`]/g,
      ))
        if (
          !Object.entries(doc.paths).some(([path, methods]) => method in methods && sameShape(route, path)) &&
          !UNDESCRIBED_ROUTES.has(`${file}: ${method} ${route}`)
        )
          undocumented.push(`${file}: ${method} ${route}`);
    }
    assert.deepEqual(undocumented, [], 'routes under /api/v1 that src/web/api-schema/ does not describe');
  });
});
