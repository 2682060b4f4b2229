import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../../helpers/browsers/browser.js';
import { eventually } from '../../helpers/eventually.js';
import { startKubeProxyStandin } from '../../helpers/peers/kube-proxy-standin.js';
import { alice, kubePolicy, startSso, type SsoSetup } from '../../helpers/gateways/sso.js';
import { makeTls } from '../../helpers/peers/tls.js';
import { logIn } from '../../helpers/browsers/sign-in.js';

// The Kubernetes proxy refuses the access tokens of a revoked CLI login (token_revoked), and never
// takes a gateway token, an ID token or an app assertion for a cluster token.

const CLIENT = 'gatehouse-cli';
const REDIRECT = 'http://127.0.0.1:53682/callback';

describe('Kubernetes proxy: revoked and wrong-kind tokens (security)', () => {
  let s: SsoSetup;
  let standin: Awaited<ReturnType<typeof startKubeProxyStandin>>;
  let browser: Browser;
  let ca: string;
  const url = (path: string) => `${s.gw.url}${path}`;
  const token = async (form: Record<string, string>) => {
    const res = await fetch(url('/oauth/token'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, ...form }) });
    return (await res.json()) as { access_token: string; id_token: string; refresh_token: string };
  };
  const login = async () => {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const res = await browser.request(
      url(
        `/oauth/authorize?${new URLSearchParams({ client_id: CLIENT, response_type: 'code', redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' })}`,
      ),
    );
    const code = new URL(res.location!).searchParams.get('code')!;
    return token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
  };
  const get = (bearer: string) =>
    new Promise<{ status: number; reason?: string }>((resolve, reject) => {
      const req = request(
        `${s.gw.gateway.kubeProxy!.clusterUrl('prod')}/api/v1/namespaces/default/pods`,
        { ca, headers: { authorization: `Bearer ${bearer}` } },
        (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => {
            const parsed = JSON.parse(body) as { details?: { causes?: { reason: string }[] } };
            resolve({ status: res.statusCode!, reason: parsed.details?.causes?.[0]?.reason });
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
  const denials = (reason: string) => s.gw.auditEvents().filter((e) => e.type === 'access.denied' && e.reason === reason);

  before(async () => {
    const tls = makeTls();
    const saToken = randomBytes(24).toString('base64url');
    writeFileSync(join(tls.dir, 'sa-token'), saToken, { mode: 0o600 });
    standin = await startKubeProxyStandin({ tls, token: saToken });
    s = await startSso({
      ...kubePolicy,
      clusters: [
        { name: 'prod', audience: 'gatehouse:prod', mode: 'proxy', api_server: standin.url, ca_file: tls.caFile, token_file: join(tls.dir, 'sa-token') },
      ],
      apps: [{ name: 'prod', public_host: 'prod.localhost', roles: ['developer'] }],
      kube_proxy: { listen: '127.0.0.1:0', audit_discovery: false },
    });
    ca = readFileSync(join(s.gw.dataDir, 'kube-proxy', 'ca.crt'), 'utf8');
    browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
  });
  after(async () => {
    await s?.stop();
    await standin?.close();
  });

  test('a gateway token, an ID token and an app assertion named like the cluster are refused (401, audited)', async () => {
    const tokens = await login();
    const prod = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, resource: 'gatehouse:prod' });
    assert.equal((await get(prod.access_token)).status, 200, 'the control: the cluster access token works');
    const verify = await browser.request(url('/auth/verify?app=prod'));
    const assertion = verify.responseHeaders!.get('gatehouse-jwt-assertion')!;
    for (const [name, bearer] of [
      ['gateway token', tokens.access_token],
      ['ID token', prod.id_token],
      ['app "prod" assertion', assertion],
    ] as const) {
      const res = await get(bearer);
      assert.equal(res.status, 401, name);
      assert.ok(['token_wrong_cluster', 'token_invalid'].includes(res.reason!), `${name}: ${res.reason}`);
    }
    assert.ok(denials('token_wrong_cluster').length + denials('token_invalid').length >= 3);
  });

  test('after /oauth/revoke the cluster access tokens get 401 token_revoked (a fresh one at once, a cached one within seconds), audited', async () => {
    const tokens = await login();
    const used = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, resource: 'gatehouse:prod' });
    const unused = await token({ grant_type: 'refresh_token', refresh_token: used.refresh_token, resource: 'gatehouse:prod' });
    assert.equal((await get(used.access_token)).status, 200);
    await fetch(url('/oauth/revoke'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, token: unused.refresh_token }) });

    const fresh = await get(unused.access_token);
    assert.deepEqual(fresh, { status: 401, reason: 'token_revoked' });
    assert.ok(denials('token_revoked').length >= 1, 'access.denied token_revoked');
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.revoked' && e.outcome === 'failure' && e.reason === 'token_revoked'));

    // A token the proxy verified before the revocation is cached at most 10 s.
    const last = await eventually(
      async () => {
        const answer = await get(used.access_token);
        return answer.status !== 200 && answer;
      },
      { timeoutMs: 15_000, intervalMs: 500, message: 'the proxy kept accepting the revoked token' },
    );
    assert.deepEqual(last, { status: 401, reason: 'token_revoked' });
  });
});
