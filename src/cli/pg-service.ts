/**
 * libpq's connection service file (~/.pg_service.conf, or $PGSERVICEFILE): INI sections of
 * connection parameters. Gatehouse owns only its own sections (`[gatehouse-NAME]`): writing one
 * replaces that section and keeps every other line of the file as it was.
 */
export function mergeServiceEntry(existing: string, name: string, params: Record<string, string>): string {
  const lines = existing === '' ? [] : existing.replace(/\n$/, '').split('\n');
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    const section = /^\s*\[([^\]]*)\]\s*$/.exec(line);
    if (section) skipping = section[1].trim() === name;
    if (!skipping) out.push(line);
  }
  while (out.length && out[out.length - 1].trim() === '') out.pop();
  const entry = [`[${name}]`, ...Object.entries(params).map(([k, v]) => `${k}=${v}`)];
  return `${[...out, ...(out.length ? [''] : []), ...entry].join('\n')}\n`;
}
