import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../config/load.js';
import { errorCodeOr } from '../../core/error-codes.js';
import { GatehouseError } from '../../core/errors.js';
import { apiserverConfigText, rbacText, webhookConfigText } from '../../kube/artefacts.js';
import { gatewayCredentials } from '../credentials.js';
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

/**
 * Operator commands: print what the API server or cluster needs, rendered from the gateway config
 * (--config, GATEHOUSE_CONFIG or config/gatehouse.yaml) or, with none of those, by the gateway
 * itself for the signed-in person (a role with cluster_artefacts: true).
 */
export async function kubeApiserverConfig(options: { config?: string; cluster?: string; server?: string }): Promise<void> {
  const path = localConfigPath(options);
  if (!path) return printFromGateway(options, 'apiserver-config', new URLSearchParams(options.cluster ? { cluster: options.cluster } : {}));
  const config = loadConfigFile(path);
  const cluster = config.clusters.find((c) => c.name === options.cluster);
  if (!cluster) throw new UsageError(`apiserver-config needs --cluster NAME (one of: ${config.clusters.map((c) => c.name).join(', ') || 'none configured'})`);
  process.stdout.write(apiserverConfigText(config, cluster));
}

export async function kubeRbac(options: { config?: string; server?: string }): Promise<void> {
  const path = localConfigPath(options);
  if (!path) return printFromGateway(options, 'rbac');
  process.stdout.write(rbacText(loadConfigFile(path)));
}

/** From the gateway, the TokenReview bearer token is always the placeholder: the secret stays in the config file. */
export async function kubeWebhookConfig(options: { config?: string; server?: string }): Promise<void> {
  const path = localConfigPath(options);
  if (!path) return printFromGateway(options, 'webhook-config');
  process.stdout.write(webhookConfigText(loadConfigFile(path)));
}

const DEFAULT_CONFIG = 'config/gatehouse.yaml';

/** The config file named, or the default one when it exists; undefined means "ask the gateway". */
function localConfigPath(options: { config?: string }): string | undefined {
  const named = options.config ?? process.env.GATEHOUSE_CONFIG;
  if (named) return named;
  return existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined;
}

async function printFromGateway(options: { server?: string }, kind: string, params = new URLSearchParams()): Promise<void> {
  if (!resolveServer(options.server))
    throw new GatehouseError(
      'no_server',
      `No ${DEFAULT_CONFIG} here: pass --config FILE, or sign in with \`gatehouse login --server URL\` to get it from the gateway.`,
      { status: 400 },
    );
  const creds = await gatewayCredentials(options);
  const query = params.size ? `?${params}` : '';
  const res = await fetch(`${creds.server}/api/v1/kube/artefacts/${kind}${query}`, { headers: { authorization: `Bearer ${creds.token}` } });
  const text = await res.text();
  if (!res.ok) {
    const body = parseJson(text);
    throw new GatehouseError(
      errorCodeOr(body.error, 'server_error'),
      `${body.message ?? `${kind} answered ${res.status}`} (${body.error ?? `HTTP ${res.status}`})`,
      {
        status: res.status,
      },
    );
  }
  process.stdout.write(text);
}

const parseJson = (text: string): { error?: string; message?: string } => {
  try {
    return JSON.parse(text) as { error?: string; message?: string };
  } catch {
    return {};
  }
};
