import { existsSync } from 'node:fs';
import { demoConfig } from '../../config/demo.js';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { createLogger } from '../../core/logger.js';
import { createGateway } from '../../main.js';

const DEFAULT_CONFIG = 'config/gatehouse.yaml';

/**
 * --demo forces the demo; otherwise --config, then GATEHOUSE_CONFIG, then config/gatehouse.yaml;
 * with none of them, the demo.
 * The demo listens on --listen or GATEHOUSE_LISTEN and keeps its data in GATEHOUSE_DATA_DIR
 * (default ./data/demo).
 */
export function resolveConfig(flag?: string, listen?: string, forceDemo = false): { config: Config; demo: boolean; source: string } {
  const path = forceDemo ? undefined : (flag ?? process.env.GATEHOUSE_CONFIG ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined));
  if (path) return { config: loadConfigFile(path), demo: false, source: path };
  const config = demoConfig({ listen: listen ?? process.env.GATEHOUSE_LISTEN, dataDir: process.env.GATEHOUSE_DATA_DIR || undefined });
  return { config, demo: true, source: 'built-in demo' };
}

export async function serve(options: { config?: string; listen?: string; demo?: boolean }): Promise<void> {
  const logger = createLogger();
  const { config, demo, source } = resolveConfig(options.config, options.listen, options.demo);
  const gateway = await createGateway(config, { logger, demo });
  await gateway.start();
  logger.info({ url: config.server.public_url, listen: config.server.listen, config: source }, 'gatehouse is listening');
  if (demo) printDemoBanner(config.server.public_url, gateway.connectors.demoUsers ?? []);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    gateway.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // SIGHUP re-reads the config file and applies its policy and clusters; a broken file changes nothing.
  process.on('SIGHUP', () => {
    if (demo) return;
    try {
      gateway.reloadPolicy(loadConfigFile(source));
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'config reload failed; keeping the running policy');
    }
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function printDemoBanner(url: string, users: { username: string; password: string; groups: string[] }[]): void {
  const line = '='.repeat(72);
  const rows = users.map((u) => `    ${u.username.padEnd(8)} password: ${u.password.padEnd(20)} groups: ${u.groups.join(', ')}`);
  process.stdout.write(
    [
      '',
      line,
      '  GATEHOUSE DEMO MODE: NOT FOR PRODUCTION',
      '  No config was given, so an embedded IdP, in-memory state and a local',
      '  audit log are in use. Pass --config or set GATEHOUSE_CONFIG for real use.',
      '',
      `  Open ${url}/ and sign in with:`,
      ...rows,
      '',
      `  A demo app sits behind the gateway at ${url.replace(/\/\/\[[^\]]+\]|\/\/[^/:]+/, '//whoami.localhost')}/`,
      line,
      '',
    ].join('\n'),
  );
}
