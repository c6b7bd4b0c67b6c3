import { describe, expect, it } from 'vitest';
import { pipelined } from './pipelined.js';

describe('pipelined', () => {
  it('runs the statements one at a time in order, preparing the next while the current one runs', async () => {
    const log: string[] = [];
    let running = 0;
    const results = await pipelined(
      ['a', 'b', 'c'],
      (item, i) => {
        log.push(`prepare ${item}`);
        return `${item}${i}`;
      },
      async (prepared) => {
        running++;
        expect(running).toBe(1);
        log.push(`start ${prepared}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.push(`end ${prepared}`);
        running--;
        return prepared.toUpperCase();
      },
    );
    expect(results).toEqual(['A0', 'B1', 'C2']);
    expect(log).toEqual([
      'prepare a',
      'start a0',
      'prepare b', // while a0 runs
      'end a0',
      'start b1',
      'prepare c',
      'end b1',
      'start c2',
      'end c2',
    ]);
  });

  it('stops at a failed statement: its error is thrown and nothing after it runs', async () => {
    const started: number[] = [];
    const failure = new Error('statement 1 failed');
    const run = pipelined(
      [0, 1, 2, 3],
      (item) => item,
      async (item) => {
        started.push(item);
        if (item === 1) throw failure; // fails at once, while the next one is being prepared
        return item;
      },
    );
    await expect(run).rejects.toBe(failure);
    expect(started).toEqual([0, 1]);
  });

  it('does nothing for no items', async () => {
    expect(
      await pipelined(
        [],
        () => {
          throw new Error('not called');
        },
        async () => 1,
      ),
    ).toEqual([]);
  });
});
