import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, enrolWithCli, hotline, hotlineJson, startRelayProcess, type CliEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/relay.ts';

// The whole two-state flow through the real CLI, every step a separate process against a real relay process.
let root: string;
let relay: { proc: CliProcess; url: string; adminToken: string };
let admin: CliEnv;
const pocs: Record<string, CliEnv> = {};
const listeners: CliProcess[] = [];

async function enrol(label: string, state: string, role: string, name: string): Promise<CliEnv> {
  return enrolWithCli(root, relay.url, admin, label, state, role, name);
}

function listen(env: CliEnv): CliProcess {
  const p = new CliProcess(['listen', '--json'], env);
  listeners.push(p);
  return p;
}

function relayEnvelopeCount(): number {
  const db = new Database(join(root, 'relay', 'relay.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM envelopes').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  root = tempDir('cli');
  relay = await startRelayProcess(join(root, 'relay'));
  admin = { relay: relay.url, data: join(root, 'relay') };
  const channel = await hotlineJson<{ id: string; deadlines: Record<string, number> }>(['admin', 'channel', 'open', 'US', 'CN', '--deadline', 'FLASH=2m'], admin);
  expect(channel).toMatchObject({ id: 'US-CN', deadlines: { FLASH: 120_000, IMMEDIATE: 1_800_000 } });
  pocs.us = await enrol('us', 'US', 'poc', 'US CERT duty officer');
  pocs.usAlt = await enrol('us-alt', 'US', 'alternate', 'US CERT alternate');
  pocs.cn = await enrol('cn', 'CN', 'poc', 'CN CERT duty officer');
  pocs.cnAlt = await enrol('cn-alt', 'CN', 'alternate', 'CN CERT alternate');
}, 120_000);

