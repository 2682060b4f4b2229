import { loadConfigFile } from '../../config/load.js';

/** Validates a config file without starting anything. Problems throw ConfigError (exit 2). */
export function checkConfig(options: { config?: string }): void {
  const path = options.config ?? process.env.GATEHOUSE_CONFIG;
  if (!path) throw new UsageError('check-config needs --config FILE');
  const config = loadConfigFile(path);
  process.stdout.write(`${path}: OK (${config.connectors.length} connector(s): ${config.connectors.map((c) => c.id).join(', ')})\n`);
}

export class UsageError extends Error {}
