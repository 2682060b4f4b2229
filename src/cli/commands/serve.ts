import { existsSync } from 'node:fs';
import { demoConfig } from '../../config/demo.js';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { createLogger, type Logger } from '../../core/logger.js';
import { clusterMetricsPrimary, createGateway, type Gateway } from '../../main.js';
import { runPrimary } from '../cluster-primary.js';
import { isClusterWorker, workerCount, workerReady, workerStart } from '../workers.js';

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

/**
 * Runs the gateway: in this process, or (server.workers > 1) as the cluster primary of that many
 * workers (src/cli/cluster-primary.ts). The demo always runs in one process.
 */
export async function serve(options: { config?: string; listen?: string; demo?: boolean }): Promise<void> {
  const logger = createLogger();
  if (isClusterWorker()) return serveWorker(logger);
  const { config, demo, source } = resolveConfig(options.config, options.listen, options.demo);
  const workers = demo ? 1 : workerCount(config);
  const listening = { url: config.server.public_url, listen: config.server.listen, config: source, workers };
  if (workers > 1) {
    const { pids } = await runPrimary({
      config,
      count: workers,
      logger,
      reload: () => loadConfigFile(source),
      metrics: clusterMetricsPrimary,
      // Each worker drains as one process does (src/main.ts stop()), plus a margin.
      stopTimeoutMs: config.server.drain_delay + (config.ssh?.shutdown_grace ?? 0) + 15_000,
    });
    logger.info({ ...listening, pids }, 'gatehouse is listening');
    return;
  }
  const gateway = await createGateway(config, { logger, demo });
  await gateway.start();
  logger.info(listening, 'gatehouse is listening');
  if (demo) printDemoBanner(config.server.public_url, gateway.connectors.demoUsers ?? []);
  stopOnSignals(
    () => gateway,
    () => logger,
  );
  // SIGHUP re-reads the config file and applies its policy and clusters; a broken file changes nothing.
  process.on('SIGHUP', () => {
    if (demo) return;
    try {
      gateway.reloadPolicy(loadConfigFile(source));
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'config reload failed; keeping the running policy');
    }
  });
}

/** One of the primary's workers: its config and reloads come from the primary, which read the file. */
async function serveWorker(root: Logger): Promise<void> {
  // Signals may come before the gateway exists (a stop during start-up exits at once).
  const running: { gateway?: Gateway; logger: Logger } = { logger: root };
  process.on('SIGHUP', () => undefined); // a signal to the process group; the primary sends the reload
  stopOnSignals(
    () => running.gateway,
    () => running.logger,
  );
  const { slot, config } = await workerStart();
  const logger = (running.logger = root.child({ worker: slot, pid: process.pid }));
  const gateway = (running.gateway = await createGateway(config, { logger, clusterWorker: true }));
  await gateway.start();
  workerReady((next) => gateway.reloadPolicy(next));
}

/** SIGTERM/SIGINT stop the gateway gracefully (once; before it exists, exit at once). */
function stopOnSignals(gateway: () => Gateway | undefined, log: () => Logger): void {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const logger = log();
    logger.info({ signal }, 'shutting down');
    const running = gateway();
    if (!running) process.exit(0);
    running.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
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
