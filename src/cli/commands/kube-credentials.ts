import { UsageError } from '../errors.js';
import { clusterToken } from '../session.js';
import { resolveServer } from '../state.js';

/** The ExecCredential apiVersion we write into kubeconfigs: understood by kubectl 1.20 and later. */
export const EXEC_API = 'client.authentication.k8s.io/v1beta1';

// kubectl runs this for every command: it imports only what it needs, to start fast.
/**
 * `gatehouse kube credentials --cluster NAME`: the exec credential plugin kubectl runs.
 * Prints an ExecCredential in the apiVersion kubectl asked for (KUBERNETES_EXEC_INFO).
 */
export async function kubeCredentials(options: { server?: string; cluster?: string }): Promise<void> {
  if (!options.cluster) throw new UsageError('kube credentials needs --cluster NAME');
  const server = resolveServer(options.server);
  if (!server) throw new UsageError('which gateway? pass --server URL');
  const info = parseExecInfo(process.env.KUBERNETES_EXEC_INFO);
  // kubectl says whether a person is there; without its word, a terminal on stdin is the hint.
  const interactive = info?.spec?.interactive ?? Boolean(process.stdin.isTTY);
  const { token, expiresAt } = await clusterToken(server, options.cluster, { interactive });
  const credential = {
    apiVersion: info?.apiVersion ?? EXEC_API,
    kind: 'ExecCredential',
    status: { token, expirationTimestamp: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
  process.stdout.write(`${JSON.stringify(credential)}\n`);
}

function parseExecInfo(raw: string | undefined): { apiVersion?: string; spec?: { interactive?: boolean } } | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw new UsageError('KUBERNETES_EXEC_INFO is not JSON');
  }
}
