/**
 * Splits a COM_QUERY text into its statements at top-level `;`, as MySQL and MariaDB do with
 * multi-statements on: not inside '…' or "…" (backslash escapes and doubled quotes), `…`
 * identifiers, `-- ` and `#` comments to the end of the line, or /* comments *\/. Empty
 * statements are dropped; each keeps its own text, trimmed.
 */
export function splitMysqlStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  const push = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (text && stripComments(text).trim()) out.push(text);
  };
  while (i < n) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n) {
        if (sql[i] === '\\' && c !== '`') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if ((c === '-' && sql[i + 1] === '-' && (i + 2 >= n || /\s/.test(sql[i + 2]))) || c === '#') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === ';') {
      push(i);
      start = i + 1;
      i++;
    } else i++;
  }
  push(n);
  return out;
}

/**
 * The text without leading comments and whitespace, with an executable comment (`/*!50001 …*\/`,
 * MariaDB's `/*M!…*\/`) opened: what the server runs, and so what decides which statement it is.
 */
export function stripComments(text: string): string {
  const bare = text.replace(/^(\s+|--(\s[^\n]*)?(\n|$)|#[^\n]*(\n|$)|\/\*(?!M?!)[\s\S]*?\*\/)*/, '');
  const executable = /^\/\*M?!\d*\s*([\s\S]*?)\*\/\s*$/.exec(bare);
  return executable ? stripComments(executable[1].trimEnd()) : bare;
}
