import { policyFromConfig } from '../../access/index.js';
import { runPolicyTests } from '../../access/policy-tests.js';
import { ConfigError, configWarnings, loadConfigFile } from '../../config/load.js';
import { UsageError } from '../errors.js';

/** Validates a config file and runs its policy `tests:` without starting anything. Problems throw ConfigError (exit 2). */
export function checkConfig(options: { config?: string }): void {
  const path = options.config ?? process.env.GATEHOUSE_CONFIG;
  if (!path) throw new UsageError('check-config needs --config FILE');
  const config = loadConfigFile(path);
  const failures = runPolicyTests(policyFromConfig(config), config.tests);
  if (failures.length) throw new ConfigError(failures);
  for (const warning of configWarnings(config)) process.stderr.write(`${path}: warning: ${warning}\n`);
  process.stdout.write(
    `${path}: OK (${config.connectors.length} connector(s): ${config.connectors.map((c) => c.id).join(', ')}; ` +
      `${config.roles.length} role(s), ${config.mappings.length} mapping(s), ${config.tests.length} policy test(s) passed)\n`,
  );
}
