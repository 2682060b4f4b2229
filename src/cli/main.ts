import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.js';
import { checkConfig } from './commands/check-config.js';
import { policyExplain } from './commands/policy.js';
import { serve } from './commands/serve.js';
import { play } from './commands/play.js';
import { sshCommand } from './commands/ssh.js';
import { UsageError } from './errors.js';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve          Run the gateway (no config: the embedded demo)
  check-config   Validate a config file and run its policy tests (exit 0 valid, 2 invalid)
  policy explain Show what an identity resolves to: --identity FILE.json [--json]
  ssh            ssh ca | ssh cert | ssh config | ssh [login@]node [command] (see gatehouse ssh --help)
  play           Replay a session recording: play <id|file.cast> [--speed N] [--skip-idle]

Options:
  --config FILE  Config file (default: $GATEHOUSE_CONFIG, then config/gatehouse.yaml)
  --listen ADDR  Demo mode only: host:port to listen on (default 127.0.0.1:8080)
  --identity F   policy explain: an identity as JSON (connector, username, email, groups, claims)
  --json         machine-readable output
  -h, --help     Show this help
`;

async function main(argv: string[]): Promise<number> {
  // These take free-form arguments (a remote command), so they parse their own.
  if (argv[0] === 'ssh') return sshCommand(argv.slice(1));
  if (argv[0] === 'play') return play(argv.slice(1));
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      identity: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command = 'serve'] = positionals;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'serve':
      await serve(values);
      return -1; // keeps running
    case 'check-config':
      checkConfig(values);
      return 0;
    case 'policy':
      if (positionals[1] !== 'explain') throw new UsageError('usage: gatehouse policy explain --identity FILE');
      policyExplain(values);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`gatehouse: ${(err as Error).message}\n\n${USAGE}`);
      process.exit(64);
    }
    process.stderr.write(`gatehouse: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
