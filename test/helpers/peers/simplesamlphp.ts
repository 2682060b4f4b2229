/**
 * An independent, real SAML IdP: Debian's SimpleSAMLphp 1.19 under `php -S` on 127.0.0.1.
 * Everything it needs is generated in a temp dir at run time: a config.php that `require`s the
 * Debian one and overrides what must change, an `exampleauth:UserPass` authsource with the given
 * users, an IdP key and certificate (openssl), and the remote-SP metadata describing Gatehouse,
 * built from our own SP metadata XML.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, tcpReachable } from './services.js';
import { startChild } from '../processes.js';

export const SIMPLESAMLPHP_WWW = '/usr/share/simplesamlphp/www';

export interface SspUser {
  username: string;
  password: string;
  attributes: Record<string, string[]>;
}

export interface SimpleSamlPhp {
  url: string;
  metadataUrl: string;
  entityId: string;
  /** Tell the IdP about one of our SPs (from its metadata XML); call before its first login. */
  registerSp(
    spMetadataXml: string,
    options?: { nameIdFormat?: string; nameIdAttribute?: string; validateRequests?: boolean; encryptAssertions?: boolean },
  ): void;
  stop(): Promise<void>;
}

/** Why SimpleSAMLphp cannot run here, or undefined when it can. */
export function simpleSamlPhpMissing(): string | undefined {
  if (!existsSync(SIMPLESAMLPHP_WWW)) return 'simplesamlphp is not installed (apt-get install simplesamlphp php-cli php-xml)';
  if (spawnSync('php', ['-v']).status !== 0) return 'php-cli is not installed';
  if (spawnSync('php', ['-r', 'exit(extension_loaded("dom") ? 0 : 1);']).status !== 0) return 'php-xml is not installed';
  if (spawnSync('openssl', ['version']).status !== 0) return 'openssl is not installed';
  return undefined;
}

const php = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(php).join(', ')}]`;
  if (value && typeof value === 'object')
    return `[${Object.entries(value)
      .map(([k, v]) => `${php(k)} => ${php(v)}`)
      .join(', ')}]`;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return `'${String(value).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
};

const between = (xml: string, re: RegExp): string | undefined => re.exec(xml)?.[1];

export async function startSimpleSamlPhp(options: { users: SspUser[] }): Promise<SimpleSamlPhp> {
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ssp-'));
  for (const sub of ['cert', 'data', 'tmp', 'metadata', 'log', 'sessions']) mkdirSync(join(dir, sub));

  const keygen = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=simplesamlphp-test-idp',
      '-keyout',
      join(dir, 'cert', 'idp.key'),
      '-out',
      join(dir, 'cert', 'idp.crt'),
    ],
    { encoding: 'utf8' },
  );
  if (keygen.status !== 0) throw new Error(`openssl failed: ${keygen.stderr}`);

  const config = {
    baseurlpath: `${url}/`,
    certdir: `${dir}/cert/`,
    datadir: `${dir}/data/`,
    tempdir: `${dir}/tmp/`,
    metadatadir: `${dir}/metadata/`,
    loggingdir: `${dir}/log/`,
    'logging.handler': 'file',
    'enable.saml20-idp': true,
    secretsalt: randomBytes(24).toString('hex'),
    'auth.adminpassword': randomBytes(12).toString('hex'),
    'session.cookie.secure': false,
    'session.phpsession.savepath': `${dir}/sessions`,
    'store.type': 'phpsession',
    'admin.checkforupdates': false,
    'trusted.url.domains': ['127.0.0.1'],
  };
  writeFileSync(
    join(dir, 'config.php'),
    `<?php
require '/etc/simplesamlphp/config.php';
${Object.entries(config)
  .map(([k, v]) => `$config[${php(k)}] = ${php(v)};`)
  .join('\n')}
$config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true];
$config['statistics.out'] = [];
`,
  );
  writeFileSync(
    join(dir, 'authsources.php'),
    `<?php
$config = [
  'admin' => ['core:AdminPassword'],
  'example-userpass' => array_merge(['exampleauth:UserPass'], ${php(
    Object.fromEntries(options.users.map((u) => [`${u.username}:${u.password}`, u.attributes])),
  )}),
];
`,
  );
  writeFileSync(
    join(dir, 'metadata', 'saml20-idp-hosted.php'),
    `<?php
$metadata['__DYNAMIC:1__'] = [
  'host' => '__DEFAULT__',
  'privatekey' => 'idp.key',
  'certificate' => 'idp.crt',
  'auth' => 'example-userpass',
  'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
];
`,
  );
  writeFileSync(join(dir, 'metadata', 'saml20-sp-remote.php'), '<?php\n');

  const child: ChildProcess = startChild('php', ['-S', `127.0.0.1:${port}`, '-t', SIMPLESAMLPHP_WWW], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  }).child;
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 20_000) stderr += d;
  });
  for (let i = 0; i < 100 && !(await tcpReachable('127.0.0.1', port, 200)); i++) await new Promise((r) => setTimeout(r, 50));
  const metadataUrl = `${url}/saml2/idp/metadata.php`;
  const res = await fetch(metadataUrl).catch(() => undefined);
  if (!res?.ok) {
    child.kill('SIGKILL');
    throw new Error(`SimpleSAMLphp did not start (${res?.status}): ${stderr.slice(-2000)}`);
  }

  const sps = new Map<string, Record<string, unknown>>();
  return {
    url,
    metadataUrl,
    entityId: metadataUrl,
    registerSp(spMetadataXml, o = {}) {
      const entityId = between(spMetadataXml, /entityID="([^"]+)"/);
      const acs = between(spMetadataXml, /<(?:md:)?AssertionConsumerService[^>]*Location="([^"]+)"/);
      const slo = between(spMetadataXml, /<(?:md:)?SingleLogoutService[^>]*Location="([^"]+)"/);
      const cert = between(spMetadataXml, /<(?:ds:)?X509Certificate>([^<]+)</);
      if (!entityId || !acs || !cert) throw new Error(`cannot read our SP metadata:\n${spMetadataXml}`);
      const sp: Record<string, unknown> = {
        AssertionConsumerService: acs,
        certificate: undefined,
        keys: [
          { encryption: false, signing: true, type: 'X509Certificate', X509Certificate: cert },
          { encryption: true, signing: false, type: 'X509Certificate', X509Certificate: cert },
        ],
        NameIDFormat: o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
        'simplesaml.nameidattribute': o.nameIdAttribute ?? 'email',
        'validate.authnrequest': o.validateRequests ?? true,
        'validate.logout': true,
        'sign.logout': true,
        'signature.algorithm': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
        // Encrypted to the SP's encryption certificate (RSA-OAEP key transport).
        'assertion.encryption': o.encryptAssertions ?? false,
      };
      if (slo) sp.SingleLogoutService = [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect', Location: slo }];
      delete sp.certificate;
      sps.set(entityId, sp);
      const entries = [...sps].map(([id, entry]) => `$metadata[${php(id)}] = ${php(entry)};\n`).join('');
      writeFileSync(join(dir, 'metadata', 'saml20-sp-remote.php'), `<?php\n${entries}`);
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
