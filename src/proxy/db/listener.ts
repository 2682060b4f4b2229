import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Policy } from '../../access/index.js';
import type { RoleDatabases } from '../../access/databases.js';
import { bestEffort, type AuditSink } from '../../audit/sink.js';
import type { DatabaseConfig, DatabaseCredential, DbConfig } from '../../config/databases.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { isLoopbackHost, splitHostPort } from '../../core/hosts.js';
import type { Logger } from '../../core/logger.js';
import type { DbCa } from '../../db-ca/ca.js';
import type { Recorder } from '../../recording/recorder.js';
import type { Revocations } from '../../ssh-ca/revocation.js';
import type { Store } from '../../store/store.js';
import type { Subscription } from '../../store/subscription.js';
import { authorizeDb } from './authorize.js';
import { createCancelKeys } from './cancel-keys.js';
import { createOpenSessions } from './open-sessions.js';
import { handleMysql } from './mysql/connection.js';
import type { DbConnectionDeps } from './client-session.js';
import { handlePostgres } from './postgres/connection.js';
import type { ClientCert, UpstreamTarget } from './postgres/upstream.js';

export interface DbProxyOptions {
  db: DbConfig;
  /** Read at each connection: the current list (a reload may change it). */
  databases: () => DatabaseConfig[];
  /** The current roles with their `databases` grants. */
  roles: () => RoleDatabases[];
  policy: Policy;
  ca: DbCa;
  /** The SSH revocation list: revoking a person ends their database sessions too. */
  revocations: Revocations;
  store: Store;
  audit: AuditSink;
  recorder?: Recorder;
  logger: Logger;
  /** Names the listener's certificate carries (public_addr's host, localhost, 127.0.0.1, db.hosts). */
  hosts: string[];
  clock?: Clock;
}

export interface DbProxy {
  /** Starts listening at once; connections are refused until the serving certificate exists. */
  listen(): Promise<void>;
  /** Resolves once the serving certificate is signed (the CA may live in a store that is not up yet). */
  ready(): Promise<void>;
  /** host:port actually bound. */
  address(): { host: string; port: number };
  /** Stops accepting and ends open sessions. */
  close(): Promise<void>;
}

const SERVER_CERT_DAYS = 30;
const RENEW_EVERY_MS = 24 * 3_600_000;

/** The configured credential for a db user: an entry for that user, else one for `*`. */
function credentialFor(database: DatabaseConfig, user: string): DatabaseCredential | undefined {
  return database.credentials.find((c) => c.user === user) ?? database.credentials.find((c) => c.user === '*');
}

