import type { Recorder } from '../../recording/recorder.js';

/**
 * What the Kubernetes proxy needs from a session recorder: the smallest interface, so the
 * proxy does not depend on how recordings are stored. `execRecorder` adapts `src/recording/`
 * (asciicast v2 files, the same store as SSH sessions); without a recorder, exec sessions are
 * audited (`session.start`/`session.end`) but not recorded.
 */
export interface ExecRecorder {
  start(meta: ExecRecordingMeta): Promise<ExecRecording>;
}

export interface ExecRecordingMeta {
  /** The session id (a UUID): also the recording id. */
  id: string;
  user: string;
  cluster: string;
  namespace: string;
  pod: string;
  container?: string;
  /** The command run (exec); absent for attach. */
  command?: string[];
  tty: boolean;
}

export interface ExecRecording {
  output(data: Buffer): void;
  resize(cols: number, rows: number): void;
  close(result: { exitCode?: number | null }): Promise<void>;
}

/**
 * Kubernetes sessions in the shared recording store: `node` is `<cluster>/<namespace>/<pod>`,
 * `login` the container, `kind` shell for a TTY session, else exec. The recording id is the
 * session id. The size starts at 80x24 until kubectl sends its terminal size (channel 4).
 */
export function execRecorder(recorder: Recorder): ExecRecorder {
  return {
    async start(meta) {
      const stream = recorder.start({
        id: meta.id,
        user: meta.user,
        login: meta.container ?? '',
        node: `${meta.cluster}/${meta.namespace}/${meta.pod}`,
        command: meta.command?.join(' '),
        kind: meta.tty ? 'shell' : 'exec',
        cols: 80,
        rows: 24,
      });
      return {
        output: (data) => stream.output(data),
        resize: (cols, rows) => stream.resize(cols, rows),
        close: async ({ exitCode }) => void stream.close({ exitCode }),
      };
    },
  };
}