afterAll(async () => {
  for (const l of listeners) await l.kill();
  await relay?.proc.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('hotline CLI, two states end to end', () => {
  let noticeId = '';

  it('delivers a FLASH notice to both CN PoCs, decrypted, and the US PoC sees the ack with its time to acknowledge', async () => {
    const cn = listen(pocs.cn as CliEnv);
    const cnAlt = listen(pocs.cnAlt as CliEnv);
    const us = listen(pocs.us as CliEnv);
    for (const l of [cn, cnAlt, us]) await l.waitFor((x) => x.type === 'connected');
    const sent = await hotlineJson<{ id: string; acceptedAt: number; ackDeadline: number }>(
      ['send', '--to', 'CN', '--level', 'flash', '--subject', 'Grid scanning', 'Scanning from 198.51.100.0/24 against grid operators'],
      pocs.us as CliEnv,
    );
    noticeId = sent.id;
    expect(sent.ackDeadline - sent.acceptedAt).toBe(120_000);
    for (const l of [cn, cnAlt]) {
      const n = await l.waitFor((x) => x.type === 'notice' && x.id === sent.id);
      expect(n).toMatchObject({ level: 'FLASH', fromState: 'US', subject: 'Grid scanning', text: 'Scanning from 198.51.100.0/24 against grid operators', fromName: 'US CERT duty officer', drill: null });
    }
    await us.waitFor((x) => x.type === 'receipt' && x.noticeId === sent.id && x.byState === 'CN');
    const ack = await hotlineJson<{ noticeId: string; timeToAckMs: number; late: boolean }>(['ack', sent.id.slice(0, 13), '--note', 'Seen; isolating the range'], pocs.cn as CliEnv);
    expect(ack).toMatchObject({ noticeId: sent.id, late: false });
    const seen = await us.waitFor((x) => x.type === 'ack' && x.noticeId === sent.id);
    expect(seen).toMatchObject({ byState: 'CN', byName: 'CN CERT duty officer', note: 'Seen; isolating the range', late: false });
    expect(seen.timeToAckMs).toBe(ack.timeToAckMs);
    expect(seen.timeToAckMs as number).toBeGreaterThanOrEqual(0);
    expect(seen.timeToAckMs as number).toBeLessThan(120_000);
  });

  it("shows the sent notice and its ack in the US alternate's history", async () => {
    const h = await hotlineJson<{ messages: { id: string; kind: string; text: string; acked?: boolean; ackedBy?: string }[] }>(['history'], pocs.usAlt as CliEnv);
    const notice = h.messages.find((m) => m.id === noticeId);
    expect(notice).toMatchObject({ kind: 'notice', text: 'Scanning from 198.51.100.0/24 against grid operators', acked: true, ackedBy: 'CN CERT duty officer' });
  });

  it('lists the notice as acknowledged in the CN inbox, and nothing under --unacked', async () => {
    const all = await hotlineJson<{ notices: { id: string; acked: boolean }[] }>(['inbox'], pocs.cnAlt as CliEnv);
    expect(all.notices.find((n) => n.id === noticeId)).toMatchObject({ acked: true });
    const unacked = await hotlineJson<{ notices: unknown[] }>(['inbox', '--unacked'], pocs.cnAlt as CliEnv);
    expect(unacked.notices).toEqual([]);
  });

  it('refuses to send to CN after a CN PoC key changed, explains how to verify, and sends again once trusted', async () => {
    const oldCn = await hotlineJson<{ kid: string }>(['whoami'], pocs.cn as CliEnv);
    await hotline(['admin', 'revoke', oldCn.kid, '--reason', 'laptop replaced'], admin);
    pocs.cnNew = await enrol('cn-new', 'CN', 'poc', 'CN CERT duty officer');
    const newCn = await hotlineJson<{ kid: string; fingerprint: string }>(['whoami'], pocs.cnNew);
    const before = relayEnvelopeCount();
    const refused = await hotline(['send', '--to', 'CN', '--level', 'PRIORITY', 'Follow-up'], pocs.us as CliEnv);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[KEY_CHANGED]');
    expect(refused.stderr).toContain(newCn.fingerprint);
    expect(refused.stderr).toContain(`hotline trust ${newCn.kid}`);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(relayEnvelopeCount()).toBe(before);
    const contacts = await hotlineJson<{ contacts: { kid: string; status: string }[] }>(['contacts'], pocs.us as CliEnv);
    expect(contacts.contacts.find((c) => c.kid === newCn.kid)?.status).toBe('changed');
    const wrong = await hotline(['trust', newCn.kid, '11111 22222 33333 44444 55555 66666'], pocs.us as CliEnv);
    expect(wrong.code).toBe(1);
    const trusted = await hotline(['trust', newCn.kid, newCn.fingerprint], pocs.us as CliEnv);
    expect(trusted.code, trusted.stderr).toBe(0);
    const ok = await hotlineJson<{ id: string }>(['send', '--to', 'CN', '--level', 'PRIORITY', 'Follow-up'], pocs.us as CliEnv);
    expect(ok.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('hotline send refuses bad input with one clear line and sends nothing', () => {
  const cases: [string, string[], CliEnv | null, RegExp][] = [
    ['wrong passphrase', ['--to', 'CN', '--level', 'FLASH', 'x'], null, /\[WRONG_PASSPHRASE\]/],
    ['unknown state', ['--to', 'RU', '--level', 'FLASH', 'x'], null, /no channel between US and RU.*\[UNKNOWN_STATE\]/],
    ['malformed state', ['--to', 'not a state', '--level', 'FLASH', 'x'], null, /\[UNKNOWN_STATE\]/],
    ['unknown level', ['--to', 'CN', '--level', 'URGENT', 'x'], null, /unknown level "URGENT".*\[UNKNOWN_LEVEL\]/],
    ['empty text', ['--to', 'CN', '--level', 'FLASH', '   '], null, /text is empty.*\[BAD_INPUT\]/],
    ['relay that is down', ['--to', 'CN', '--level', 'FLASH', 'x'], { relay: 'ws://127.0.0.1:9' }, /cannot reach the relay.*\[RELAY_UNREACHABLE\]/],
  ];
  for (const [label, args, override, pattern] of cases) {
    it(`— ${label}`, async () => {
      const before = relayEnvelopeCount();
      const env: CliEnv = { ...(pocs.us as CliEnv), ...(label === 'wrong passphrase' ? { passphrase: 'not-the-passphrase' } : {}), ...(override ?? {}) };
      const r = await hotline(['send', ...args], env);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
      expect(relayEnvelopeCount()).toBe(before);
    });
  }
});
