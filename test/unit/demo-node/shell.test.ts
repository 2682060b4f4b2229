// The demo node's toy shell: what each command answers, that nothing reaches the host (no real
// files, no processes, no environment), and the line editing the web terminal relies on
// (echo, Backspace, Enter, Ctrl-C, Ctrl-U, Ctrl-D, escape sequences, a cap on line length).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCommand, words, type ToyContext } from '../../../src/demo-node/commands.js';
import { createToyShell, execOnce, MAX_LINE } from '../../../src/demo-node/shell.js';

const NOW = Date.UTC(2026, 0, 31, 17, 5, 0);
const ctx = (login = 'root'): ToyContext => ({ login, user: 'alice', hostname: 'demo-node', now: () => NOW });

/** A shell with its output collected, and how it ended. */
function session(login = 'root') {
  let out = '';
  let exit: number | undefined;
  const shell = createToyShell(ctx(login), { write: (text) => (out += text), exit: (status) => (exit = status) });
  shell.start();
  return {
    type: (keys: string) => shell.input(Buffer.from(keys)),
    take: () => {
      const text = out;
      out = '';
      return text;
    },
    exit: () => exit,
  };
}

describe('toy shell commands', () => {
  test('whoami, hostname, pwd, date, echo and uname answer from the session, not the host', () => {
    assert.deepEqual(runCommand('whoami', ctx('alice')), { output: 'alice\n', status: 0 });
    assert.equal(runCommand('hostname', ctx()).output, 'demo-node\n');
    assert.equal(runCommand('pwd', ctx()).output, '/root\n');
    assert.equal(runCommand('pwd', ctx('alice')).output, '/home/alice\n');
    assert.equal(runCommand('date', ctx()).output, 'Sat, 31 Jan 2026 17:05:00 GMT\n');
    assert.equal(runCommand(`echo  hello   "two  words" 'it''s'`, ctx()).output, 'hello two  words its\n');
    assert.equal(runCommand('echo', ctx()).output, '\n', 'an empty line, as echo prints');
    assert.equal(runCommand('echo $HOME $((6*7))', ctx()).output, '$HOME $((6*7))\n', 'no expansion');
    assert.equal(runCommand('uname', ctx()).output, 'Gatehouse-toy\n');
    assert.match(runCommand('uname -a', ctx()).output, /demo-node .*no real system/);
    assert.match(runCommand('help', ctx()).output, /toy node.*\nCommands: help, whoami/);
  });

  test('ls and cat see only the two virtual files, by any name for the home directory', () => {
    assert.equal(runCommand('ls', ctx()).output, 'README.txt  notes.txt\n');
    assert.equal(runCommand('ls -l ~', ctx()).output, 'README.txt  notes.txt\n');
    for (const name of ['README.txt', './README.txt', '~/README.txt', '/root/README.txt']) {
      const r = runCommand(`cat ${name}`, ctx());
      assert.equal(r.status, 0, name);
      assert.match(r.output, /toy SSH node/, name);
    }
    assert.match(runCommand('cat README.txt', ctx('alice')).output, /You \(alice\) came in through the gateway as "alice"/);
  });

  test('the host filesystem is not there: /etc/passwd, /proc, .. and absolute paths are not found', () => {
    for (const path of ['/etc/passwd', '/etc/shadow', '/proc/self/environ', '../../etc/passwd', '/home/alice/README.txt', 'package.json']) {
      assert.deepEqual(runCommand(`cat ${path}`, ctx()), { output: `cat: ${path}: No such file or directory\n`, status: 1 }, path);
      assert.equal(runCommand(`ls ${path}`, ctx()).status, 2, path);
    }
    assert.doesNotMatch(runCommand('cat /etc/passwd', ctx()).output, /root:x:0:0/);
    assert.equal(runCommand('cat', ctx()).status, 1);
  });

  test('anything else is not a command: no shell, no processes', () => {
    for (const line of ['sh -c id', 'bash', 'id', 'env', 'rm -rf /', 'node -e 1', '$(id)', '`id`', 'whoami; id']) {
      const r = runCommand(line, ctx());
      assert.equal(r.status, 127, line);
      assert.match(r.output, /command not found/, line);
    }
    assert.deepEqual(runCommand('   ', ctx()), { output: '', status: 0 });
  });

  test('exit ends the session, with a status', () => {
    assert.deepEqual(runCommand('exit', ctx()), { output: '', status: 0, exit: true });
    assert.deepEqual(runCommand('exit 3', ctx()), { output: '', status: 3, exit: true });
    assert.equal(runCommand('exit nope', ctx()).status, 2);
  });

  test('words: quotes group, whitespace separates', () => {
    assert.deepEqual(words(`a "b c" 'd'e ""`), ['a', 'b c', 'de', '']);
    assert.deepEqual(words(''), []);
  });
});

