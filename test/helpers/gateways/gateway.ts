import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAuditEvents } from '../../../src/audit/file.js';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { parseConfig } from '../../../src/config/load.js';
import { createLogger, type Logger } from '../../../src/core/logger.js';
import { createGateway, type Gateway } from '../../../src/main.js';
import { eventually } from '../eventually.js';
import { closedPort } from '../peers/services.js';

export interface TestGateway {
  gateway: Gateway;
  url: string;
  dataDir: string;
  /** Every audit event written so far, in order. */
  auditEvents(): AuditEvent[];
  /** Polls the audit log until an event matches (events written after a response need this). */
  waitForEvent(match: (event: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent>;
  stop(): Promise<void>;
}

/**
 * Starts a real gateway on a free 127.0.0.1 port with a temp data dir.
 * `raw` is a config tree without `server` (filled in here); its connectors may use
 * `{{GATEWAY}}` in strings, which becomes the gateway's public URL.
 */
export async function startGateway(raw: Record<string, unknown>, options: { demo?: boolean; port?: number; logger?: Logger } = {}): Promise<TestGateway> {
  const port = options.port ?? (await closedPort());
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const { server: serverOverrides, state, ...rest } = raw as { server?: Record<string, unknown>; state?: Record<string, unknown> };
  const config = parseConfig(
    JSON.parse(
      JSON.stringify({
        server: { public_url: url, listen: `127.0.0.1:${port}`, rate_limit: { login_per_minute: 1000 }, ...serverOverrides },
        state: { data_dir: dataDir, ...state },
        ...rest,
      }).replaceAll('{{GATEWAY}}', url),
    ),
  );
  const gateway = await createGateway(config, { logger: options.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), demo: options.demo });
  await gateway.start();
  return {
    gateway,
    url,
    dataDir,
    auditEvents: () => readAuditEvents(join(dataDir, 'audit')),
    waitForEvent: (match, timeoutMs = 3000) =>
      eventually(() => readAuditEvents(join(dataDir, 'audit')).find(match), { timeoutMs, intervalMs: 25, message: 'no matching audit event was written' }),
    async stop() {
      await gateway.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
