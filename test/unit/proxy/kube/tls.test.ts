import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadProxyTls } from '../../../../src/proxy/kube/tls.js';

test('the generated serving certificate is kept across starts when it names every host, IPv6 included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-kube-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hosts = ['::1', '127.0.0.1', 'localhost', 'kube.example.test'];
  const first = await loadProxyTls({ dir, hosts });
  const cert = new X509Certificate(first.cert);
  for (const ip of ['::1', '127.0.0.1']) assert.ok(cert.checkIP(ip), `names ${ip}`);
  const again = await loadProxyTls({ dir, hosts });
  assert.equal(again.cert, first.cert, 'not re-issued at the second start');
  assert.equal(readFileSync(join(dir, 'tls.crt'), 'utf8'), first.cert);

  const wider = await loadProxyTls({ dir, hosts: [...hosts, 'new.example.test'] });
  assert.notEqual(wider.cert, first.cert, 're-issued when a host is added');
  assert.ok(new X509Certificate(wider.cert).checkHost('new.example.test'));
});
