import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { AuditFailurePolicy } from './failure.js';
import { createFileAuditBackend } from './file.js';
import { createPostgresAuditBackend } from './postgres.js';
import type { AuditBackend } from './reader.js';

export type { AuditBackend } from './reader.js';

/** The `audit` config section (structural, so audit depends on nothing but core). */
export interface AuditSettings {
  backend: 'file' | 'postgres';
  dir?: string;
  postgres_url?: string;
  postgres_schema: string;
  spool_dir?: string;
  retention_ms?: number;
  on_failure: AuditFailurePolicy;
}

/** Builds the configured backend; never waits for PostgreSQL (start order never matters). */
export function createAuditBackend(settings: AuditSettings, options: { dataDir: string; logger: Logger }): AuditBackend {
  const common = { onFailure: settings.on_failure, retentionMs: settings.retention_ms, logger: options.logger };
  if (settings.backend === 'postgres') {
    if (!settings.postgres_url) throw new Error('audit.postgres_url is required for the postgres backend');
    return createPostgresAuditBackend({
      ...common,
      url: settings.postgres_url,
      schema: settings.postgres_schema,
      spoolDir: settings.spool_dir ?? join(options.dataDir, 'audit-spool'),
    });
  }
  return createFileAuditBackend({ ...common, dir: settings.dir ?? join(options.dataDir, 'audit') });
}
