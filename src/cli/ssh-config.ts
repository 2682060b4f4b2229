import { UsageError } from './errors.js';

/**
 * Node aliases in the generated ssh config are `<node><suffix>` (`web-1.gatehouse`), so an
 * `Include` of it never shadows the person's own `Host web-1` entries.
 */
export const DEFAULT_HOST_SUFFIX = '.gatehouse';

/** The suffix from --host-suffix, else GATEHOUSE_SSH_HOST_SUFFIX, else the one saved earlier, else `.gatehouse`. */
export function chooseHostSuffix(options: { flag?: string; env?: string; saved?: string }): string {
  const suffix = options.flag ?? options.env ?? options.saved ?? DEFAULT_HOST_SUFFIX;
  // ssh_config patterns: no wildcards, negations, commas or spaces; a leading dot keeps names apart.
  if (!/^(\.[A-Za-z0-9][A-Za-z0-9._-]{0,62})?$/.test(suffix))
    throw new UsageError(
      `The ssh host suffix must be empty or a dot and a name (letters, digits, ".", "-", "_"), like ${DEFAULT_HOST_SUFFIX}; got "${suffix}".`,
    );
  return suffix;
}

/** `web-1.gatehouse` (or `web-1` itself) → `web-1`: the node name the gateway knows. */
export const nodeOfAlias = (host: string, suffix: string): string => (suffix && host.endsWith(suffix) ? host.slice(0, -suffix.length) : host);

export interface SshConfigOptions {
  key: string;
  cert: string;
  knownHosts: string;
  /** Where this snippet is written (for the Include hint). */
  path: string;
  /** The gateway's SSH listener, `host:port` (`[v6]:port`). */
  proxy: string;
  nodes: string[];
  suffix: string;
}

/**
 * The ssh_config snippet: the gateway as a jump host, and one alias per node the person may reach.
 * ProxyJump asks the gateway for `HostName` (`ssh -W '[%h]:%p'`), and OpenSSH checks the node's
 * host certificate against that name too; ssh_config cannot strip a suffix from %h, hence an
 * explicit HostName per node.
 */
export function sshConfigSnippet(o: SshConfigOptions): string {
  const sep = o.proxy.lastIndexOf(':');
  const common = [
    `  IdentityFile ${o.key}`,
    `  CertificateFile ${o.cert}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${o.knownHosts}`,
    '  StrictHostKeyChecking yes',
  ];
  const aliases = o.nodes.map((node) => `${node}${o.suffix}`);
  return [
    '# Gatehouse SSH: written by `gatehouse ssh cert` / `gatehouse login`.',
    `# Use it with \`ssh -F ${o.path} login@node${o.suffix}\`, or put this at the top of ~/.ssh/config:`,
    `#   Include ${o.path}`,
    'Host gatehouse-proxy',
    `  HostName ${o.proxy.slice(0, sep).replace(/^\[|\]$/g, '')}`,
    `  Port ${o.proxy.slice(sep + 1)}`,
    '  User gatehouse',
    ...common,
    ...o.nodes.flatMap((node, i) => [`Host ${aliases[i]}`, `  HostName ${node}`]),
    ...(o.nodes.length ? [`Host ${aliases.join(' ')}`, '  ProxyJump gatehouse-proxy', ...common] : []),
    '',
  ].join('\n');
}
