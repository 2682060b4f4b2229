// One failing scenario must not take a whole bench down: every bench runs each row (scenario,
// measurement) through `tryRow` (or `row`, for rows that are just table cells). A row that throws
// is printed in the table as "FAILED: <message>" (the stack goes to stderr) and the bench goes on
// with the next row.

/** A thrown value as one line, safe inside a markdown table cell. */
export function errorMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line || '(no message)';
}

export type RowResult<T> = { ok: true; value: T } | { ok: false; error: string; cell: string };

/** Rows that failed in this process so far (a bench may exit non-zero when there were any). */
export let failedRows = 0;

/**
 * Runs one row of a bench. Resolves with its value, or, when it throws (or rejects), prints the
 * error to stderr and resolves with the message and the cell to show: `FAILED: <message>`.
 * Never rejects.
 */
export async function tryRow<T>(label: string, run: () => T | Promise<T>): Promise<RowResult<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    failedRows++;
    const error = errorMessage(err);
    process.stderr.write(`bench: row "${label}" failed: ${err instanceof Error && err.stack ? err.stack : error}\n`);
    return { ok: false, error, cell: `FAILED: ${error}` };
  }
}

/**
 * A table row: `[label, ...cells]` from `run`, or, when it throws, `[label, 'FAILED: <message>']`
 * padded with empty cells to `width` columns.
 */
export async function row(label: string, width: number, run: () => string[] | Promise<string[]>): Promise<string[]> {
  const result = await tryRow(label, run);
  return result.ok ? [label, ...result.value] : failedCells(label, result.cell, width);
}

/** `[label, cell, '', ...]`, `width` cells in all. */
export function failedCells(label: string, cell: string, width: number): string[] {
  return [label, cell, ...Array.from({ length: Math.max(0, width - 2) }, () => '')];
}

/**
 * Last resort, for benches that run event-emitting clients in their own process (ssh2, an
 * in-process gateway): an error that escapes every row (an `error` event nobody listens to, a
 * rejection nobody awaits) is printed and the bench goes on; it then exits non-zero. Rows should
 * catch their own errors; this is only for what slips past them.
 */
export function reportStrayErrors(bench: string): void {
  const report = (kind: string) => (err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(`${bench}: ${kind} outside any row (continuing): ${err instanceof Error && err.stack ? err.stack : String(err)}\n`);
  };
  process.on('unhandledRejection', report('unhandled rejection'));
  process.on('uncaughtException', report('uncaught exception'));
}
