import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { eventually } from '../helpers/eventually.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { requestClient, REQUEST_POLICY } from '../helpers/gateways/request-api.js';
import { REDIS_URL, requireRedis } from '../helpers/peers/services.js';

test('replicas sharing Redis agree on requests, and a restart loses none', { timeout: 90_000 }, async (t) => {
  if (!(await requireRedis(t))) return;
  const config = { ...REQUEST_POLICY, state: { redis_url: REDIS_URL, redis_prefix: `gh-requests-${randomBytes(6).toString('hex')}:` } };
  const a = await startGateway(config);
  const b = await startGateway(config);
  try {
    const [onA, onB] = [requestClient(a), requestClient(b)];
    const created = await onA.create('dave', { roles: ['prod-admin'], reason: 'INC-42 replicas' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;

    const seen = await onB.call('sam', 'GET', '/api/v1/requests?state=pending');
    assert.ok(
      seen.body.requests.some((r: { id: string }) => r.id === id),
      'B lists the request made on A',
    );
    assert.equal((await onB.review('sam', id, 'approve')).body.state, 'active');

    // Approved on B, in effect on A (pub/sub at once; the periodic reload bounds it to 15 s).
    await eventually(async () => (await onA.roles('dave')).includes('prod-admin') || undefined, { timeoutMs: 60_000, message: 'A never saw the approval' });

    // A replica started later (a restart) loads it from the store.
    const c = await startGateway(config);
    try {
      const onC = requestClient(c);
      assert.equal((await onC.call('dave', 'GET', `/api/v1/requests/${id}`)).body.state, 'active');
      await eventually(async () => (await onC.roles('dave')).includes('prod-admin') || undefined, { timeoutMs: 60_000, message: 'C never loaded it' });

      assert.equal((await onC.call('sam', 'DELETE', `/api/v1/requests/${id}`)).body.state, 'revoked');
      for (const on of [onA, onB])
        await eventually(async () => !(await on.roles('dave')).includes('prod-admin') || undefined, {
          timeoutMs: 60_000,
          message: 'the revocation never arrived',
        });
    } finally {
      await c.stop();
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});
