/**
 * Progress lines while a command waits (`pqike up`, `down`, `probe`): only when stdout is a
 * terminal (or with --progress; never with --no-progress or --json), so that scripts and pipes
 * get the result alone.
 */
import type { Values } from './verbs.js';

export interface Progress {
  readonly enabled: boolean;
  line(text: string): void;
}

export function progressFor(values: Values, out: NodeJS.WriteStream = process.stdout): Progress {
  const enabled = values['no-progress'] !== true && values['json'] !== true && (values['progress'] === true || out.isTTY === true);
  const start = Date.now();
  return {
    enabled,
    line: (text) => {
      if (!enabled) return;
      const s = ((Date.now() - start) / 1000).toFixed(1).padStart(5);
      out.write(`${s}s  ${text}\n`);
    },
  };
}
