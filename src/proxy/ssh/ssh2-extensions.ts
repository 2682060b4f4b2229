import type { KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { Client, Connection, ParsedKey } from 'ssh2';
import { signEd25519 } from '../../ssh-ca/keys.js';
import { sshString } from '../../ssh-ca/wire.js';

/**
 * What ssh2 1.17.0 lacks, added from outside: OpenSSH certificates (by replacing two
 * per-connection steps of its protocol object), auth banners and channel refusals with a reason,
 * and a server opening an agent channel to its client. The version is pinned (package.json) and
 * checked here, because these reach into ssh2 internals (`_protocol`, `_offer`, `_hostKeys`,
 * `_kex`, `_chanMgr`).
 *
 * Client side (gateway → node): the userauth request names the certificate algorithm and carries
 * the certificate blob; the signature blob inside names the BASE algorithm (`ssh-ed25519`), which
 * ssh2 would get wrong (RFC 4252 §7, PROTOCOL.certkeys).
 *
 * Server side (gateway ← OpenSSH client): present a host certificate. We offer
 * `ssh-ed25519-cert-v01@openssh.com` next to `ssh-ed25519`; when a client picks the certificate
 * algorithm we send the certificate as K_S and sign the exchange hash with the host key under the
 * base algorithm name.
 */

const require = createRequire(import.meta.url);
const SSH2_VERSION = (require('ssh2/package.json') as { version: string }).version;
if (SSH2_VERSION !== '1.17.0') throw new Error(`ssh2 ${SSH2_VERSION} is not the version Gatehouse's certificate support was written for (1.17.0)`);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket: (proto: unknown, packet: Buffer) => void };
const { MAX_WINDOW, PACKET_SIZE } = require('ssh2/lib/Channel.js') as { MAX_WINDOW: number; PACKET_SIZE: number };

const USERAUTH_REQUEST = 50;
const USERAUTH_BANNER = 53;
const HOST_CERT_ALGO = 'ssh-ed25519-cert-v01@openssh.com';

interface PacketWriter {
  allocStart: number;
  alloc(size: number, force?: boolean): Buffer;
  finalize(packet: Buffer, force?: boolean): Buffer;
}
interface ProtocolInternals {
  _kex: { sessionID: Buffer; negotiated: { serverHostKey: string } };
  _packetRW: { write: PacketWriter };
  _authsQueue: string[];
  _offer: { lists: Record<string, { buffer: Buffer } | Record<string, { buffer: Buffer }>>; constructor: new (init: unknown) => unknown };
  _hostKeys: Record<string, unknown>;
  authPK: (...args: unknown[]) => void;
}

const protocolOf = (conn: Client | Connection): ProtocolInternals => {
  const proto = (conn as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto) throw new Error('ssh2 connection has no protocol yet');
  return proto;
};

function send(proto: ProtocolInternals, payload: Buffer): void {
  const writer = proto._packetRW.write;
  const packet = writer.alloc(payload.length);
  packet.set(payload, writer.allocStart);
  sendPacket(proto, writer.finalize(packet));
}

/**
 * Makes an ssh2 Client authenticate with an OpenSSH user certificate. Call right after
 * `client.connect(...)` with an `authHandler` of one `publickey` method (any key: it is ignored).
 * The signed request is sent at once (no "would you accept" query): one round trip fewer.
 */
export function useClientCertificate(client: Client, cert: { certType: string; blob: Buffer; privateKey: KeyObject }): void {
  const proto = protocolOf(client);
  proto.authPK = function (this: ProtocolInternals, username: unknown) {
    const body = Buffer.concat([
      Buffer.from([USERAUTH_REQUEST]),
      sshString(String(username)),
      sshString('ssh-connection'),
      sshString('publickey'),
      Buffer.from([1]),
      sshString(cert.certType),
      sshString(cert.blob),
    ]);
    const signature = signEd25519(cert.privateKey, Buffer.concat([sshString(this._kex.sessionID), body]));
    this._authsQueue.push('publickey');
    send(this, Buffer.concat([body, sshString(signature)]));
  };
}