describe('toy shell line editing (a pty session)', () => {
  test('greets, prompts, echoes typed characters and runs the line on Enter', () => {
    const s = session();
    assert.equal(s.take(), 'Gatehouse demo node demo-node: a toy shell, not a real system. Type help.\r\nroot@demo-node:~# ');
    s.type('whoami');
    assert.equal(s.take(), 'whoami');
    s.type('\r');
    assert.equal(s.take(), '\r\nroot\r\nroot@demo-node:~# ');
    const alice = session('alice');
    alice.take();
    alice.type('echo hi\r\n');
    assert.equal(alice.take(), 'echo hi\r\nhi\r\nalice@demo-node:~$ ', '\\r\\n is one Enter');
  });

  test('multi-line output gets \\r\\n line ends', () => {
    const s = session();
    s.take();
    s.type('help\r');
    assert.match(s.take(), /^help\r\n[^\n]+\r\nCommands: [^\n]+\r\nroot@demo-node:~# $/);
  });

  test('Backspace erases the last character, on screen and in the line', () => {
    const s = session();
    s.take();
    s.type('whoamx\x7f');
    assert.equal(s.take(), 'whoamx\b \b');
    s.type('i\r');
    assert.equal(s.take(), 'i\r\nroot\r\nroot@demo-node:~# ');
    s.type('\x7f\b');
    assert.equal(s.take(), '', 'nothing to erase at an empty prompt');
  });

  test('Ctrl-C drops the line and prompts again; Ctrl-U clears it', () => {
    const s = session();
    s.take();
    s.type('cat /etc/passwd\x03');
    assert.equal(s.take(), 'cat /etc/passwd^C\r\nroot@demo-node:~# ');
    s.type('\r');
    assert.equal(s.take(), '\r\nroot@demo-node:~# ', 'the dropped line does not run');
    s.type('abc\x15whoami\r');
    assert.equal(s.take(), 'abc\b \b\b \b\b \bwhoami\r\nroot\r\nroot@demo-node:~# ');
  });

  test('Ctrl-D logs out at an empty prompt only; exit ends with its status', () => {
    const s = session();
    s.take();
    s.type('ab\x04');
    assert.equal(s.exit(), undefined);
    s.type('\x15\x04');
    assert.equal(s.exit(), 0);
    assert.match(s.take(), /logout\r\n$/);
    s.type('whoami\r');
    assert.equal(s.take(), '', 'nothing runs after the end');

    const t = session();
    t.type('exit 5\r');
    assert.equal(t.exit(), 5);
  });

  test('arrow keys and other escape sequences are ignored, even split across reads', () => {
    const s = session();
    s.take();
    s.type('who\x1b[A\x1b[D\x1bOB');
    s.type('am\x1b[');
    s.type('1;5Ci\t\x01\r');
    assert.equal(s.take(), 'whoami\r\nroot\r\nroot@demo-node:~# ');
  });

  test('UTF-8 split across reads is one character; Backspace removes it whole', () => {
    let out = '';
    const shell = createToyShell(ctx(), { write: (t) => (out += t), exit: () => {} });
    const bytes = Buffer.from('echo é');
    shell.input(bytes.subarray(0, bytes.length - 1));
    shell.input(bytes.subarray(bytes.length - 1));
    shell.input(Buffer.from('\x7f\r'));
    assert.equal(out, 'echo é\b \b\r\n\r\nroot@demo-node:~# ');
  });

  test('a line longer than MAX_LINE is cut (with a bell), not buffered', () => {
    const s = session();
    s.take();
    s.type('x'.repeat(MAX_LINE + 10));
    const shown = s.take();
    const bell = '\x07';
    assert.equal(shown.split(bell).join('').length, MAX_LINE);
    assert.equal(shown.split(bell).length - 1, 10);
  });
});

describe('exec', () => {
  test('one command, plain \\n without a pty, \\r\\n with one', () => {
    assert.deepEqual(execOnce('whoami', ctx(), false), { output: 'root\n', status: 0 });
    assert.deepEqual(execOnce('help', ctx(), true).output.split('\r\n').length, 3);
    assert.deepEqual(execOnce('cat /etc/passwd', ctx(), false), { output: 'cat: /etc/passwd: No such file or directory\n', status: 1 });
    assert.deepEqual(execOnce('true', ctx(), false).status, 127);
    assert.deepEqual(execOnce('exit 4', ctx(), false), { output: '', status: 4 });
  });
});
