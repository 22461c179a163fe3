/**
 * The daemon's stderr log (src/daemon/log-output.ts): one write per turn of the event loop, in
 * order, at once beyond the pending bound, and nothing lost when the process exits or dies of
 * an uncaught exception right after a line was made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TurnBatchedOutput } from '../../src/daemon/log-output.js';

const MODULE = join(dirname(fileURLToPath(import.meta.url)), '../../src/daemon/log-output.js');

function collector(): { writes: string[]; write(t: string): void } {
  const writes: string[] = [];
  return { writes, write: (t: string) => void writes.push(t) };
}

test('the lines of one turn go out in one write, in order, once the turn is done', async () => {
  const sink = collector();
  const out = new TurnBatchedOutput(sink);
  out.write('a\n');
  out.write('b\n');
  out.write('c\n');
  assert.deepEqual(sink.writes, [], 'nothing is written during the turn');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sink.writes, ['a\nb\nc\n']);
  out.write('d\n');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sink.writes, ['a\nb\nc\n', 'd\n'], 'the next turn is a write of its own');
  await new Promise((r) => setImmediate(r));
  assert.equal(sink.writes.length, 2, 'an idle turn writes nothing');
});

test('the pending lines are bounded: reaching the bound writes at once', () => {
  const sink = collector();
  const scheduled: (() => void)[] = [];
  const out = new TurnBatchedOutput(sink, (f) => void scheduled.push(f), 10);
  out.write('12345\n');
  assert.deepEqual(sink.writes, []);
  out.write('6789\n');
  assert.deepEqual(sink.writes, ['12345\n6789\n'], '11 units waiting ≥ 10');
  out.write('x\n');
  assert.equal(scheduled.length, 1, 'one turn-end flush is scheduled at a time');
  scheduled[0]?.();
  assert.deepEqual(sink.writes, ['12345\n6789\n', 'x\n']);
  out.flush();
  assert.equal(sink.writes.length, 2, 'flush with nothing waiting writes nothing');
});

for (const [how, end] of [
  ['process.exit()', 'process.exit(0);'],
  ['an uncaught exception', "throw new Error('boom');"],
] as const) {
  test(`lines made just before ${how} reach stderr`, () => {
    const script = `
      const { TurnBatchedOutput } = await import(${JSON.stringify(MODULE)});
      const out = new TurnBatchedOutput(process.stderr);
      out.flushAtExit();
      for (let i = 0; i < 3; i++) out.write('line ' + i + '\\n');
      ${end}
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('line '));
    assert.deepEqual(lines, ['line 0', 'line 1', 'line 2'], r.stderr);
  });
}
