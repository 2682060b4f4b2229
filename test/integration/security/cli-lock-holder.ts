// A process that takes the CLI lock, appends "start <pid>" / "end <pid>" to a log and holds it
// for holdMs: the "browser tab" whose overlap test/integration/security/cli-lock.test.ts counts.
import { appendFileSync } from 'node:fs';
import { withLock } from '../../../src/cli/lock.js';

const [lockPath, logPath, holdMs, heartbeatMs] = process.argv.slice(2);
await withLock(
  lockPath,
  async () => {
    appendFileSync(logPath, `start ${process.pid}\n`);
    await new Promise((r) => setTimeout(r, Number(holdMs)));
    appendFileSync(logPath, `end ${process.pid}\n`);
  },
  { heartbeatMs: Number(heartbeatMs), timeoutMs: 110_000 },
);
process.stdout.write('released\n');
