/**
 * Value patterns used across policy: `/regex/` (as written, with flags), globs with `*` and `?`,
 * or exact strings. Regex matches return their capture groups for `$1` substitution.
 */
export type Matcher = (value: string) => string[] | null;

const REGEX = /^\/(.*)\/([imsu]*)$/s;

export function compilePattern(pattern: string, options: { caseInsensitive?: boolean } = {}): Matcher {
  const regex = REGEX.exec(pattern);
  if (regex) {
    const re = new RegExp(regex[1], regex[2]);
    return (value) => {
      const m = re.exec(value);
      return m ? m.slice(0) : null;
    };
  }
  if (/[*?]/.test(pattern)) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    const re = new RegExp(`^${source}$`, options.caseInsensitive ? 'i' : '');
    return (value) => (re.test(value) ? [value] : null);
  }
  const expected = options.caseInsensitive ? pattern.toLowerCase() : pattern;
  return (value) => ((options.caseInsensitive ? value.toLowerCase() : value) === expected ? [value] : null);
}

/** Glob-or-exact test used for allow and deny lists (`*` matches everything). */
export const matchesAny = (patterns: string[], value: string): boolean => patterns.some((p) => compilePattern(p)(value) !== null);
