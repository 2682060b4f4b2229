import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '../../src/audit/sink.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { requestClient as client, REQUEST_POLICY, type Json } from '../helpers/gateways/request-api.js';

const failure = (gw: TestGateway, type: string, reason: string, requestId?: string) =>
  gw.waitForEvent((e: AuditEvent) => e.type === type && e.outcome === 'failure' && e.reason === reason && (!requestId || e.details?.request_id === requestId));

describe('access requests: lifecycle and refusals', () => {
  let gw: TestGateway;
  let api: ReturnType<typeof client>;
  before(async () => {
    gw = await startGateway({ ...REQUEST_POLICY, access_requests: { pending_ttl: '1h' } });
    api = client(gw);
  });
  after(() => gw.stop());

  test('refused requests: each with its status, code and audit event', async () => {
    const cases: [Json, number, string][] = [
      [{ roles: ['prod-admin'] }, 400, 'request_reason_required'],
      [{ roles: ['sre-lead'], reason: 'INC-1' }, 403, 'request_role_not_allowed'],
      [{ roles: ['breakglass'], reason: 'INC-1' }, 403, 'request_role_not_allowed'],
      [{ roles: ['prod-admin'], reason: 'INC-1', duration: '5h' }, 400, 'request_duration_exceeded'],
    ];
    for (const [body, status, code] of cases) {
      const res = await api.create('dave', body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error, code);
      const event = await failure(gw, 'access_request.create', code);
      assert.equal(event.user, 'dave');
    }
    assert.equal((await api.create('sam', { roles: ['prod-admin'], reason: 'x' })).body.error, 'request_role_not_allowed', 'sre-lead may not request');
  });

  test('pending → active on one approval, with its roles in effect and evidence on every event', async () => {
    const created = await api.create('dave', { roles: ['prod-admin'], reason: 'INC-123 rotate the prod certs', duration: '2h' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    assert.equal(created.body.state, 'pending');
    assert.deepEqual(created.body.reviewers, { roles: ['sre-lead'], approvals: 1 });
    assert.ok(!(await api.roles('dave')).includes('prod-admin'));

    const self = await api.review('dave', id, 'approve');
    assert.equal(self.status, 403);
    assert.equal(self.body.error, 'request_self_review');
    const peer = await api.review('vic', id, 'approve');
    assert.equal(peer.status, 404);
    assert.equal(peer.body.error, 'request_not_found', 'another developer cannot even see it');
    await failure(gw, 'access_request.review', 'request_not_found');

    const listed = await api.call('sam', 'GET', '/api/v1/requests?state=pending');
    assert.ok(listed.body.requests.some((r: Json) => r.id === id && r.can_review));

    const approved = await api.review('sam', id, 'approve', 'go ahead');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.state, 'active');
    const lasts = Date.parse(approved.body.expires_at) - Date.parse(approved.body.activated_at);
    assert.equal(lasts, 2 * 3_600_000, 'the duration starts at activation');
    assert.ok((await api.roles('dave')).includes('prod-admin'));
    const whoami = await api.call('dave', 'GET', '/api/v1/whoami');
    assert.deepEqual(
      whoami.body.access_requests.map((r: Json) => r.id),
      [id],
    );

    const replay = await api.review('sam', id, 'approve', 'go ahead');
    assert.equal(replay.status, 409);
    assert.equal(replay.body.error, 'request_not_pending');
    await failure(gw, 'access_request.review', 'request_not_pending', id);

    // The auditor finds everything done under INC-123 with one search.
    assert.equal((await api.call('dave', 'GET', '/api/v1/audit/events?user=ann')).status, 403, 'an action under the request: audited');
    const search = await api.call('ann', 'GET', '/api/v1/audit/events?q=INC-123&limit=100');
    const types = new Set<string>((search.body.events as AuditEvent[]).map((e) => e.type));
    for (const type of ['access_request.create', 'access_request.review', 'access_request.activate', 'audit.read'])
      assert.ok(types.has(type), `${type} in ${[...types]}`);
    for (const event of search.body.events as AuditEvent[]) {
      const carried = (event.details?.access_requests as { id: string }[] | undefined)?.map((r) => r.id) ?? [];
      assert.ok(carried.includes(id), `${event.type} carries the request id`);
    }

    const dropped = await api.call('dave', 'DELETE', `/api/v1/requests/${id}`);
    assert.equal(dropped.body.state, 'revoked');
    await gw.waitForEvent((e) => e.type === 'access_request.revoke' && e.details?.request_id === id);
    assert.ok(!(await api.roles('dave')).includes('prod-admin'), 'revoked at once on this replica');
    assert.equal((await api.call('dave', 'DELETE', `/api/v1/requests/${id}`)).body.error, 'request_not_active');
  });

  test('the requester never approves their own request, even holding the reviewer role', async () => {
    const created = await api.create('erin', { roles: ['prod-admin'], reason: 'INC-7' });
    assert.equal(created.status, 201);
    assert.equal(created.body.can_review, false);
    const self = await api.review('erin', created.body.id, 'approve');
    assert.equal(self.status, 403);
    assert.equal(self.body.error, 'request_self_review');
    const event = await failure(gw, 'access_request.review', 'request_self_review', created.body.id);
    assert.equal(event.user, 'erin');
  });

  test('two reviewers approving at the same moment count once', async () => {
    const created = await api.create('vic', { roles: ['prod-admin'], reason: 'INC-9' });
    const answers = await Promise.all([api.review('sam', created.body.id, 'approve'), api.review('tara', created.body.id, 'approve')]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
    const shown = await api.call('vic', 'GET', `/api/v1/requests/${created.body.id}`);
    assert.equal(shown.body.state, 'active');
    assert.equal(shown.body.reviews.length, 1);
    await gw.waitForEvent((e) => e.type === 'access_request.activate' && e.details?.request_id === created.body.id);
    assert.equal(gw.auditEvents().filter((e) => e.type === 'access_request.activate' && e.details?.request_id === created.body.id).length, 1);
  });

  test('a denied request grants nothing and cannot be approved later', async () => {
    const created = await api.create('dave', { roles: ['prod-admin'], reason: 'INC-10' });
    assert.equal((await api.review('sam', created.body.id, 'deny', 'not now')).body.state, 'denied');
    const late = await api.review('tara', created.body.id, 'approve');
    assert.equal(late.body.error, 'request_not_pending');
    assert.ok(!(await api.roles('dave')).includes('prod-admin'));
  });
});

describe('access requests: time', () => {
  test('an active request expires at its end; a pending one after pending_ttl', { timeout: 60_000 }, async () => {
    const gw = await startGateway({ ...REQUEST_POLICY, access_requests: { pending_ttl: '3s' } });
    try {
      const api = client(gw);
      const short = await api.create('dave', { roles: ['prod-admin'], reason: 'INC-2', duration: '2s' });
      const waiting = await api.create('vic', { roles: ['prod-admin'], reason: 'INC-3' });
      await api.review('sam', short.body.id, 'approve');
      assert.ok((await api.roles('dave')).includes('prod-admin'));
      for (const [id, from] of [
        [short.body.id, 'active'],
        [waiting.body.id, 'pending'],
      ])
        await gw.waitForEvent((e) => e.type === 'access_request.expire' && e.details?.request_id === id && e.details?.from === from, 20_000);
      assert.ok(!(await api.roles('dave')).includes('prod-admin'));
      assert.equal((await api.call('dave', 'GET', `/api/v1/requests/${short.body.id}`)).body.state, 'expired');
      const late = await api.review('sam', waiting.body.id, 'approve');
      assert.equal(late.body.error, 'request_not_pending');
      assert.equal(gw.auditEvents().filter((e) => e.type === 'access_request.expire').length, 2, 'one expire event per request');
    } finally {
      await gw.stop();
    }
  });

  test('approvals are counted per distinct reviewer', async () => {
    const policy = structuredClone(REQUEST_POLICY);
    (policy.roles[0] as Json).request.reviewers.approvals = 2;
    const gw = await startGateway(policy);
    try {
      const api = client(gw);
      const created = await api.create('dave', { roles: ['prod-admin'], reason: 'INC-4' });
      assert.equal((await api.review('sam', created.body.id, 'approve')).body.state, 'pending');
      const again = await api.review('sam', created.body.id, 'approve');
      assert.equal(again.status, 409);
      assert.equal(again.body.error, 'request_already_reviewed');
      assert.equal((await api.review('tara', created.body.id, 'approve')).body.state, 'active');
    } finally {
      await gw.stop();
    }
  });
});
