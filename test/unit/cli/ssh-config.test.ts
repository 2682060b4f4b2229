import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseHostSuffix, nodeOfAlias, sshConfigSnippet } from '../../../src/cli/ssh-config.js';
import { knownHostsPatterns } from '../../../src/web/routes/ssh.js';

const base = { key: '/h/id', cert: '/h/id-cert.pub', knownHosts: '/h/known_hosts', path: '/h/config', proxy: 'gw.example:3022' };

describe('the generated ssh config', () => {
  test('one alias per node with the suffix, HostName the node name; the jump host once', () => {
    const text = sshConfigSnippet({ ...base, nodes: ['web-1', 'db.eu'], suffix: '.gatehouse' });
    assert.match(text, /\nHost gatehouse-proxy\n {2}HostName gw\.example\n {2}Port 3022\n {2}User gatehouse\n/);
    assert.match(text, /\nHost web-1\.gatehouse\n {2}HostName web-1\nHost db\.eu\.gatehouse\n {2}HostName db\.eu\n/);
    assert.match(text, /\nHost web-1\.gatehouse db\.eu\.gatehouse\n {2}ProxyJump gatehouse-proxy\n {2}IdentityFile \/h\/id\n/);
    assert.match(text, /# {3}Include \/h\/config\n/);
    // No bare node name is ever a Host pattern.
    for (const line of text.split('\n').filter((l) => l.startsWith('Host ')))
      for (const pattern of line.slice(5).split(' ')) assert.ok(pattern === 'gatehouse-proxy' || pattern.endsWith('.gatehouse'), pattern);
  });

  test('IPv6 proxy, and no nodes', () => {
    const text = sshConfigSnippet({ ...base, proxy: '[::1]:2222', nodes: [], suffix: '.gatehouse' });
    assert.match(text, /HostName ::1\n {2}Port 2222\n/);
    assert.doesNotMatch(text, /ProxyJump/);
  });

  test('suffix: flag, then environment, then the saved one, then .gatehouse; validated', () => {
    assert.equal(chooseHostSuffix({}), '.gatehouse');
    assert.equal(chooseHostSuffix({ saved: '.corp' }), '.corp');
    assert.equal(chooseHostSuffix({ env: '.env', saved: '.corp' }), '.env');
    assert.equal(chooseHostSuffix({ flag: '.flag', env: '.env', saved: '.corp' }), '.flag');
    assert.equal(chooseHostSuffix({ flag: '' }), '', 'empty: bare node names, for those who want them');
    for (const bad of ['gatehouse', '.*', '.a,b', '. x', '!.x', '..x', '.']) assert.throws(() => chooseHostSuffix({ flag: bad }), /host suffix/, bad);
  });

  test('an alias or a node name gives the node name', () => {
    assert.equal(nodeOfAlias('web-1.gatehouse', '.gatehouse'), 'web-1');
    assert.equal(nodeOfAlias('web-1', '.gatehouse'), 'web-1');
    assert.equal(nodeOfAlias('web-1', ''), 'web-1');
  });
});

describe('the @cert-authority host patterns (known_hosts)', () => {
  const config = (ssh: Record<string, unknown>) =>
    ({ server: { public_url: 'https://gw.example' }, ssh: { listen: '0.0.0.0:3022', ...ssh } }) as unknown as Parameters<typeof knownHostsPatterns>[0];

  test('the gateway names as [name]:port off port 22, then the nodes; never *', () => {
    assert.equal(knownHostsPatterns(config({}), ['web-1', 'db-1']), '[gw.example]:3022,[localhost]:3022,[127.0.0.1]:3022,web-1,db-1');
    assert.equal(knownHostsPatterns(config({ public_addr: 'ssh.gw.example:22', host_principals: ['ssh.gw.example'] }), ['web-1']), 'ssh.gw.example,web-1');
    assert.equal(
      knownHostsPatterns(config({ public_addr: '[2001:db8::1]:3022', host_principals: ['gw.example', '*', 'a,b'] }), []),
      '[gw.example]:3022,[2001:db8::1]:3022',
      'patterns OpenSSH would read as wildcards or lists are left out',
    );
    assert.equal(
      knownHostsPatterns(config({ listen: '127.0.0.1:0', host_principals: ['localhost'] }), []),
      '[localhost]:*,[gw.example]:*',
      'port 0: any port of those names',
    );
  });
});
