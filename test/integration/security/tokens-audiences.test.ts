import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { Browser } from '../../helpers/browsers/browser.js';
import { alice, kubePolicy, startSso, type SsoSetup } from '../../helpers/gateways/sso.js';
import { CLI_CLIENT, cliLogin, oauthToken } from '../../helpers/gateways/cli-oauth.js';
import { logIn } from '../../helpers/browsers/sign-in.js';

// Findings 5 and 6 and the at+jwt split: audiences are disjoint by construction, TokenReview only
// answers for cluster audiences (whatever spec.audiences says), and no other kind of token passes.

const REVIEWER = `reviewer-${randomBytes(12).toString('hex')}`;

interface Review {
  status?: { authenticated?: boolean; error?: string; audiences?: string[]; user?: { username: string } };
}

describe('token audiences and kinds (security)', () => {
  let s: SsoSetup;
  let browser: Browser;
  const url = (path: string) => `${s.gw.url}${path}`;
  const token = (form: Record<string, string>) => oauthToken(s.gw.url, form);
  const login = () => cliLogin(browser, s.gw.url);
  const assertionFor = async (app: string) => {
    const res = await browser.request(url(`/auth/verify?app=${app}`));
    assert.equal(res.status, 200, res.body);
    return res.responseHeaders!.get('gatehouse-jwt-assertion')!;
  };
  const review = async (apiVersion: string, spec: Record<string, unknown>) => {
    const res = await fetch(url(`/apis/authentication.k8s.io/${apiVersion}/tokenreviews`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${REVIEWER}` },
      body: JSON.stringify({ apiVersion: `authentication.k8s.io/${apiVersion}`, kind: 'TokenReview', spec }),
    });
    assert.equal(res.status, 201);
    return (await res.json()) as Review;
  };
  const reviewEvents = () => s.gw.auditEvents().filter((e) => e.type === 'kube.tokenreview');

  before(async () => {
    s = await startSso({
      ...kubePolicy,
      clusters: [
        { name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' },
        // A cluster whose audience is an app's name: the app's assertion must still not pass.
        { name: 'wikicluster', audience: 'wiki', api_server: 'https://127.0.0.1:6444' },
      ],
      // Apps named like the gateway audience and like a cluster audience.
      apps: [
        { name: 'gatehouse', public_host: 'gatehouse.localhost', roles: ['developer'] },
        { name: 'wiki', public_host: 'wiki.localhost', roles: ['developer'] },
      ],
      tokenreview: { bearer_token: REVIEWER },
    });
    browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
  });
  after(() => s.stop());

  test('the assertion of an app named "gatehouse" has aud gatehouse-app:gatehouse and is no gateway bearer token', async () => {
    const assertion = await assertionFor('gatehouse');
    assert.equal(decodeJwt(assertion).aud, 'gatehouse-app:gatehouse');
    assert.equal(decodeProtectedHeader(assertion).typ, 'JWT');
    const me = await fetch(url('/api/v1/whoami'), { headers: { authorization: `Bearer ${assertion}` } });
    assert.equal(me.status, 401);
    assert.equal(((await me.json()) as { error: string }).error, 'invalid_token');
  });

  for (const apiVersion of ['v1', 'v1beta1']) {
    test(`TokenReview ${apiVersion}: spec.audiences cannot widen the audience; no gateway token, ID token or app assertion is authenticated`, async () => {
      const tokens = await login();
      const prod = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, resource: 'gatehouse:prod' });
      const before = reviewEvents().length;
      const hostile: [string, Record<string, unknown>, string][] = [
        ['gateway token, audiences [gatehouse]', { token: tokens.access_token, audiences: ['gatehouse'] }, 'audience_not_cluster'],
        ['gateway token, no audiences', { token: tokens.access_token }, 'invalid_token'],
        [
          'app "gatehouse" assertion, its own audience',
          { token: await assertionFor('gatehouse'), audiences: ['gatehouse-app:gatehouse'] },
          'audience_not_cluster',
        ],
        ['app "wiki" assertion, cluster audience "wiki"', { token: await assertionFor('wiki'), audiences: ['wiki'] }, 'invalid_token'],
        ['app "wiki" assertion, no audiences', { token: await assertionFor('wiki') }, 'invalid_token'],
        ['ID token, audiences [gatehouse-cli]', { token: prod.body.id_token, audiences: [CLI_CLIENT] }, 'audience_not_cluster'],
        ['ID token, no audiences', { token: prod.body.id_token }, 'invalid_token'],
        ['cluster token, audiences of an unknown cluster', { token: prod.body.access_token, audiences: ['gatehouse:elsewhere'] }, 'audience_not_cluster'],
      ];
      for (const [name, spec, reason] of hostile) {
        const answer = await review(apiVersion, spec);
        assert.equal(answer.status?.authenticated, false, name);
        assert.equal(answer.status?.user, undefined, name);
        const event = reviewEvents().at(-1)!;
        assert.equal(event.outcome, 'failure', name);
        assert.equal(event.reason, reason, name);
      }
      assert.equal(
        reviewEvents()
          .slice(before)
          .filter((e) => e.outcome === 'success').length,
        0,
        'nothing authenticated',
      );

      // The control: the cluster's access token passes, and only the cluster audience is reported.
      const ok = await review(apiVersion, { token: prod.body.access_token, audiences: ['gatehouse:prod', 'gatehouse', 'gatehouse-app:gatehouse'] });
      assert.equal(ok.status?.authenticated, true);
      assert.equal(ok.status?.user?.username, 'gatehouse:alice');
      assert.deepEqual(ok.status?.audiences, ['gatehouse:prod']);
      assert.equal(decodeProtectedHeader(prod.body.access_token).typ, 'at+jwt');
    });
  }
});
