// A key id is base64url: one in 64 starts with "-". `hotline roster add -aM4B…` must add that key, not fail with
// "unknown option" (a newcomer pasting the README hit it at random).
import { Command } from 'commander';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keyIdsAsOperands } from '../../client/cli/argv.ts';
import { hotline } from '../helpers/cli.ts';

const dashed = `-aM4BKuefbCf6K9NqvBNHgJb95SSVf1Ao53aj8WjA9A`;
const work = mkdtempSync(join(tmpdir(), 'hotline-argv-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function program(): Command {
  const p = new Command('hotline').option('--ca <file>');
  const roster = p.command('roster');
  roster.command('add').argument('<keyid>').requiredOption('--name <name>').option('--role <role>').option('--json');
  p.command('contacts').command('verify').argument('<keyid>').argument('<fingerprint>').option('--json');
  p.command('charter').command('propose').argument('<channel>').option('--peer <kid>');
  return p;
}

describe('key ids that start with a dash', () => {
  it('are moved behind -- as operands, options and their values kept in front', () => {
    const argv = ['node', 'hotline', 'roster', 'add', dashed, '--name', 'US officer', '--role', 'poc', '--json'];
    expect(keyIdsAsOperands(argv, program())).toEqual(['node', 'hotline', 'roster', 'add', '--name', 'US officer', '--role', 'poc', '--json', '--', dashed]);
  });

  it('keep the order of several operands', () => {
    const argv = ['node', 'hotline', 'contacts', 'verify', dashed, '--json', '30261 99746'];
    expect(keyIdsAsOperands(argv, program())).toEqual(['node', 'hotline', 'contacts', 'verify', '--json', '--', dashed, '30261 99746']);
  });

  it('leave an option value alone (commander already takes it), and anything already behind --', () => {
    const asValue = ['node', 'hotline', 'charter', 'propose', 'US-CN', '--peer', dashed];
    expect(keyIdsAsOperands(asValue, program())).toEqual(asValue);
    const global = ['node', 'hotline', '--ca', dashed, 'roster', 'add', 'k', '--name', 'n'];
    expect(keyIdsAsOperands(global, program())).toEqual(global);
    const explicit = ['node', 'hotline', 'roster', 'add', '--name', 'n', '--', dashed];
    expect(keyIdsAsOperands(explicit, program())).toEqual(explicit);
  });

  it('leave unknown options for commander to refuse', () => {
    const argv = ['node', 'hotline', 'roster', 'add', 'k', '--nme', 'x'];
    expect(keyIdsAsOperands(argv, program())).toEqual(argv);
  });

  it('`hotline roster add -…` signs that key onto the roster', async () => {
    const env = { home: join(work, 'authority'), passphrase: 'US authority: amber lantern quarry 41' };
    const init = await hotline(['authority', 'init', '--state', 'US', '--name', 'US national CERT'], env);
    expect(init.code, init.stderr).toBe(0);
    const add = await hotline(['roster', 'add', dashed, '--name', 'US CERT duty officer', '--role', 'poc', '--offline', '--json'], env);
    expect(add.stderr).not.toMatch(/unknown option/);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain(dashed);
  });
});
