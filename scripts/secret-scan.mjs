#!/usr/bin/env node
// Secret scan: fails (exit 1) when the tree holds something that looks like a real secret.
//
// Files: everything git tracks plus untracked files that are not ignored
// (`git ls-files -co --exclude-standard`), minus node_modules, package-lock.json and binary files.
//
// Every text file is checked for:
//   - PEM private keys (-----BEGIN ... PRIVATE KEY-----, including OPENSSH/RSA/EC/ENCRYPTED)
//   - AWS access key ids (AKIA/ASIA + 16 chars)
//   - Slack tokens (xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xapp-) and Slack webhook URLs
//   - GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ + 36 chars, github_pat_...)
//   - Gatehouse CLI refresh tokens (gatehouse_rt_ + 43 chars)
//   - Google API keys (AIza + 35 chars)
//   - JWTs that look real: three base64url segments, the first starting eyJ, longer than 100 chars
// Config-ish files only (.yaml .yml .json .env .env.* .ini .conf .properties .toml) are also checked
// for assignments of client_secret/password/secret/token/api_key (and close spellings) to a literal
// value that is not a ${ENV} reference, not empty and not an obvious placeholder. TypeScript such as
// `password: string` or `token: z.string()` is never subject to that rule.
//
// Escape hatch: a line containing `secret-scan: allow` is skipped (for obviously fake test values).
// Output: `file:line: kind` per hit and exit 1, or `secret scan: clean (N files)` and exit 0.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAX_BYTES = 5 * 1024 * 1024;
const ALLOW = 'secret-scan: allow';

