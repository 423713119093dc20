import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../client/drill/scenario.ts';

const sample = readFileSync(new URL('../../docs/examples/grid-ransomware.yaml', import.meta.url), 'utf8');

describe('drill scenario', () => {
  it('parses the sample scenario, scaling deadlines by timeScale and ordering injects', () => {
    const s = parseScenario(sample, 'grid.yaml');
    expect(s.name).toBe('Grid ransomware 2026');
    expect(s.participants).toEqual(['US', 'CN']);
    expect(s.timeScale).toBe(60);
    expect(s.deadlines).toEqual({ FLASH: 10_000 });
    expect(s.injects.map((i) => [i.atMs, i.to, i.level])).toEqual([
      [0, 'CN', 'PRIORITY'],
      [600_000, 'US', 'IMMEDIATE'],
      [1_200_000, 'CN', 'FLASH'],
    ]);
  });

  it('accepts JSON too', () => {
    const s = parseScenario(JSON.stringify({ drill: 'x', participants: ['US', 'CN'], injects: [{ at: 5, to: 'CN', level: 'flash', text: 't' }] }), 'x.json');
    expect(s.injects[0]).toMatchObject({ atMs: 5000, level: 'FLASH', subject: null });
  });

  it('names the line and field of a bad level', () => {
    const bad = sample.replace('level: IMMEDIATE', 'level: URGENT');
    expect(() => parseScenario(bad, 'grid.yaml')).toThrow(/^grid\.yaml:15: injects\[1\]\.level: unknown level "URGENT"/);
  });

  it('names the line of an inject to a non-participant and of a bad duration', () => {
    expect(() => parseScenario(sample.replace('to: US', 'to: RU'), 'g.yaml')).toThrow(/^g\.yaml:14: injects\[1\]\.to: "RU" is not a participant/);
    expect(() => parseScenario(sample.replace('at: 20m', 'at: soon'), 'g.yaml')).toThrow(/^g\.yaml:18: injects\[2\]\.at: "soon" is not a duration/);
  });

  it('reports YAML syntax errors with a line, and unknown fields', () => {
    expect(() => parseScenario('drill: "x\nparticipants: [US', 'b.yaml')).toThrow(/^b\.yaml:\d+: not valid YAML/);
    expect(() => parseScenario(sample.replace('timeScale: 60', 'timescale: 60'), 'g.yaml')).toThrow(/^g\.yaml:\d+: \(top level\): Unrecognized key/);
    expect(() => parseScenario('drill: x\nparticipants: [US, CN]\ninjects: []\n', 'e.yaml')).toThrow(/e\.yaml:3: injects: a drill needs at least one inject/);
  });
});