/** A PEM file of the database's config, read now (a rotated file is picked up); a failure names the file. */
function readPem(key: string, path: string, user: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${key} ${path} of db user "${user}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The credential's client certificate, checked here so that a wrong file is refused by name rather than by an OpenSSL error. */
function clientCertOf(credential: DatabaseCredential, user: string): ClientCert | undefined {
  if (!credential.cert_file || !credential.key_file) return undefined;
  const cert = readPem('cert_file', credential.cert_file, user);
  const key = readPem('key_file', credential.key_file, user);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new Error(`cert_file ${credential.cert_file} of db user "${user}" holds no PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new Error(`key_file ${credential.key_file} of db user "${user}" holds no (unencrypted) PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new Error(`key_file ${credential.key_file} is not the key of cert_file ${credential.cert_file} (db user "${user}")`);
  return { cert, key, certFile: credential.cert_file };
}

/** How to sign in to the database as `user`: where (TLS with that user's client certificate, if any) and with which password. */
function signInOf(database: DatabaseConfig, user: string): { target: UpstreamTarget; password: string | undefined } {
  const [host, port] = splitHostPort(database.address);
  const credential = credentialFor(database, user);
  const tls =
    database.tls.mode === 'disable'
      ? undefined
      : {
          ca: database.tls.ca_file ? readFileSync(database.tls.ca_file, 'utf8') : undefined,
          serverName: database.tls.server_name ?? host,
          client: credential && clientCertOf(credential, user),
        };
  return { target: { host, port, tls, loopback: isLoopbackHost(host) }, password: credential?.password };
}

/**
 * Who speaks first on a fresh connection: a PostgreSQL client sends its SSLRequest at once, a
 * MySQL client waits for the server's greeting. A first chunk is put back for the reader that
 * takes the socket; the socket is left paused either way.
 */
function firstSpeaker(socket: Socket, waitMs: number): Promise<'client' | 'silent' | 'closed'> {
  return new Promise((resolve) => {
    const settle = (who: 'client' | 'silent' | 'closed') => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      resolve(who);
    };
    const onData = (chunk: Buffer) => {
      settle('client');
      socket.unshift(chunk);
    };
    const onClose = () => settle('closed');
    const timer = setTimeout(() => settle('silent'), waitMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/**
 * The database listener: one TLS port (`db.listen`) for PostgreSQL and MySQL clients with
 * Gatehouse client certificates. Its serving certificate comes from the database CA (renewed daily); revocations
 * heard from any replica end the sessions they cover.
 */
export function createDbProxy(options: DbProxyOptions): DbProxy {
  const { db, logger } = options;
  const clock = options.clock ?? systemClock;
  const emit = bestEffort(options.audit, logger);
  const sessions = createOpenSessions(logger);
  const cancelKeys = createCancelKeys(options.store);
  let context: SecureContext | undefined;
  let caCert: X509Certificate | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let watch: Subscription | undefined;
  const sockets = new Set<Socket>();
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));

  const renew = async () => {
    const [{ key, cert }, ca] = await Promise.all([options.ca.serverCert(options.hosts, SERVER_CERT_DAYS), options.ca.caPem()]);
    context = createSecureContext({ key, cert, ca, minVersion: 'TLSv1.2' });
    caCert = new X509Certificate(ca);
    markReady();
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', (err) => logger.debug({ err: err.message }, 'database client connection error'));
    socket.setNoDelay(true);
    if (!context) return void socket.destroy();
    const deps: DbConnectionDeps = {
      db,
      databases: options.databases,
      secureContext: () => context!,
      caCert: () => caCert!,
      revocations: options.revocations,
      authorize: (peer, user, name) => authorizeDb({ peer, databases: options.databases(), policy: options.policy, roleSpecs: options.roles(), user, name }),
      upstream: signInOf,
      cancelKeys,
      audit: options.audit,
      emit,
      recorder: options.recorder,
      sessions,
      logger,
      clock,
    };
    if (!options.databases().some((d) => d.protocol === 'mysql')) return void handlePostgres(socket, deps);
    void firstSpeaker(socket, db.mysql_greeting_delay).then((who) => {
      if (who === 'closed') return void socket.destroy();
      // Each handler attaches its reader synchronously, before the socket flows again.
      void (who === 'client' ? handlePostgres(socket, deps) : handleMysql(socket, deps));
      socket.resume();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'database listener error'));

  const [host, port] = splitHostPort(db.listen);
  return {
    async listen() {
      // Start order never matters: while the CA's store is unreachable, connections are refused and signing is retried.
      const signUntilDone = async (delayMs: number): Promise<void> => {
        try {
          await renew();
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'database listener certificate not signed yet; retrying');
          retryTimer = setTimeout(() => void signUntilDone(Math.min(delayMs * 2, 10_000)), delayMs).unref();
          return;
        }
        renewTimer = setInterval(
          () => renew().catch((err) => logger.error({ err }, 'renewing the database listener certificate failed')),
          RENEW_EVERY_MS,
        ).unref();
      };
      await signUntilDone(500);
      watch = options.revocations.watch((revocation) => sessions.endRevoked(revocation));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
    ready: () => readyPromise,
    address() {
      const a = server.address() as { address: string; port: number };
      return { host: a.address, port: a.port };
    },
    async close() {
      clearInterval(renewTimer);
      clearTimeout(retryTimer);
      await watch?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      sessions.endAll('gatehouse: the gateway is shutting down');
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
