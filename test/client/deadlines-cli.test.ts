import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, enrolWithCli, hotline, hotlineJson, startRelayProcess, type CliEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

// Deadlines and escalation end to end through the CLI, with real processes and a 2-second FLASH deadline.
let root: string;
let relay: { proc: CliProcess; url: string; adminToken: string };
let admin: CliEnv;
const env: Record<string, CliEnv> = {};
const listeners: CliProcess[] = [];

async function enrol(label: string, state: string, role: string, name: string): Promise<CliEnv> {
  return enrolWithCli(root, relay.url, admin, label, state, role, name);
}

function listen(e: CliEnv): CliProcess {
  const p = new CliProcess(['listen', '--json'], e);
  listeners.push(p);
  return p;
}

beforeAll(async () => {
  root = tempDir('deadlines-cli');
  relay = await startRelayProcess(join(root, 'relay'));
  admin = { relay: relay.url, data: join(root, 'relay') };
  await hotlineJson(['admin', 'channel', 'open', 'US', 'CN', '--deadline', 'FLASH=2s', '--deadline', 'PRIORITY=4s'], admin);
  env.us = await enrol('us', 'US', 'poc', 'US CERT duty officer');
  env.cn = await enrol('cn', 'CN', 'poc', 'CN CERT duty officer');
  env.cnAlt = await enrol('cn-alt', 'CN', 'alternate', 'CN CERT alternate');
  // The authorities' part: a charter with the same deadlines (the relay now takes them from it) and both rosters.
  const entrants = await Promise.all([env.us, env.cn, env.cnAlt].map((e) => hotlineJson<{ kid: string; state: string; name: string; role: string }>(['whoami'], e as CliEnv)));
  await chartered({ httpUrl: relay.url.replace(/^ws:/, 'http:'), adminToken: relay.adminToken }, 'US-CN', entrants, { deadlines: { FLASH: 2000, PRIORITY: 4000 } });
}, 120_000);

afterAll(async () => {
  for (const l of listeners) await l.kill();
  await relay?.proc.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('deadlines through the CLI', () => {
  it('escalates an unacknowledged FLASH within 3 s (overdue to CN, page to the alternate, not-acknowledged to US); a later ack is recorded as late', async () => {
    const cn = listen(env.cn as CliEnv);
    const cnAlt = listen(env.cnAlt as CliEnv);
    const us = listen(env.us as CliEnv);
    for (const l of [cn, cnAlt, us]) await l.waitFor((x) => x.type === 'connected');
    const sent = await hotlineJson<{ id: string; acceptedAt: number; ackDeadline: number }>(['send', '--to', 'CN', '--level', 'FLASH', 'Substation trip, possible intrusion'], env.us as CliEnv);
    expect(sent.ackDeadline - sent.acceptedAt).toBe(2000);
    const overdue = await cn.waitFor((x) => x.type === 'overdue' && x.id === sent.id, 10_000);
    const page = await cnAlt.waitFor((x) => x.type === 'escalation' && x.id === sent.id && x.action === 'page-alternates', 10_000);
    const told = await us.waitFor((x) => x.type === 'escalation' && x.id === sent.id && x.action === 'notify-sender', 10_000);
    expect(overdue).toMatchObject({ level: 'FLASH', deadline: sent.ackDeadline, drill: null });
    for (const [event, fraction] of [[overdue, 1], [page, 1.25], [told, 1.5]] as const) {
      const due = sent.acceptedAt + 2000 * fraction;
      expect(event.due).toBe(due);
      // Fired on time: within 3 s of acceptance for every step, and never early.
      expect(event.at as number).toBeGreaterThanOrEqual(due);
      expect((event.at as number) - sent.acceptedAt).toBeLessThan(3000 + 500);
    }
    const late = await hotlineJson<{ late: boolean; timeToAckMs: number }>(['ack', sent.id, '--note', 'Sorry, was on the other line'], env.cn as CliEnv);
    expect(late.late).toBe(true);
    expect(late.timeToAckMs).toBeGreaterThan(2000);
    const seen = await us.waitFor((x) => x.type === 'ack' && x.noticeId === sent.id);
    expect(seen).toMatchObject({ late: true, byName: 'CN CERT duty officer' });
    const human = await hotline(['history'], env.us as CliEnv);
    expect(human.stdout).toMatch(/acked by CN CERT duty officer after \d+s \(LATE\)/);
  });

  it('raises a PRIORITY notice to FLASH: a new 2 s deadline from the raise, the original stays on record', async () => {
    const cn = listeners[0] as CliProcess;
    const sent = await hotlineJson<{ id: string; acceptedAt: number; ackDeadline: number }>(['send', '--to', 'CN', '--level', 'PRIORITY', 'Scanning continues'], env.us as CliEnv);
    expect(sent.ackDeadline - sent.acceptedAt).toBe(4000);
    const raised = await hotlineJson<{ id: string; acceptedAt: number; ackDeadline: number; raised: string }>(['raise', sent.id, '--level', 'FLASH', 'Now hitting control systems'], env.us as CliEnv);
    expect(raised.raised).toBe(sent.id);
    expect(raised.ackDeadline - raised.acceptedAt).toBe(2000);
    const notice = await cn.waitFor((x) => x.type === 'notice' && x.id === raised.id);
    expect(notice).toMatchObject({ kind: 'raise', level: 'FLASH', refs: [sent.id] });
    const lower = await hotline(['raise', sent.id, '--level', 'IMMEDIATE'], env.us as CliEnv);
    expect(lower.code).toBe(1);
    expect(lower.stderr).toMatch(/already FLASH/);
    const ack = await hotlineJson<{ noticeId: string }>(['ack', raised.id], env.cn as CliEnv);
    expect(ack.noticeId).toBe(raised.id);
  });
});
