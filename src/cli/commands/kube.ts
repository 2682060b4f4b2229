import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfigFile } from '../../config/load.js';
import { GatehouseError } from '../../core/errors.js';
import { apiserverConfig, rbacManifests, webhookKubeconfig } from '../../kube/artefacts.js';
import { kubeconfigFiles, mergeIntoKubeconfig, type KubeconfigEntry } from '../kubeconfig.js';
import { readState, resolveServer } from '../state.js';
import { UsageError } from '../errors.js';

import { EXEC_API } from './kube-credentials.js';

const serverOrFail = (flag?: string) => {
  const server = resolveServer(flag);
  if (!server) throw new UsageError('which gateway? pass --server URL');
  return server;
};

/**
 * `gatehouse kube login NAME [--kubeconfig PATH]`: adds or updates the cluster, user (exec
 * plugin, interactiveMode IfAvailable) and context NAME in kubectl's files, leaving every other
 * entry, comment and symlink alone.
 */
export async function kubeLogin(options: { server?: string; cluster?: string; kubeconfig?: string; execCommand?: string }): Promise<void> {
  if (!options.cluster) throw new UsageError('kube login needs a cluster name');
  const server = serverOrFail(options.server);
  const state = readState(server);
  if (!state.refresh_token)
    throw new GatehouseError('login_required', `Not signed in to ${server}: run \`gatehouse login --server ${server}\` first.`, { status: 401 });
  const cluster = state.clusters?.[options.cluster];
  if (!cluster)
    throw new GatehouseError(
      'unknown_cluster',
      `${server} knows no cluster "${options.cluster}" (known: ${Object.keys(state.clusters ?? {}).join(', ') || 'none'}).`,
      { status: 404 },
    );
  // mode proxy: api_server and ca_data are the Gatehouse proxy's (/api/v1/kube/clusters says so).
  const [command, ...prefixArgs] = options.execCommand ? [options.execCommand] : selfCommand();
  const user = `gatehouse-${cluster.name}`;
  const entries: KubeconfigEntry[] = [
    {
      list: 'clusters',
      name: cluster.name,
      value: { cluster: { server: cluster.api_server, ...(cluster.ca_data ? { 'certificate-authority-data': cluster.ca_data } : {}) } },
    },
    {
      list: 'users',
      name: user,
      value: {
        user: {
          exec: {
            apiVersion: EXEC_API,
            command,
            args: [...prefixArgs, 'kube', 'credentials', '--cluster', cluster.name, '--server', server],
            interactiveMode: 'IfAvailable',
            provideClusterInfo: false,
          },
        },
      },
    },
    { list: 'contexts', name: cluster.name, value: { context: { cluster: cluster.name, user } } },
  ];
  const written = mergeIntoKubeconfig(kubeconfigFiles(options.kubeconfig), entries, cluster.name);
  process.stdout.write(`Context "${cluster.name}" written to ${written.join(', ')}. Try: kubectl --context ${cluster.name} get pods\n`);
}

/** How to run this very CLI again from kubectl, whatever directory kubectl runs in. */
function selfCommand(): string[] {
  const script = resolve(process.argv[1]);
  const loaders: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    if (process.execArgv[i] === '--import' && process.execArgv[i + 1]) {
      const spec = process.execArgv[++i];
      loaders.push('--import', spec.startsWith('.') || spec.startsWith('/') ? spec : fileURLToPath(import.meta.resolve(spec)));
    }
  }
  return [process.execPath, ...loaders, script];
}

/** Operator commands: read the gateway config, print what the API server or cluster needs. */
export function kubeApiserverConfig(options: { config?: string; cluster?: string }): void {
  const config = loadConfigFile(options.config ?? process.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml');
  const cluster = config.clusters.find((c) => c.name === options.cluster);
  if (!cluster) throw new UsageError(`apiserver-config needs --cluster NAME (one of: ${config.clusters.map((c) => c.name).join(', ') || 'none configured'})`);
  const { flags, authenticationConfiguration } = apiserverConfig(config, cluster);
  process.stdout.write(
    `# kube-apiserver flags (any version):\n${flags.map((f) => `#   ${f}`).join('\n')}\n#\n` +
      `# Or, on Kubernetes 1.30+, save the document below and pass --authentication-config=FILE:\n---\n${stringify(authenticationConfiguration)}`,
  );
}

export function kubeRbac(options: { config?: string }): void {
  const config = loadConfigFile(options.config ?? process.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml');
  process.stdout.write(
    rbacManifests(config)
      .map((d) => `---\n${stringify(d)}`)
      .join(''),
  );
}

export function kubeWebhookConfig(options: { config?: string }): void {
  const config = loadConfigFile(options.config ?? process.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml');
  process.stdout.write(
    `# Save as a file and pass to kube-apiserver:\n#   --authentication-token-webhook-config-file=FILE\n#   --authentication-token-webhook-version=v1\n${stringify(webhookKubeconfig(config))}`,
  );
}
