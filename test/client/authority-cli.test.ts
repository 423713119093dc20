import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCharterExtends, createIdentity, initCrypto, missingCharterSignatures, verifyCharter, verifyRoster, type SignedCharter } from '../../shared/index.ts';
import { hotline, hotlineJson, type CliEnv } from '../helpers/cli.ts';
import { seed } from '../helpers/fixed-keys.ts';
import { tempDir } from '../helpers/relay.ts';

// The state authorities' side of the trust ceremony through the real CLI, offline: keys, rosters, the charter both sign.
interface Whoami {
  kid: string;
  fingerprint: string;
  state: string;
  name: string;
}

let root: string;
let cn: CliEnv;
let us: CliEnv;
let cnAuthority: Whoami;
let usAuthority: Whoami;

const memberKid = (label: string) => createIdentity(seed(`authority-cli:${label}`)).kid;
const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));

beforeAll(async () => {
  await initCrypto();
  root = tempDir('authority-cli');
  cn = { home: join(root, 'cn'), passphrase: 'cn authority: violet kettle harbour' };
  us = { home: join(root, 'us'), passphrase: 'us authority: copper meadow signal' };
  cnAuthority = await hotlineJson<Whoami>(['authority', 'init', '--state', 'CN', '--name', 'CN national CERT'], cn);
  usAuthority = await hotlineJson<Whoami>(['authority', 'init', '--state', 'us'], us);
}, 60_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** CN proposes version 1 of CN-US to US's authority and US signs it; returns the file. */
async function ceremony(label: string): Promise<string> {
  const a = { home: join(root, `${label}-cn`), passphrase: 'a: tundra mosaic pelican' };
  const b = { home: join(root, `${label}-us`), passphrase: 'b: walnut glacier sonnet' };
  const cnA = await hotlineJson<Whoami>(['authority', 'init', '--state', 'CN'], a);
  const usA = await hotlineJson<Whoami>(['authority', 'init', '--state', 'US'], b);
  const file = join(root, `${label}-charter.json`);
  await hotlineJson(['charter', 'propose', 'CN-US', '--peer', usA.kid, '--out', file], a);
  await hotlineJson(['charter', 'sign', file, '--peer-fingerprint', cnA.fingerprint], b);
  return file;
}

describe('hotline authority', () => {
  it('init creates a 0600 authority.key with no relay, and whoami gives the same kid, fingerprint, state and name', async () => {
    expect(cnAuthority).toMatchObject({ state: 'CN', name: 'CN national CERT' });
    expect(cnAuthority.fingerprint).toMatch(/^(\d{5} ){5}\d{5}$/);
    expect(statSync(join(cn.home as string, 'authority.key')).mode & 0o777).toBe(0o600);
    const who = await hotlineJson<Whoami>(['authority', 'whoami'], cn);
    expect(who).toEqual({ kid: cnAuthority.kid, fingerprint: cnAuthority.fingerprint, state: 'CN', name: 'CN national CERT' });
    expect(usAuthority).toMatchObject({ state: 'US', name: 'US state authority' });
  });

  it('init refuses when an authority key already exists', async () => {
    const r = await hotline(['authority', 'init', '--state', 'CN'], cn);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already holds a state authority key.*\[CONFLICT\]/);
  });

  it('refuses a wrong passphrase', async () => {
    const r = await hotline(['authority', 'whoami'], { ...cn, passphrase: 'not-it' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/wrong passphrase.*\[WRONG_PASSPHRASE\]/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says NO_AUTHORITY in a HOTLINE_HOME without one', async () => {
    const r = await hotline(['roster', 'show'], { home: join(root, 'nobody'), passphrase: 'x: juniper socket falcon' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/authority init --state CODE.*\[NO_AUTHORITY\]/);
  });
});

describe('hotline roster', () => {
  it('add --offline signs a roster that verifyRoster accepts, keeps it under authority/rosters and writes --out, with no relay', async () => {
    const out = join(root, 'cn-roster.json');
    const kid = memberKid('cn-poc');
    const r = await hotlineJson<{ version: number; kept: string; published: unknown[] }>(['roster', 'add', kid, '--name', 'CN CERT duty officer', '--role', 'poc', '--offline', '--out', out], {
      ...cn,
      relay: 'ws://127.0.0.1:1',
    });
    expect(r.published).toEqual([]);
    expect(r.kept).toBe(join(cn.home as string, 'authority', 'rosters', `CN-v${r.version}.json`));
    for (const file of [out, r.kept]) {
      const doc = verifyRoster(readJson(file), { state: 'CN', authority: cnAuthority.kid });
      expect(doc.roster.members).toContainEqual({ kid, name: 'CN CERT duty officer', role: 'poc' });
    }
    const shown = await hotlineJson<{ version: number; members: { kid: string; fingerprint: string }[] }>(['roster', 'show'], cn);
    expect(shown.version).toBe(r.version);
    expect(shown.members.find((m) => m.kid === kid)?.fingerprint).toMatch(/^(\d{5} ){5}\d{5}$/);
  });

  it('refuses a look-alike name within the state (Cyrillic о) with LOOKALIKE_NAME naming both', async () => {
    const env = { home: join(root, 'lookalike'), passphrase: 'l: cobalt prairie whistle' };
    await hotlineJson(['authority', 'init', '--state', 'CN'], env);
    await hotlineJson(['roster', 'add', memberKid('first'), '--name', 'CN CERT duty officer', '--role', 'poc'], env);
    const r = await hotline(['roster', 'add', memberKid('second'), '--name', 'CN CERT duty \u043efficer', '--role', 'alternate'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('LOOKALIKE_NAME');
    expect(r.stderr).toContain('"CN CERT duty officer"');
    expect(r.stderr).toContain('"CN CERT duty \u043efficer"');
    const shown = await hotlineJson<{ version: number; members: unknown[] }>(['roster', 'show'], env);
    expect(shown).toMatchObject({ version: 1, members: [expect.objectContaining({ name: 'CN CERT duty officer' })] });
  });

  it('refuses to add a member already on the roster with the same name and role, and signs a new version for a new role', async () => {
    const env = { home: join(root, 'again'), passphrase: 'g: granite orchard beacon' };
    await hotlineJson(['authority', 'init', '--state', 'US'], env);
    const kid = memberKid('again');
    await hotlineJson(['roster', 'add', kid, '--name', 'US duty officer', '--role', 'poc'], env);
    const same = await hotline(['roster', 'add', kid, '--name', 'US duty officer', '--role', 'poc'], env);
    expect(same.code).not.toBe(0);
    expect(same.stderr).toContain('[CONFLICT]');
    const changed = await hotlineJson<{ version: number; change: string; members: { role: string }[] }>(['roster', 'add', kid, '--name', 'US duty officer', '--role', 'alternate'], env);
    expect(changed).toMatchObject({ version: 2, change: 'changed', members: [{ role: 'alternate' }] });
  });

  it('remove signs a version without the member that extends the previous one', async () => {
    const env = { home: join(root, 'remove'), passphrase: 'r: marble thistle comet' };
    const who = await hotlineJson<Whoami>(['authority', 'init', '--state', 'US'], env);
    const kid = memberKid('leaving');
    await hotlineJson(['roster', 'add', kid, '--name', 'US night officer', '--role', 'poc'], env);
    const r = await hotlineJson<{ version: number; kept: string; prev: string }>(['roster', 'remove', kid], env);
    const doc = verifyRoster(readJson(r.kept), { state: 'US', authority: who.kid });
    expect(doc.roster).toMatchObject({ version: 2, members: [] });
    expect(doc.roster.prev).toBe(r.prev);
  });
});

describe('hotline charter', () => {
  it('propose and sign between two authority homes produce a charter that verifyCharter accepts', async () => {
    const file = join(root, 'cn-us-v1.json');
    const proposed = await hotlineJson<{ version: number; peer: { fingerprint: string }; next: string }>(
      ['charter', 'propose', 'CN-US', '--peer', usAuthority.kid, '--deadline', 'FLASH=2m', '--time-tolerance', '90s', '--out', file],
      cn,
    );
    expect(proposed).toMatchObject({ version: 1, peer: { fingerprint: usAuthority.fingerprint } });
    expect(proposed.next).toContain(`--peer-fingerprint "${cnAuthority.fingerprint}"`);
    expect(missingCharterSignatures(readJson(file) as SignedCharter)).toEqual(['US']);

    const signed = await hotlineJson<{ complete: boolean; kept: string }>(['charter', 'sign', file, '--peer-fingerprint', cnAuthority.fingerprint.replace(/ /g, '')], us);
    expect(signed.complete).toBe(true);
    const doc = verifyCharter(readJson(file), { CN: cnAuthority.kid, US: usAuthority.kid });
    expect(doc.charter).toMatchObject({ channel: 'CN-US', version: 1, prev: null, templates: null, timeTolerance: 90_000, directors: [], reviewers: [] });
    expect(doc.charter.deadlines).toEqual({ ROUTINE: 86_400_000, PRIORITY: 14_400_000, IMMEDIATE: 1_800_000, FLASH: 120_000 });
    expect(readJson(signed.kept)).toEqual(doc);

    const shown = await hotlineJson<{ signatures: Record<string, string>; authorities: Record<string, { fingerprint: string }> }>(['charter', 'show', 'CN-US'], us);
    expect(shown.signatures).toEqual({ CN: 'valid', US: 'valid' });
    expect(shown.authorities.CN?.fingerprint).toBe(cnAuthority.fingerprint);
  });

  it('sign refuses a proposal whose proposer key has another fingerprint than the one given, and leaves the file unsigned', async () => {
    const file = join(root, 'wrong-fp.json');
    await hotlineJson(['charter', 'propose', 'CN-US', '--peer', usAuthority.kid, '--out', file, '--replace'], cn);
    const before = readFileSync(file, 'utf8');
    const r = await hotline(['charter', 'sign', file, '--peer-fingerprint', usAuthority.fingerprint], us);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`fingerprint ${cnAuthority.fingerprint}, not the ${usAuthority.fingerprint}`);
    expect(r.stderr).toContain('[TRUST_INVALID]');
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('version 2 extends version 1: the proposer records the countersigned v1, and the other side checks the link', async () => {
    const v1 = await ceremony('v2');
    const a = { home: join(root, 'v2-cn'), passphrase: 'a: tundra mosaic pelican' };
    const b = { home: join(root, 'v2-us'), passphrase: 'b: walnut glacier sonnet' };
    // No relay named: the countersigned v1 is only recorded, and the command says there is nowhere to publish.
    const recorded = await hotline(['charter', 'publish', v1], a);
    expect(recorded.stderr).toContain('no relay to publish to');
    const director = memberKid('director');
    const v2 = join(root, 'v2-charter-2.json');
    const proposed = await hotlineJson<{ version: number }>(['charter', 'propose', 'CN-US', '--director', director, '--deadline', 'IMMEDIATE=20m', '--require-hybrid', '--out', v2], a);
    expect(proposed.version).toBe(2);
    const cnA = await hotlineJson<Whoami>(['authority', 'whoami'], a);
    await hotlineJson(['charter', 'sign', v2, '--peer-fingerprint', cnA.fingerprint], b);
    const first = verifyCharter(readJson(v1));
    const second = verifyCharter(readJson(v2));
    expect(() => checkCharterExtends(first.charter, second.charter)).not.toThrow();
    expect(second.charter).toMatchObject({ directors: [director], deadlines: { IMMEDIATE: 1_200_000 }, hybridWrap: 'required' });
    expect(first.charter.hybridWrap).toBeUndefined();
    const shown = await hotline(['charter', 'show', 'CN-US'], b);
    expect(shown.stdout).toContain('hybrid X25519 + ML-KEM-768 required');
  });

  it('sign refuses version 1 when a different version 1 is already signed on record', async () => {
    await ceremony('fork');
    const other = { home: join(root, 'fork-cn2'), passphrase: 'c: saffron ledger tunnel' };
    const cn2 = await hotlineJson<Whoami>(['authority', 'init', '--state', 'CN'], other);
    const usKid = (await hotlineJson<Whoami>(['authority', 'whoami'], { home: join(root, 'fork-us'), passphrase: 'b: walnut glacier sonnet' })).kid;
    const file = join(root, 'fork-second.json');
    await hotlineJson(['charter', 'propose', 'CN-US', '--peer', usKid, '--out', file], other);
    const r = await hotline(['charter', 'sign', file, '--peer-fingerprint', cn2.fingerprint], { home: join(root, 'fork-us'), passphrase: 'b: walnut glacier sonnet' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('[TRUST_FORK]');
    // Eight CLI processes, three of them making keyfiles (passphrase estimate and scrypt at N=2^17): 47 s under a load of 15 before the KDF raise, over 60 s after.
  }, 120_000);
});
