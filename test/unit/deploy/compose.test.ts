import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfigFile } from '../../../src/config/load.js';

// No Docker engine runs on CI machines, so the compose stack is checked statically: everything it
// names must exist, and the Keycloak realm must match the Gatehouse config it is used with.

interface Service {
  image?: string;
  build?: string | { context: string };
  depends_on?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  networks?: Record<string, { aliases?: string[] }>;
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const envExample = readFileSync('.env.example', 'utf8')
  .split('\n')
  .filter((l) => /^[A-Z_]+=/.test(l))
  .map((l) => l.split('=')[0]);
const dummyEnv = Object.fromEntries(envExample.map((k) => [k, `dummy-${k.toLowerCase()}-value-long-enough`]));

test('every service has a pinned image or a build context with a Dockerfile, and its dependencies exist', () => {
  for (const [name, s] of Object.entries(services)) {
    if (s.image) assert.match(s.image, /:[\w.-]+$/, `${name}: image pinned to a tag`);
    else {
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      assert.ok(context, `${name}: image or build`);
      assert.ok(existsSync(join(context, 'Dockerfile')), `${name}: ${context}/Dockerfile exists`);
      for (const copy of readFileSync(join(context, 'Dockerfile'), 'utf8').matchAll(/^COPY (?!--from)(\S+)/gm)) {
        if (copy[1] !== '.' && !copy[1].includes('*')) assert.ok(existsSync(join(context, copy[1])), `${name}: COPY ${copy[1]} exists`);
      }
    }
    for (const dep of s.depends_on ?? []) assert.ok(services[dep], `${name} depends on a defined service ${dep}`);
    for (const port of s.ports ?? []) assert.match(port, /^\d{1,5}:\d{1,5}$/, `${name}: port ${port}`);
  }
});

test('bind mounts exist, named volumes are declared, env references are documented in .env.example', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const volume of s.volumes ?? []) {
      const [source] = volume.split(':');
      if (source.startsWith('.')) assert.ok(existsSync(source), `${name}: ${source} exists`);
      else assert.ok(compose.volumes && source in compose.volumes, `${name}: volume ${source} is declared`);
    }
  }
  const text = readFileSync('docker-compose.yml', 'utf8');
  for (const ref of text.matchAll(/\$\{([A-Z_]+)(:[-?][^}]*)?\}/g)) {
    assert.ok(ref[2]?.startsWith(':-') || envExample.includes(ref[1]), `${ref[1]} is in .env.example or has a default`);
  }
});

test('the Gatehouse config the stack mounts is valid, and names only hosts the stack has', () => {
  const gatehouse = services.gatehouse;
  const configPath = gatehouse.environment!.GATEHOUSE_CONFIG;
  const mount = gatehouse.volumes!.find((v) => v.startsWith('./config:'))!;
  const local = join(mount.split(':')[0], configPath.slice(mount.split(':')[1].length));
  const config = loadConfigFile(local, dummyEnv);
  const aliases = Object.entries(services).flatMap(([name, s]) => [name, ...(s.networks?.default?.aliases ?? [])]);
  const hostOf = (url: string) => new URL(url).hostname;
  assert.ok(aliases.includes(hostOf(config.state.redis_url!)), 'redis_url names a service');
  assert.ok(aliases.includes(hostOf(config.audit.postgres_url!)), 'postgres_url names a service');
  for (const app of config.apps) assert.ok(aliases.includes(hostOf(app.upstream!)), `app ${app.name} upstream names a service`);
  for (const node of config.ssh!.nodes) assert.ok(aliases.includes(node.addr.split(':')[0]), `ssh node ${node.name} names a service`);
  for (const c of config.connectors) {
    const url = c.type === 'oidc' ? c.issuer : c.type === 'saml' ? c.idp_metadata_url! : undefined;
    if (url) assert.ok(aliases.includes(hostOf(url)), `connector ${c.id} reaches Keycloak by a name the network knows`);
  }
  assert.equal(`http://${hostOf(config.server.public_url)}:8080`, config.server.public_url);
  assert.ok(gatehouse.ports!.includes('8080:8080'));
});

interface RealmGroup {
  name: string;
  subGroups?: RealmGroup[];
}

test('the Keycloak realm is valid JSON whose clients, users and groups match the Gatehouse config', () => {
  const realm = JSON.parse(readFileSync('config/keycloak/gatehouse-realm.json', 'utf8')) as {
    realm: string;
    groups: RealmGroup[];
    users: { username: string; groups: string[]; credentials: { value: string }[] }[];
    clients: { clientId: string; protocol: string; redirectUris: string[]; secret?: string; attributes: Record<string, string> }[];
  };
  const config = loadConfigFile('config/gatehouse.compose.yaml', dummyEnv);
  // Full paths (`/platform/admins`); the groups mapper sends short names (`admins`), which mappings match.
  const paths = (list: RealmGroup[], parent = ''): string[] => list.flatMap((g) => [`${parent}/${g.name}`, ...paths(g.subGroups ?? [], `${parent}/${g.name}`)]);
  const groups = paths(realm.groups);
  assert.equal(realm.users.length, 2);
  for (const user of realm.users) {
    for (const g of user.groups) assert.ok(groups.includes(g), `${user.username}'s group ${g} exists`);
    for (const c of user.credentials) assert.match(c.value, /^\$\{[A-Z_]+\}$/, 'passwords come from the environment');
  }
  for (const c of config.connectors) {
    if (c.type === 'oidc') {
      assert.ok(c.issuer.endsWith(`/realms/${realm.realm}`));
      const client = realm.clients.find((k) => k.clientId === c.client_id && k.protocol === 'openid-connect');
      assert.ok(client, `OIDC client ${c.client_id} exists`);
      assert.ok(client.redirectUris.includes(`${config.server.public_url}/callback/${c.id}`));
      assert.match(client.secret ?? '', /^\$\{[A-Z_]+\}$/, 'the client secret comes from the environment');
    }
    if (c.type === 'saml') {
      const client = realm.clients.find((k) => k.clientId === c.sp_entity_id && k.protocol === 'saml');
      assert.ok(client, `SAML client ${c.sp_entity_id} exists`);
      assert.equal(client.attributes.saml_assertion_consumer_url_post, `${config.server.public_url}/saml/${c.id}/acs`);
      assert.ok(c.idp_metadata_url!.includes(`/realms/${realm.realm}/`));
    }
  }
  for (const m of config.mappings) {
    if (m.match.claim === 'groups')
      assert.ok(
        groups.some((g) => g.endsWith(`/${m.match.value}`)),
        `mapping group ${m.match.value} exists in the realm`,
      );
  }
});
