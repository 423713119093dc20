// The reviewer's CLI against a relay process: token, report (table, JSON, CSV), export, and `hotline verify` exit codes on a good bundle and on tampered ones (the full tampering matrix runs in-process in test/server/review.test.ts).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIdentity,
  initCrypto,
  reviewBundleSchema,
  signCheckpoint,
  type Envelope,
  type EnvelopeHeader,
  type ReviewBundle,
} from '../../shared/index.ts';
import { hotline, hotlineJson, startRelayProcess, type CliEnv, type CliProcess } from '../helpers/cli.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, tempDir } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

let root: string;
let relay: { proc: CliProcess; url: string; adminToken: string; httpUrl: string };
let reviewer: CliEnv;
let us: RawPeer;
let cn: RawPeer;
let bundleFile: string;
let bundle: ReviewBundle;
let noticeId: string;
let relayKid: string;

async function submit(peer: RawPeer, to: RawPeer[], header: Partial<Omit<EnvelopeHeader, 'v' | 'from'>>): Promise<Envelope> {
  const env = peer.envelope(to, header);
  const reply = await peer.submit(env);
  if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
  return env;
}

async function enrolCli(label: string, state: string, role: 'reviewer'): Promise<CliEnv> {
  const env: CliEnv = { home: join(root, label), relay: relay.url, passphrase: `pass-${label}: amber quarry lantern` };
  const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state, role, name: `${state} ${role}` });
  await hotlineJson(['init', '--name', `${state} ${role}`], env);
  await hotlineJson(['join', invite], env);
  return env;
}

beforeAll(async () => {
  await initCrypto();
  root = tempDir('review-cli');
  const started = await startRelayProcess(join(root, 'relay'));
  relay = { ...started, httpUrl: started.url.replace(/^ws/, 'http') };
  await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 60_000 } });
  us = await RawPeer.enrol(relay, 'US');
  cn = await RawPeer.enrol(relay, 'CN');
  // The authorities' part, before any envelope is built (its header names these documents): the CN-US charter with
  // the same FLASH deadline, and each PoC on its state's roster.
  await chartered(relay, 'CN-US', [us, cn], { deadlines: { FLASH: 60_000 } });
  for (const p of [us, cn]) await p.connect(relay.url);
  const notice = await submit(us, [cn], { level: 'FLASH' });
  noticeId = notice.header.id;
  await submit(cn, [us], { kind: 'receipt', level: null, refs: [noticeId], toState: 'US' });
  await submit(cn, [us], { kind: 'ack', level: null, refs: [noticeId], toState: 'US' });
  await submit(us, [cn], { level: 'PRIORITY', drill: { drillId: 'ex-7', inject: 2 } });
  reviewer = await enrolCli('reviewer', 'US', 'reviewer');
  // A reviewer sees the channels whose charter or party state's roster lists it: the US authority adds it as reviewer.
  const me = await hotlineJson<{ kid: string; name: string }>(['whoami'], reviewer);
  await installRosters(relay, [{ kid: me.kid, state: 'US', name: me.name, role: 'reviewer' }]);
}, 120_000);

