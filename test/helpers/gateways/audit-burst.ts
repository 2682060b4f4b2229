// A child process for crash tests: emits audit events as fast as it can, 32 in flight, and prints
// each event's id on stdout once its emit has resolved (i.e. once the backend acknowledged it as
// durable). The parent SIGKILLs it mid-burst.
//   tsx test/helpers/gateways/audit-burst.ts file DIR
//   tsx test/helpers/gateways/audit-burst.ts postgres URL SCHEMA SPOOL_DIR
import { createFileAuditBackend } from '../../../src/audit/file.js';
import { createPostgresAuditBackend } from '../../../src/audit/postgres.js';

const [kind, a, b, c] = process.argv.slice(2);
const backend = kind === 'file' ? createFileAuditBackend({ dir: a }) : createPostgresAuditBackend({ url: a, schema: b, spoolDir: c });
let n = 0;
async function worker(): Promise<void> {
  for (;;) {
    const event = await backend.emit({ type: 'user.login', outcome: 'success', user: `burst-${n++}`, details: { pad: 'x'.repeat(200) } });
    // Writes to a pipe are synchronous on Linux: once this returns, the parent can read the id.
    process.stdout.write(`${event.id}\n`);
  }
}
await Promise.all(Array.from({ length: 32 }, worker));
