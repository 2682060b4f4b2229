import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { startReplicas, type Replicas } from '../helpers/gateways/replicas.js';
import { closedPort, REDIS_URL, requireRedis, tcpReachable } from '../helpers/peers/services.js';

/** The serving certificate a TLS client is shown at `url`, when it trusts only `ca`. */
function servingCert(url: string, ca: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, servername: hostname === '127.0.0.1' ? undefined : hostname }, () => {
      const cert = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      socket.end();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

/**
 * Two replicas with their own data directories and one Redis: the Kubernetes proxy CA is made
 * once and shared through the store, so kubectl behind a balancer trusts every replica.
 */
describe('Kubernetes proxy CA shared by replicas', () => {
  let r: Replicas | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'gh-kube-ca-'));

  before(async () => {
    const redis = new URL(REDIS_URL);
    if (!(await tcpReachable(redis.hostname, Number(redis.port || 6379)))) return;
    writeFileSync(join(dir, 'sa-token'), randomBytes(16).toString('hex'), { mode: 0o600 });
    r = await startReplicas(2, {
      state: { redis_url: REDIS_URL, redis_prefix: `gh-kube-ca-${randomBytes(6).toString('hex')}:` },
      clusters: [
        { name: 'prod', audience: 'gatehouse:prod', mode: 'proxy', api_server: `https://127.0.0.1:${await closedPort()}`, token_file: join(dir, 'sa-token') },
      ],
      kube_proxy: { listen: '127.0.0.1:0' },
    });
  });
  after(async () => {
    await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('both replicas hand out one CA, and each serves a certificate it issued', async (t) => {
    if (!(await requireRedis(t))) return;
    const [a, b] = r!.replicas;
    assert.notEqual(a.dataDir, b.dataDir, 'the replicas do not share a data directory');
    const caA = a.gateway.kubeProxy!.caPem();
    const caB = b.gateway.kubeProxy!.caPem();
    assert.equal(caA, caB);
    const ca = new X509Certificate(caA);
    assert.equal(ca.ca, true);
    for (const replica of [a, b]) {
      const cert = await servingCert(replica.gateway.kubeProxy!.clusterUrl('prod'), caA);
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'the serving certificate chains to the shared CA');
      assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    }
  });
});