afterAll(async () => {
  for (const p of [us, cn]) p?.close();
  await relay?.proc.kill();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('hotline review', () => {
  it('mints a token with the reviewer identity and points to the dashboard', async () => {
    const t = await hotlineJson<{ token: string; expiresAt: number; dashboard: string }>(['review', 'token'], reviewer);
    expect(t.token).toMatch(/^HLR-/);
    expect(t.dashboard).toBe(`${relay.httpUrl}/review`);
    expect(t.expiresAt).toBeGreaterThan(Date.now() + 11 * 3600_000);
  });

  it('reports records and aggregates as a table, JSON and CSV, with drills labelled', async () => {
    const [table, json, csv] = await Promise.all([
      hotline(['review', 'report'], reviewer),
      hotlineJson<{ records: { total: number; records: { id: string; met: boolean | null; timeToAckMs: number | null }[] }; aggregates: { overall: { count: number } } }>(['review', 'report'], reviewer),
      hotline(['review', 'report', '--csv', '--real'], reviewer),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/FLASH\s+US→CN/);
    expect(table.stdout).toContain('MET');
    expect(table.stdout).toContain('DRILL ex-7');
    expect(json.records.total).toBe(2);
    expect(json.aggregates.overall.count).toBe(2);
    expect(json.records.records.find((r) => r.id === noticeId)).toMatchObject({ met: true });
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id,channel,fromState,toState,level,/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(noticeId);
  });

  it('refuses a bad filter with one line and a code', async () => {
    const r = await hotline(['review', 'report', '--level', 'URGENT'], reviewer);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/unknown level "URGENT".*\[UNKNOWN_LEVEL\]/);
  });

  it('exports a bundle that verifies offline with the relay key pinned', async () => {
    bundleFile = join(root, 'bundle.json');
    const exported = await hotlineJson<{ out: string; relay: string; records: number }>(['review', 'export', '--out', bundleFile], reviewer);
    expect(exported).toMatchObject({ out: bundleFile, records: 2 });
    relayKid = exported.relay;
    bundle = reviewBundleSchema.parse(JSON.parse(readFileSync(bundleFile, 'utf8')));
    expect(JSON.stringify(bundle)).not.toMatch(/"body"/);
    const ok = await hotline(['verify', bundleFile, '--relay-key', relayKid]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^GOOD /);
    expect(ok.stdout).toContain('2 timing record(s) recomputed');
    // Without a pinned key (none given, no PoC profile) nothing is wrong, but the bundle is not called good.
    const unpinned = await hotline(['verify', bundleFile]);
    expect(unpinned.code).toBe(2);
    expect(unpinned.stdout).toMatch(/^NOT VERIFIABLE .*\n[\s\S]*relay key is not pinned/);
  });
});

describe('hotline verify on tampered bundles', () => {
  const clone = (): ReviewBundle => structuredClone(bundle);
  const flip = (s: string, at = 10) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
  const cases: [string, () => ReviewBundle | string, RegExp][] = [
    ['a byte flipped in an envelope signature (raw file)', () => {
      const text = readFileSync(bundleFile, 'utf8');
      // The first signature after "envelopes": the bundle now carries the signed charters and rosters before them.
      const at = text.indexOf('"sig": "', text.indexOf('"envelopes"')) + 20;
      return flip(text, at);
    }, /envelope .*: sender signature does not verify/],
    ['a byte flipped in an audit event', () => {
      const b = clone();
      b.audit.events[2]!.at += 1;
      return b;
    }, /audit event 3 was altered/],
    ['an audit event removed', () => {
      const b = clone();
      b.audit.events.splice(3, 1);
      return b;
    }, /audit event 4 is missing or out of order/],
    ['a checkpoint forged with another key', () => {
      const b = clone();
      const cp = b.audit.checkpoints[b.audit.checkpoints.length - 1]!;
      const other = createIdentity();
      b.audit.checkpoints[b.audit.checkpoints.length - 1] = signCheckpoint({ kid: cp.relay, keys: other.keys }, { seq: cp.seq, hash: cp.head }, cp.at);
      return b;
    }, /checkpoint \d+ signature does not verify/],
    ['an altered time to acknowledge', () => {
      const b = clone();
      const r = b.records.find((x) => x.id === noticeId)!;
      r.timeToAckMs = (r.timeToAckMs ?? 0) - 1000;
      return b;
    }, /timing record .*: timeToAckMs .* does not match the signed data/],
  ];

  it('says BAD and exits 1 naming the first failure: flipped byte, removed event, forged checkpoint, altered timing, wrong relay', async () => {
    const files = cases.map(([label, make], i) => {
      const file = join(root, `tampered-${i}.json`);
      const made = make();
      writeFileSync(file, typeof made === 'string' ? made : JSON.stringify(made));
      return { label, file };
    });
    const results = await Promise.all([
      ...files.map(({ file }) => hotline(['verify', file, '--relay-key', relayKid])),
      hotline(['verify', bundleFile, '--relay-key', createIdentity().kid]),
    ]);
    cases.forEach(([label, , pattern], i) => {
      const r = results[i]!;
      expect(r.code, label).toBe(1);
      expect(r.stdout, label).toMatch(/^BAD /);
      expect(r.stdout.split('\n')[1], label).toMatch(pattern);
    });
    expect(results[cases.length]!.stdout).toMatch(/^BAD [\s\S]*not the pinned relay/);
  });
});
