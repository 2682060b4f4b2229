import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../core/config-error.js';
import { configSchema, type Config } from './schema.js';
import { isLoopbackHost } from '../core/hosts.js';

export { ConfigError } from '../core/config-error.js';

/** Keys whose value may instead come from a file named by `<key>_file` (mounted secrets). */
export const SECRET_KEYS = ['client_secret', 'bearer_token', 'redis_url', 'postgres_url', 'password'];

export const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

type Tree = unknown;

/** Replaces `${VAR}` / `${VAR:-default}` in every string and reads `*_file` secrets. */
function resolveReferences(node: Tree, path: string[], env: NodeJS.ProcessEnv, baseDir: string, problems: string[]): Tree {
  if (typeof node === 'string') {
    return node.replace(ENV_REF, (reference, name: string, fallback: string | undefined) => {
      const value = env[name] ?? fallback;
      if (value === undefined) {
        problems.push(`${path.join('.')}: environment variable ${name} is not set`);
        return reference; // left as written, so the schema does not report the same key twice
      }
      return value;
    });
  }
  if (Array.isArray(node)) return node.map((item, i) => resolveReferences(item, [...path, String(i)], env, baseDir, problems));
  if (node && typeof node === 'object') {
    const out: Record<string, Tree> = {};
    for (const [key, value] of Object.entries(node)) {
      const resolved = resolveReferences(value, [...path, key], env, baseDir, problems);
      const secretKey = key.endsWith('_file') ? key.slice(0, -'_file'.length) : undefined;
      if (secretKey && SECRET_KEYS.includes(secretKey)) {
        if (key in out || secretKey in (node as object)) {
          problems.push(`${[...path, key].join('.')}: set either ${secretKey} or ${key}, not both`);
          continue;
        }
        try {
          out[secretKey] = readFileSync(resolve(baseDir, String(resolved)), 'utf8').trim();
        } catch (err) {
          problems.push(`${[...path, key].join('.')}: cannot read ${String(resolved)} (${(err as NodeJS.ErrnoException).code})`);
        }
        continue;
      }
      out[key] = resolved;
    }
    return out;
  }
  return node;
}

/** Validates an already-parsed config tree. Throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {}): Config {
  const problems: string[] = [];
  const resolved = resolveReferences(raw ?? {}, [], options.env ?? process.env, options.baseDir ?? process.cwd(), problems);
  const result = configSchema.safeParse(resolved);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problems.push(`${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    }
  }
  if (result.success) problems.push(...crossChecks(result.data));
  if (problems.length) throw new ConfigError(problems);
  return result.data as Config;
}

/** Rules that span keys, which the schema cannot express. */
function crossChecks(config: Config): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  config.connectors.forEach((c, i) => {
    if (seen.has(c.id)) problems.push(`connectors.${i}.id: duplicate connector id "${c.id}"`);
    seen.add(c.id);
  });
  const roleNames = new Set(config.roles.map((r) => r.name));
  config.roles.forEach((r, i) => {
    if (config.roles.findIndex((o) => o.name === r.name) !== i) problems.push(`roles.${i}.name: duplicate role "${r.name}"`);
  });
  config.mappings.forEach((m, i) =>
    m.roles.forEach((role, j) => {
      if (!role.includes('$') && !roleNames.has(role)) problems.push(`mappings.${i}.roles.${j}: no role is named "${role}"`);
    }),
  );
  config.clusters.forEach((c, i) => {
    if (config.clusters.findIndex((o) => o.name === c.name) !== i) problems.push(`clusters.${i}.name: duplicate cluster "${c.name}"`);
    if (config.clusters.findIndex((o) => o.audience === c.audience) !== i) problems.push(`clusters.${i}.audience: duplicate audience "${c.audience}"`);
    if (c.audience === 'gatehouse' || c.audience === config.cli.client_id) problems.push(`clusters.${i}.audience: "${c.audience}" is reserved`);
    c.roles?.forEach((r, j) => {
      if (!roleNames.has(r)) problems.push(`clusters.${i}.roles.${j}: no role is named "${r}"`);
    });
  });
  const publicUrl = new URL(config.server.public_url);
  if (publicUrl.protocol === 'http:' && !isLoopbackHost(publicUrl.hostname)) {
    problems.push('server.public_url: plain http is allowed only on loopback (127.0.0.1, ::1, localhost); use https');
  }
  config.connectors.forEach((c, i) => {
    if (c.type === 'saml' && c.idp_metadata_url) {
      const url = new URL(c.idp_metadata_url);
      if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
        problems.push(`connectors.${i}.idp_metadata_url: plain http is allowed only on loopback; use https`);
      }
    }
    if (c.type !== 'oidc') return;
    const issuer = new URL(c.issuer);
    if (issuer.protocol === 'http:' && !isLoopbackHost(issuer.hostname)) {
      problems.push(`connectors.${i}.issuer: plain http is allowed only on loopback; use https`);
    }
  });
  config.apps.forEach((a, i) => {
    const host = a.public_host ?? (a.path || !config.server.apps_domain ? undefined : `${a.name}.${config.server.apps_domain}`);
    if (host === publicUrl.hostname) problems.push(`apps.${i}.public_host: "${host}" is the gateway's own host; give the app a host of its own or a path`);
    if (!a.upstream && a.path)
      problems.push(`apps.${i}.path: an app without upstream is guarded through forward-auth and has no path; give it an upstream or a public_host`);
    const path = pathAppPrefix(a, config.server.apps_domain);
    if (path && !a.trust_gateway_origin) {
      problems.push(
        `apps.${i}: the app "${a.name}" would be served under ${path} on the gateway's own origin, where its pages act with the gateway's authority; ` +
          `give it a host of its own (public_host, or server.apps_domain), or set trust_gateway_origin: true on it if the app is trusted with the gateway's origin`,
      );
    }
  });
  return problems;
}

/** The prefix a proxied app is served under on the gateway's origin (explicit `path`, or the default when no host applies). */
export function pathAppPrefix(a: { name: string; upstream?: string; public_host?: string; path?: string }, appsDomain: string | undefined): string | undefined {
  if (!a.upstream || a.public_host) return undefined;
  return a.path ?? (appsDomain ? undefined : `/apps/${a.name}/`);
}

/** Things that are allowed but deserve an operator's second look (printed by `check-config`). */
/** The names the SSH listener's host certificate carries: ssh.host_principals, else the gateway's host and loopback. */
export function sshHostPrincipals(config: Config): string[] {
  return config.ssh?.host_principals ?? [...new Set([new URL(config.server.public_url).hostname, 'localhost', '127.0.0.1'])];
}

export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  config.apps.forEach((a, i) => {
    const path = pathAppPrefix(a, config.server.apps_domain);
    if (path && a.trust_gateway_origin) {
      warnings.push(
        `apps.${i}: the app "${a.name}" is served under ${path} on the gateway's own origin (trust_gateway_origin: true): ` +
          `any page it serves can act as the signed-in person at the gateway (approve device codes, open terminals, get SSH certificates); prefer a host of its own`,
      );
    }
  });
  return warnings;
}

/** Reads and validates a YAML config file. Throws ConfigError listing every problem. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read (${(err as NodeJS.ErrnoException).code})`]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `${path}:${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`));
  }
  return parseConfig(doc.toJS(), { env, baseDir: dirname(resolve(path)) });
}
