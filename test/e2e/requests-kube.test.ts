import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { parse as parseYaml } from 'yaml';
import type { AuditEvent } from '../../src/audit/sink.js';
import { Browser } from '../helpers/browsers/browser.js';
import { BrowserCommand } from '../helpers/browsers/browser-command.js';
import { logIn } from '../helpers/browsers/sign-in.js';
import { eventually } from '../helpers/eventually.js';
import { dave, requestIdsOf, requestPolicy, requestsApi, sam } from '../helpers/gateways/requests.js';
import { startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { requireBinary } from '../helpers/peers/services.js';
import { makeTls, type TestTls } from '../helpers/peers/tls.js';
import { startRun } from '../helpers/processes.js';

const CLI = ['--import', 'tsx', join(process.cwd(), 'src/cli/main.ts')];
const FORBIDDEN =
  /Error from server \(Forbidden\): secrets is forbidden: User "gatehouse:dave" cannot list resource "secrets" in API group "" in the namespace "default"/;

/**
 * kube-apiserver behind the impersonating proxy, reduced to what this file needs: discovery and
 * secrets, with RBAC that lets only group prod-admins list them (kube-proxy-standin.ts serves
 * pods and has no authorizer). Like kube-apiserver it serves only Gatehouse's service-account token
 * and takes the identity from the Impersonate-* headers, which it records.
 */
async function startRbacApiserver(options: { tls: TestTls; token: string }) {
  const seen: { user?: string; groups: string[]; path: string }[] = [];
  const status = (code: number, reason: string, message: string, details?: unknown) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key }, (req, res) => {
    const json = (code: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) return json(401, status(401, 'Unauthorized', 'Unauthorized'));
    const user = req.headersDistinct['impersonate-user']?.[0];
    const groups = req.headersDistinct['impersonate-group'] ?? [];
    const path = new URL(req.url ?? '/', 'https://standin').pathname;
    seen.push({ user, groups, path });
    if (!user) return json(403, status(403, 'Forbidden', 'the proxy must impersonate'));
    if (path === '/api')
      return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1')
      return json(200, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['get', 'list'] }],
      });
    if (path === '/version') return json(200, { major: '1', minor: '32', gitVersion: 'v1.32.0-standin' });
    const list = /^\/api\/v1\/namespaces\/([^/]+)\/secrets$/.exec(path);
    if (!list) return json(404, status(404, 'NotFound', `${path} not found`));
    // RBAC: a ClusterRoleBinding of group prod-admins to a role that may list secrets, and no other.
    if (!groups.includes('prod-admins')) {
      const message = `secrets is forbidden: User "${user}" cannot list resource "secrets" in API group "" in the namespace "${list[1]}"`;
      return json(403, status(403, 'Forbidden', message, { kind: 'secrets' }));
    }
    const metadata = { name: 'db-password', namespace: list[1], uid: 'db-password', resourceVersion: '1', creationTimestamp: new Date().toISOString() };
    json(200, {
      kind: 'SecretList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '1' },
      items: [{ kind: 'Secret', apiVersion: 'v1', metadata, type: 'Opaque', data: {} }],
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('kubectl under a just-in-time access request (real kubectl, the gatehouse exec plugin, the kube proxy)', () => {
  let s: SsoSetup;
  let apiserver: Awaited<ReturnType<typeof startRbacApiserver>>;
  let api: ReturnType<typeof requestsApi>;
  let home: string;
  let kubeconfig: string;
  let browserCommand: BrowserCommand;
  let proxyUrl: string;
  let ca: string;
  /** The cluster token kubectl last used, as minted under the request (kept to try after it ended). */
  let tokenUnderRequest: string;
  let approvedId: string;

  const env = () => ({ ...process.env, HOME: home, GATEHOUSE_HOME: join(home, '.gatehouse'), GATEHOUSE_BROWSER: browserCommand.path, KUBECONFIG: kubeconfig });
  // Asynchronous spawn: the gateway runs in this process and must keep answering the exec plugin.
  const run = async (command: string, args: string[]) => {
    const r = await startRun(command, args, { env: env() }).done;
    return { status: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  const cli = (...args: string[]) => run(process.execPath, [...CLI, ...args]);
  const getSecrets = (kubectl: string) => run(kubectl, ['--context', 'prod', 'get', 'secrets', '-n', 'default', '-o', 'name']);
  /** The token the exec plugin cached for prod: what kubectl sent last. */
  const cachedToken = (): string => {
    const state = JSON.parse(readFileSync(join(home, '.gatehouse', 'servers', `${new URL(s.gw.url).host.replace(':', '_')}.json`), 'utf8'));
    return state.kube.prod.token;
  };
  const secretLists = (): AuditEvent[] => s.gw.auditEvents().filter((e) => e.type === 'kube.request' && e.details?.resource === 'secrets');
  /** Raw HTTPS to the proxy with a given token, for a token kubectl no longer holds. */
  const listWith = (token: string) =>
    new Promise<{ status: number; body: { details?: { causes?: { reason: string }[] } } }>((resolve, reject) => {
      const req = request(`${proxyUrl}/k8s/prod/api/v1/namespaces/default/secrets`, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
      });
      req.on('error', reject);
      req.end();
    });
  const forbiddenAgain = async (kubectl: string) => {
    const refused = await eventually(
      async () => {
        const r = await getSecrets(kubectl);
        return r.status !== 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, message: 'kubectl could still list secrets after the request ended' },
    );
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, FORBIDDEN);
    assert.ok(!decodeJwt(cachedToken()).access_requests, 'the new token is minted under no request');
  };

  before(async () => {
    const tls = makeTls();
    const saToken = randomBytes(24).toString('base64url');
    writeFileSync(join(tls.dir, 'sa-token'), saToken, { mode: 0o600 });
    apiserver = await startRbacApiserver({ tls, token: saToken });
    s = await startSso(
      {
        ...requestPolicy('root'),
        // Shorter than the CLI's 60 s renewal margin: the exec plugin fetches a fresh token for every kubectl run.
        tokens: { ttl: '45s' },
        clusters: [
          { name: 'prod', audience: 'gatehouse:prod', mode: 'proxy', api_server: apiserver.url, ca_file: tls.caFile, token_file: join(tls.dir, 'sa-token') },
        ],
        kube_proxy: { listen: '127.0.0.1:0', audit_discovery: false },
      },
      [dave, sam],
    );
    api = requestsApi(s.gw);
    home = mkdtempSync(join(tmpdir(), 'gh-requests-kube-'));
    kubeconfig = join(home, 'kubeconfig');
    browserCommand = new BrowserCommand(home);
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', dave);
    // gatehouse login (loopback flow): the test plays the browser with dave's signed-in session.
    const login = cli('login', '--server', s.gw.url);
    const authorize = await browser.request(await browserCommand.next());
    await browser.request(authorize.location!);
    const loggedIn = await login;
    assert.equal(loggedIn.status, 0, loggedIn.stderr);
    const kubeLogin = await cli('kube', 'login', 'prod', '--server', s.gw.url, '--kubeconfig', kubeconfig);
    assert.equal(kubeLogin.status, 0, kubeLogin.stderr);
    const cluster = parseYaml(readFileSync(kubeconfig, 'utf8')).clusters[0].cluster;
    proxyUrl = cluster.server.replace(/\/k8s\/prod$/, '');
    ca = Buffer.from(cluster['certificate-authority-data'], 'base64').toString();
  });
  after(async () => {
    await s?.stop();
    await apiserver?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('before approval: kubectl get secrets is Forbidden by RBAC (dave is only in developers)', async (t) => {
    const kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    const seenBefore = apiserver.seen.length;
    const refused = await getSecrets(kubectl);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, FORBIDDEN);
    const lists = apiserver.seen.slice(seenBefore).filter((r) => r.path.endsWith('/secrets'));
    assert.ok(lists.length >= 1);
    assert.ok(
      lists.every((r) => r.user === 'gatehouse:dave' && r.groups.join() === 'developers,system:authenticated'),
      JSON.stringify(lists),
    );
    const audited = await eventually(() => secretLists().at(-1), { timeoutMs: 10_000, message: 'no kube.request for the list' });
    assert.deepEqual([audited.outcome, audited.user, audited.details!.code, audited.details!.verb], ['failure', 'dave', 403, 'list']);
    assert.deepEqual(requestIdsOf(audited), []);
  });

  test('approved: with a token refresh and no browser, kubectl lists secrets; kube.request events carry the request', async (t) => {
    const kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    const request = await api.create(dave, { reason: 'INC-4711 rotate the db password' });
    const stillRefused = await getSecrets(kubectl);
    assert.match(stillRefused.stderr, FORBIDDEN, 'a pending request grants nothing');
    approvedId = (await api.approve(sam, request.id)).id;

    const opened = browserCommand.opened().length;
    const listed = await eventually(
      async () => {
        const r = await getSecrets(kubectl);
        return r.status === 0 ? r : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, message: 'kubectl never listed secrets after the approval' },
    );
    assert.equal(listed.stdout.trim(), 'secret/db-password');
    assert.equal(browserCommand.opened().length, opened, 'the exec plugin refreshed without a browser');
    const claims = decodeJwt((tokenUnderRequest = cachedToken()));
    assert.deepEqual(claims.access_requests, [request.id]);
    assert.deepEqual(claims.groups, ['developers', 'prod-admins']);

    const audited = await eventually(() => secretLists().find((e) => e.outcome === 'success'), { timeoutMs: 10_000, message: 'no kube.request for the list' });
    assert.deepEqual([audited.user, audited.details!.code, audited.details!.impersonated_user], ['dave', 200, 'gatehouse:dave']);
    assert.deepEqual(audited.details!.groups, ['developers', 'prod-admins', 'system:authenticated']);
    assert.deepEqual(audited.details!.access_requests, [{ id: request.id, reason: 'INC-4711 rotate the db password' }]);
    // Evidence follows the person, not the token: every list from the activation on names the request.
    const activated = s.gw.auditEvents().findIndex((e) => e.type === 'access_request.activate' && e.details?.request_id === request.id);
    const underRequest = s.gw
      .auditEvents()
      .slice(activated)
      .filter((e) => e.type === 'kube.request' && e.details?.resource === 'secrets');
    assert.ok(underRequest.length >= 1 && underRequest.every((e) => requestIdsOf(e).join() === request.id), JSON.stringify(underRequest));
  });

  test('dropped: kubectl is Forbidden again with a new token, and the token minted under the request is refused', async (t) => {
    const kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    await api.drop(sam, approvedId); // a reviewer revokes it
    // The token kubectl got under the request is refused (the proxy's verification cache lasts a few seconds at most).
    const refused = await eventually(
      async () => {
        const r = await listWith(tokenUnderRequest);
        return r.status === 401 ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the token minted under the dropped request still works' },
    );
    assert.equal(refused.body.details?.causes?.[0].reason, 'token_revoked', 'refused because the request ended, not because it expired');
    const denied = await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'token_revoked' && e.cluster === 'prod');
    assert.equal(denied.details!.resource, 'secrets');
    await forbiddenAgain(kubectl);
  });

  test('expired: a 15 s request ends by time; its token expires no later than it, and kubectl is Forbidden again', async (t) => {
    const kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    const request = await api.create(dave, { reason: 'INC-4712 a short look', duration: 15 });
    const active = await api.approve(sam, request.id);
    // What the exec plugin prints for kubectl, with its cache cleared by the short tokens.ttl.
    const credential = await cli('kube', 'credentials', '--cluster', 'prod', '--server', s.gw.url);
    assert.equal(credential.status, 0, credential.stderr);
    const token: string = JSON.parse(credential.stdout).status.token;
    const claims = decodeJwt(token);
    assert.deepEqual(claims.access_requests, [request.id]);
    assert.ok(
      claims.exp! * 1000 <= Date.parse(active.expires_at!),
      `token valid until ${new Date(claims.exp! * 1000).toISOString()}, the request ends ${active.expires_at}`,
    );

    const expired = await s.gw.waitForEvent((e) => e.type === 'access_request.expire' && e.details?.request_id === request.id, 60_000);
    assert.deepEqual([expired.user, expired.details!.ended_by], ['dave', 'expiry']);
    await forbiddenAgain(kubectl);
    const refused = await listWith(token);
    assert.equal(refused.status, 401);
    assert.match(String(refused.body.details?.causes?.[0].reason), /^token_(expired|revoked)$/);
  });
});
