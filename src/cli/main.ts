import { parseArgs } from 'node:util';
import { ConfigError } from '../core/config-error.js';
import { isGatehouseError } from '../core/errors.js';
import { UsageError } from './errors.js';

// Commands load on demand: `kube credentials` runs on every kubectl call and must start fast.
const commands = {
  serve: () => import('./commands/serve.js'),
  checkConfig: () => import('./commands/check-config.js'),
  config: () => import('./commands/config.js'),
  policy: () => import('./commands/policy.js'),
  login: () => import('./commands/login.js'),
  kube: () => import('./commands/kube.js'),
  kubeCredentials: () => import('./commands/kube-credentials.js'),
  audit: () => import('./commands/audit.js'),
  ssh: () => import('./commands/ssh.js'),
  play: () => import('./commands/play.js'),
  db: () => import('./commands/db.js'),
  request: () => import('./commands/request.js'),
};

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve          Run the gateway (no config: the embedded demo)
  check-config   Validate a config file and run its policy tests (exit 0 valid, 2 invalid)
  config schema  Print the config file's JSON Schema (config/gatehouse.schema.json)
  policy explain Show what an identity resolves to: --identity FILE.json [--json]
  audit          Search, tail, verify and export the audit log (gatehouse audit --help)
  ssh            ssh ca | ssh cert | ssh config | ssh [login@]node [command] (see gatehouse ssh --help)
  db             db ls | db login NAME | db connect NAME | db proxy NAME --port P (see gatehouse db --help)
  play           Replay a session recording: play <id|file.cast> [-i|--idle-time-limit SECS] [-s|--speed N]
  request        Just-in-time access: request create --role R --reason TEXT | ls | show ID | review ID --approve|--deny | drop ID
                 (see gatehouse request --help)

  login          Sign in to a gateway: [--server URL] [--connector ID] [--device]
                 --request ID [--wait 10m]: wait for the request's approval, then use its roles at once
  status         Who you are, roles, Kubernetes groups, token expiry, databases
  logout         Revoke the CLI login at the gateway and forget it locally

  kube login NAME [--kubeconfig PATH]   Add or update context NAME for a cluster
  kube credentials --cluster NAME       The kubectl exec credential plugin
  kube apiserver-config --cluster NAME  kube-apiserver OIDC flags and AuthenticationConfiguration
  kube rbac                             RoleBindings for every role's Kubernetes groups
  kube webhook-config                   kubeconfig for the TokenReview webhook

Options:
  --config FILE  Config file (default: $GATEHOUSE_CONFIG, then config/gatehouse.yaml)
  --demo         serve: run the embedded demo even when a config file exists
  --listen ADDR  Demo mode only: host:port to listen on (default 127.0.0.1:8080)
  --identity F   policy explain: an identity as JSON (connector, username, email, groups, claims)
  --json         machine-readable output
  -h, --help     Show this help

Environment: GATEHOUSE_CONFIG (config file), GATEHOUSE_LISTEN and GATEHOUSE_DATA_DIR (demo address
and data directory), LOG_LEVEL (pino level).
`;

async function main(argv: string[]): Promise<number> {
  // Subcommands with their own options (or a free-form remote command) parse their arguments themselves.
  if (argv[0] === 'audit') return (await commands.audit()).auditCommand(argv.slice(1));
  if (argv[0] === 'ssh') return (await commands.ssh()).sshCommand(argv.slice(1));
  if (argv[0] === 'play') return (await commands.play()).play(argv.slice(1));
  if (argv[0] === 'db') return (await commands.db()).dbCommand(argv.slice(1));
  if (argv[0] === 'request') return (await commands.request()).requestCommand(argv.slice(1));
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      demo: { type: 'boolean' },
      server: { type: 'string' },
      connector: { type: 'string' },
      device: { type: 'boolean' },
      cluster: { type: 'string' },
      kubeconfig: { type: 'string' },
      'exec-command': { type: 'string' },
      identity: { type: 'string' },
      request: { type: 'string' },
      wait: { type: 'string' },
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
      await (await commands.serve()).serve(values);
      return -1; // keeps running
    case 'check-config':
      (await commands.checkConfig()).checkConfig(values);
      return 0;
    case 'config':
      (await commands.config()).configCommand(positionals.slice(1));
      return 0;
    case 'login':
      await (await commands.login()).login(values);
      return 0;
    case 'status':
      await (await commands.login()).status(values);
      return 0;
    case 'logout':
      await (await commands.login()).logout(values);
      return 0;
    case 'kube':
      return kube(positionals.slice(1), values);
    case 'policy':
      if (positionals[1] !== 'explain') throw new UsageError('usage: gatehouse policy explain --identity FILE');
      (await commands.policy()).policyExplain(values);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function kube(args: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const str = (key: string) => (typeof values[key] === 'string' ? (values[key] as string) : undefined);
  const options = { server: str('server'), config: str('config'), cluster: str('cluster'), kubeconfig: str('kubeconfig'), execCommand: str('exec-command') };
  switch (args[0]) {
    case 'credentials':
      await (await commands.kubeCredentials()).kubeCredentials(options);
      return 0;
    case 'login':
      await (await commands.kube()).kubeLogin({ ...options, cluster: args[1] ?? options.cluster });
      return 0;
    case 'apiserver-config':
      await (await commands.kube()).kubeApiserverConfig(options);
      return 0;
    case 'rbac':
      await (await commands.kube()).kubeRbac(options);
      return 0;
    case 'webhook-config':
      await (await commands.kube()).kubeWebhookConfig(options);
      return 0;
    default:
      throw new UsageError('usage: gatehouse kube login|credentials|apiserver-config|rbac|webhook-config');
  }
}

// Invoked as the kubectl plugin `kubectl gatehouse …`, the arguments are the same.
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
    if (isGatehouseError(err)) {
      process.stderr.write(`gatehouse: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`gatehouse: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
