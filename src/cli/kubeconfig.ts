import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { Document, isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { GatehouseError } from '../core/errors.js';

type List = 'clusters' | 'users' | 'contexts';

/** One named entry of a kubeconfig list: `{ name, cluster: {...} }`, `{ name, user: {...} }` or `{ name, context: {...} }`. */
export interface KubeconfigEntry {
  list: List;
  name: string;
  value: Record<string, unknown>;
}

/** The files kubectl reads, in its order: --kubeconfig alone, else $KUBECONFIG's list (empty and repeated entries dropped), else ~/.kube/config. */
export function kubeconfigFiles(explicit?: string, env: string | undefined = process.env.KUBECONFIG): string[] {
  if (explicit) return [explicit];
  const listed = [...new Set((env ?? '').split(delimiter).filter(Boolean))];
  return listed.length ? listed : [join(homedir(), '.kube', 'config')];
}

/**
 * Adds or replaces `entries` across kubectl's files the way `kubectl config set-*` does: an entry
 * goes to the first file that already has one of its name (kubectl uses the first definition it
 * reads), a new one to the file holding the context, else to the first file that exists, else to
 * the first listed. `current-context` is set only when no file sets one. Returns the files written.
 */
export function mergeIntoKubeconfig(files: string[], entries: KubeconfigEntry[], currentContext: string): string[] {
  const docs = new Map(files.map((file) => [file, existsSync(file) ? readKubeconfig(file) : undefined]));
  const holder = (list: List, name: string) => files.find((file) => findEntry(docs.get(file), list, name) !== undefined);
  const context = entries.find((e) => e.list === 'contexts');
  const fallback = (context && holder('contexts', context.name)) ?? files.find((file) => docs.get(file)) ?? files[0];
  const writes = new Map<string, KubeconfigEntry[]>();
  for (const entry of entries) {
    const file = holder(entry.list, entry.name) ?? fallback;
    writes.set(file, [...(writes.get(file) ?? []), entry]);
  }
  const hasCurrent = files.some((file) => Boolean(docs.get(file)?.get('current-context')));
  if (!hasCurrent && !writes.has(fallback)) writes.set(fallback, []);
  for (const [file, fileEntries] of writes) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    writeKubeconfigFile(file, mergeKubeconfigText(text, fileEntries, hasCurrent || file !== fallback ? undefined : currentContext, file));
  }
  return [...writes.keys()];
}

/**
 * One file's merge, on the yaml Document so that comments, quoting, blank lines and the order of
 * everything else survive: only the named entries' nodes are replaced or appended.
 */
export function mergeKubeconfigText(text: string | undefined, entries: KubeconfigEntry[], currentContext?: string, file = 'kubeconfig'): string {
  let doc = parseKubeconfig(text ?? '', file);
  // A JSON kubeconfig (as Gatehouse once wrote) has no comments to keep; it becomes block YAML.
  if (isMap(doc.contents) && doc.contents.flow) doc = new Document(doc.toJS());
  if (!doc.has('apiVersion')) doc.set('apiVersion', 'v1');
  if (!doc.has('kind')) doc.set('kind', 'Config');
  for (const { list, name, value } of entries) {
    const node = doc.createNode({ name, ...value }) as YAMLMap;
    const seq = doc.get(list, true);
    const index = findEntry(doc, list, name);
    if (isSeq(seq) && index !== undefined) {
      const old = seq.items[index] as YAMLMap;
      Object.assign(node, { commentBefore: old.commentBefore, comment: old.comment, spaceBefore: old.spaceBefore });
      seq.items[index] = node;
    } else if (isSeq(seq)) {
      if (!seq.items.length) seq.flow = false; // `clusters: []` grows into a block list
      seq.items.push(node);
    } else if (seq === undefined || (isScalar(seq) && seq.value === null)) doc.set(list, doc.createNode([node]));
    else throw invalid(file, `${list} is not a list`);
  }
  if (currentContext && !doc.get('current-context')) doc.set('current-context', currentContext);
  return doc.toString({ ...styleOf(text ?? ''), lineWidth: 0 });
}

function readKubeconfig(file: string): Document {
  return parseKubeconfig(readFileSync(file, 'utf8'), file);
}

function parseKubeconfig(text: string, file: string): Document {
  const doc = parseDocument(text);
  if (doc.errors.length) throw invalid(file, doc.errors[0].message.split('\n')[0]);
  if (doc.contents !== null && !isMap(doc.contents)) throw invalid(file, 'the top level is not a mapping');
  return doc;
}

const invalid = (file: string, why: string) =>
  new GatehouseError('kubeconfig_invalid', `${file} is not a kubeconfig Gatehouse can merge into (${why}); fix or move it, or pass --kubeconfig PATH.`, {
    status: 400,
  });

function findEntry(doc: Document | undefined, list: List, name: string): number | undefined {
  const seq = doc?.get(list, true);
  if (!isSeq(seq)) return undefined;
  const index = seq.items.findIndex((item) => isMap(item) && item.get('name') === name);
  return index >= 0 ? index : undefined;
}

/** The layout the file already uses (kubectl's, `- ` at the key's column and 2 spaces, for a new one), so untouched lines print as they were. */
function styleOf(text: string): { indent: number; indentSeq: boolean; flowCollectionPadding: boolean } {
  const lines = text.split('\n').filter((line) => line.trim() && !line.trimStart().startsWith('#'));
  const indents = lines.map((line) => line.length - line.trimStart().length).filter((n) => n > 0);
  const indent = Math.min(8, Math.max(2, indents.length ? Math.min(...indents) : 2));
  const indentSeq = !/^-( |$)/m.test(text) && /^[ \t]+-( |$)/m.test(text);
  return { indent, indentSeq, flowCollectionPadding: /[{[] +[^\s\]}]/.test(text) };
}

/**
 * Writes through a symlink to its target (kubeconfigs are often links into a dotfiles repository),
 * atomically (a temp file beside the target, then rename), keeping the target's mode; 0600 when new.
 */
export function writeKubeconfigFile(path: string, text: string): string {
  const target = linkTarget(path);
  const existing = existsSync(target) ? statSync(target) : undefined;
  const mode = existing ? existing.mode & 0o7777 : 0o600;
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode); // writeFileSync's mode is masked by the umask
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return target;
}

/** The file a path finally names: realpath, or for a dangling link the file it would create. */
function linkTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let current = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    const stat = lstatSync(current, { throwIfNoEntry: false });
    if (!stat?.isSymbolicLink()) return current;
    current = resolve(dirname(current), readlinkSync(current));
  }
  throw new GatehouseError('kubeconfig_invalid', `${path}: too many levels of symbolic links.`, { status: 400 });
}
