import ssh2, { type BaseAgent, type Client } from 'ssh2';
import type { Access } from '../../access/index.js';
import type { SshNodeConfig } from '../../config/schema.js';
import { seconds, systemClock, type Clock } from '../../core/clock.js';
import { GatehouseError } from '../../core/errors.js';
import type { SshCa } from '../../ssh-ca/ca.js';
import { BACKDATE_S } from '../../ssh-ca/issue.js';
import { certExtensions } from '../../ssh-ca/identity.js';
import { generateEd25519, openSshPrivateKey, parsePublicKeyLine, publicKeyOf } from '../../ssh-ca/keys.js';
import { useClientCertificate } from './ssh2-extensions.js';

/** Upstream certificates only need to outlive the authentication. */
const UPSTREAM_CERT_TTL_S = 120;
const HOST_KEY_ALGOS: Record<string, string[]> = { 'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256'] };

/**
 * Connects to a node as `login` with a fresh key and a short-lived certificate for just that
 * login, signed by the user CA (the node trusts it with TrustedUserCAKeys). The node's host key is
 * checked when the node config pins one.
 */
export function connectUpstream(options: {
  node: SshNodeConfig;
  login: string;
  user: string;
  access: Pick<Access, 'portForwarding' | 'agentForwarding'>;
  ca: SshCa;
  requireHostKey: boolean;
  timeoutMs?: number;
  /** What sessions that ask for agent forwarding forward to the node (see ForwardedAgent). */
  agent?: BaseAgent;
  /** The certificate's validity window. */
  clock?: Clock;
}): Promise<Client> {
  const { node, login } = options;
  return (async () => {
    const pinned = node.host_key ? parsePublicKeyLine(node.host_key) : undefined;
    if (!pinned && options.requireHostKey)
      throw new GatehouseError('node_host_key_missing', `Node ${node.name} has no host_key configured and ssh.require_host_key is set.`, { status: 502 });
    const key = generateEd25519();
    const now = seconds((options.clock ?? systemClock).now());
    const cert = await options.ca.signUser({
      publicKey: publicKeyOf(key),
      keyId: options.user,
      principals: [login],
      validAfter: now - BACKDATE_S,
      validBefore: now + UPSTREAM_CERT_TTL_S,
      extensions: certExtensions(options.access),
    });
    const separator = node.addr.lastIndexOf(':');
    const client = new ssh2.Client();
    return new Promise<Client>((resolve, reject) => {
      const fail = (err: Error) => {
        client.end();
        reject(
          new GatehouseError(
            'node_unreachable',
            `Cannot reach node ${node.name}: ${(err as { level?: string }).level === 'client-authentication' ? `the node refused login "${login}"` : err.message}.`,
            {
              status: 502,
              cause: err,
            },
          ),
        );
      };
      client.once('ready', () => {
        client.off('error', fail);
        client.on('error', () => {}); // later errors end the connection; callers watch 'close'
        resolve(client);
      });
      client.once('error', fail);
      client.connect({
        host: node.addr.slice(0, separator).replace(/^\[|\]$/g, ''),
        port: Number(node.addr.slice(separator + 1)),
        username: login,
        authHandler: [{ type: 'publickey', username: login, key: openSshPrivateKey(key) } as never],
        hostVerifier: pinned ? (presented: Buffer) => presented.equals(pinned.blob) : undefined,
        algorithms: pinned ? { serverHostKey: (HOST_KEY_ALGOS[pinned.type] ?? [pinned.type]) as never } : undefined,
        readyTimeout: options.timeoutMs ?? 15_000,
        keepaliveInterval: 30_000,
        agent: options.agent,
      });
      useClientCertificate(client, { certType: cert.certType, blob: cert.blob, privateKey: key });
    });
  })();
}