/**
 * Makes an ssh2 server Connection present `certBlob` (an ed25519 host certificate for `hostKey`).
 * Must run in the server's 'connection' event, before ssh2 sends its KEXINIT.
 */
export function presentHostCertificate(conn: Connection, hostKey: ParsedKey, certBlob: Buffer): void {
  const proto = protocolOf(conn);
  const lists = proto._offer.lists as unknown as {
    kex: { buffer: Buffer };
    cs: Record<'cipher' | 'mac' | 'compress' | 'lang', { buffer: Buffer }>;
    sc: Record<'cipher' | 'mac' | 'compress' | 'lang', { buffer: Buffer }>;
  };
  const pick = (side: typeof lists.cs) => ({ cipher: side.cipher.buffer, mac: side.mac.buffer, compress: side.compress.buffer, lang: side.lang.buffer });
  const KexInit = proto._offer.constructor;
  proto._offer = new KexInit({
    kex: lists.kex.buffer,
    serverHostKey: Buffer.from(`${HOST_CERT_ALGO},${hostKey.type}`),
    cs: pick(lists.cs),
    sc: pick(lists.sc),
  }) as ProtocolInternals['_offer'];
  const certKey = Object.create(hostKey, { getPublicSSH: { value: () => certBlob } }) as ParsedKey;
  proto._hostKeys = new Proxy({} as Record<string, unknown>, {
    get(_target, name) {
      if (name === HOST_CERT_ALGO) {
        // K_S is the certificate; the signature names the base algorithm.
        proto._kex.negotiated.serverHostKey = hostKey.type;
        return certKey;
      }
      return name === hostKey.type ? hostKey : undefined;
    },
  });
}

/** Sends SSH_MSG_USERAUTH_BANNER: OpenSSH prints it, which is how a refusal says why. */
export function sendAuthBanner(conn: Connection, message: string): void {
  const text = message.endsWith('\n') ? message : `${message}\n`;
  send(protocolOf(conn), Buffer.concat([Buffer.from([USERAUTH_BANNER]), sshString(text), sshString('')]));
}

/** Rejects a channel open with a description (ssh2's reject() sends none); OpenSSH prints it. */
export function rejectChannel(conn: Connection, reject: () => void, description: string): void {
  const proto = protocolOf(conn) as unknown as { channelOpenFail: (remote: number, reason: number, desc: string) => void };
  const original = proto.channelOpenFail;
  proto.channelOpenFail = (remote: number) => {
    proto.channelOpenFail = original;
    original.call(proto, remote, 1 /* ADMINISTRATIVELY_PROHIBITED */, description);
  };
  try {
    reject();
  } finally {
    proto.channelOpenFail = original;
  }
}

/**
 * Opens an `auth-agent@openssh.com` channel to the client of a server connection (the far end of
 * `ssh -A`), as sshd does for each use of a forwarded agent. ssh2's server only opens forwarded
 * TCP, X11 and stream-local channels; this goes through the same channel manager.
 */
export function openAgentChannel(conn: Connection): Promise<Duplex> {
  const internals = conn as unknown as {
    _chanMgr: { add(callback: unknown): number };
    _protocol: { openssh_authAgent(channel: number, initWindow: number, maxPacket: number): void };
  };
  return new Promise((resolve, reject) => {
    const onOpen = Object.assign((err: Error | undefined, channel: Duplex) => (err ? reject(err) : resolve(channel)), { type: 'auth-agent@openssh.com' });
    const local = internals._chanMgr.add(onOpen);
    if (local === -1) return reject(new Error('no free channels'));
    internals._protocol.openssh_authAgent(local, MAX_WINDOW, PACKET_SIZE);
  });
}
