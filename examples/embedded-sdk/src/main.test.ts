import { describe, expect, it } from 'vitest';
import { run } from './main.js';

describe('embedded SDK example', () => {
  it('runs as documented', async () => {
    const lines: string[] = [];
    const { updated, events } = await run('pglite://memory', (line) => lines.push(line));
    expect(updated.version).toBe(2);
    expect(events.map((e) => e.split(' ')[1])).toEqual(['ci.created', 'ci.updated']);
    expect(lines[0]).toMatch(/^conflict: .*version 1, it is now 2/);
    expect(lines[2]).toBe('prod CIs: web-01@v2');
  });
});