const patterns = [
  { kind: 'private key', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  { kind: 'AWS access key id', re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'Slack token', re: /\bxox[abposr]-[0-9A-Za-z-]{10,}/ },
  { kind: 'Slack token', re: /\bxapp-\d-[0-9A-Za-z-]{10,}/ },
  { kind: 'Slack webhook', re: /hooks\.slack\.com\/services\/T[0-9A-Z]+\/B[0-9A-Z]+\/[0-9A-Za-z]{16,}/ },
  { kind: 'GitHub token', re: /\bgh[pousr]_[0-9A-Za-z]{36,}\b/ },
  { kind: 'GitHub token', re: /\bgithub_pat_[0-9A-Za-z_]{22,}/ },
  { kind: 'Gatehouse refresh token', re: /\bgatehouse_rt_[0-9A-Za-z_-]{40,}/ },
  { kind: 'Google API key', re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/ },
  { kind: 'JWT', re: /\beyJ[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+/g, check: (m) => m.length > 100 && isRealJwt(m) },
];

// client_secret / password / secret / token / api_key (and secret_key, access_key, private_key),
// also as e.g. "db_password", "apiKey", "refresh-token", "CLIENT_SECRET". Not "tokens",
// "token_file", "password_hash", "token_endpoint": the key must end with the sensitive word.
const KEY = String.raw`[A-Za-z0-9_.-]*?(?:client[_-]?secret|password|passwd|secret|token|api[_-]?key|(?:secret|access|private)[_-]?key)`;
const assignment = {
  // key: value   "key": "value"   key = value   KEY=value   (value up to end of line / closing quote)
  re: new RegExp(String.raw`^\s*(?:-\s+)?(?:export\s+)?(["']?)(${KEY})\1\s*[:=]\s*(.*)$`, 'i'),
  inlineRe: new RegExp(String.raw`[{,]\s*(["']?)(${KEY})\1\s*:\s*("[^"]*"|'[^']*'|[^,}\s][^,}]*)`, 'gi'),
};
const CONFIG_EXT = new Set(['.yaml', '.yml', '.json', '.env', '.ini', '.conf', '.properties', '.toml']);

function isConfigFile(file) {
  const base = path.basename(file).toLowerCase();
  if (base === '.env' || base.startsWith('.env.') || base.endsWith('.env')) return true;
  return CONFIG_EXT.has(path.extname(base));
}

function isRealJwt(token) {
  const [header] = token.split('.');
  try {
    const json = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof json === 'object' && json !== null && typeof json.alg === 'string';
  } catch {
    return false;
  }
}

function cleanValue(raw) {
  let v = raw.trim();
  // drop a trailing comment (YAML/INI/env) when the value is not quoted
  if (!/^["']/.test(v)) v = v.replace(/\s+[#;].*$/, '');
  v = v.replace(/,\s*$/, '').trim();
  const q = /^(["'])(.*)\1$/.exec(v);
  if (q) v = q[2];
  return v.trim();
}

const PLACEHOLDER = [
  /^$/,
  /^(null|~|none|nil|true|false|undefined|\d{1,6})$/i, // not secrets: booleans, small numbers (ports, TTLs)
  /\$\{[^}]*\}/, // ${ENV} reference anywhere in the value
  /^\$[A-Z_][A-Z0-9_]*$/, // $ENV
  /^%\([^)]*\)s$/, // python-style interpolation
  /^\{\{.*\}\}$/, // templating
  /^<.*>$/, // <your-secret>
  /\.\.\./, // ...
  /^[x*•.-]+$/i, // xxxx, ****, ----
  /changeme|change[-_ ]me|example|placeholder|redacted|replace[-_ ]?me|your[-_ ]|dummy|not[-_ ]a[-_ ]secret/i,
  /^(secret|password|token|api[-_]?key|client[-_]?secret)$/i, // the key's own name as value
  /^(env|file|vault|aws-sm|gcp-sm):/i, // references to a secret store
  /^[{[|>]/, // a nested object/array or a YAML block scalar: not a literal on this line
  /^\/|^\.{1,2}\/|^[a-z]:\\/i, // a file path (token_file-like values under a sensitive name)
];

function isPlaceholder(value) {
  return PLACEHOLDER.some((re) => re.test(value));
}

function scanLine(line, config) {
  const kinds = new Set();
  for (const p of patterns) {
    if (p.re.global) {
      p.re.lastIndex = 0;
      for (const m of line.matchAll(p.re)) if (!p.check || p.check(m[0])) kinds.add(p.kind);
    } else if (p.re.test(line)) {
      kinds.add(p.kind);
    }
  }
  if (config) {
    const hits = [];
    const m = assignment.re.exec(line);
    if (m) hits.push([m[2], m[3]]);
    assignment.inlineRe.lastIndex = 0;
    for (const im of line.matchAll(assignment.inlineRe)) hits.push([im[2], im[3]]);
    for (const [key, raw] of hits) {
      const value = cleanValue(raw);
      if (!isPlaceholder(value)) kinds.add(`literal ${key.toLowerCase()}`);
    }
  }
  return [...kinds];
}

function listFiles() {
  const out = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return [...new Set(out.split('\0').filter(Boolean))].sort();
}

function isSkipped(file) {
  const parts = file.split('/');
  if (parts.includes('node_modules')) return true;
  const base = parts[parts.length - 1];
  return base === 'package-lock.json' || base === 'npm-shrinkwrap.json';
}

function isBinary(buf) {
  const n = Math.min(buf.length, 8000);
  for (let i = 0; i < n; i++) if (buf[i] === 0) return true;
  return false;
}

let files;
try {
  files = listFiles();
} catch (err) {
  console.error(`secret scan: cannot list files with git (${err.message.split('\n')[0]})`);
  process.exit(2);
}

const findings = [];
let scanned = 0;
for (const file of files) {
  if (isSkipped(file)) continue;
  const full = path.join(root, file);
  let st;
  try {
    st = statSync(full);
  } catch {
    continue; // listed by git but deleted in the working tree
  }
  if (!st.isFile() || st.size > MAX_BYTES) continue;
  const buf = readFileSync(full);
  if (isBinary(buf)) continue;
  scanned++;
  const config = isConfigFile(file);
  const lines = buf.toString('utf8').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.includes(ALLOW)) continue;
    for (const kind of scanLine(line, config)) findings.push(`${file}:${i + 1}: ${kind}`);
  }
}

if (findings.length > 0) {
  for (const f of findings) console.log(f);
  console.log(`secret scan: ${findings.length} finding${findings.length === 1 ? '' : 's'} in ${scanned} files`);
  console.log(`(generate test keys at run time and use \${ENV} references in configs; for an obviously fake value add "${ALLOW}" on that line)`);
  process.exit(1);
}
console.log(`secret scan: clean (${scanned} files)`);
