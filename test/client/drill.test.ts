import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliProcess, enrolWithCli, hotline, hotlineJson, startRelayProcess, type CliEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

// A two-state drill through the real CLI: a director runs the scenario, scripted participants ack some injects and not others.
let root: string;
let relay: { proc: CliProcess; url: string; adminToken: string };
let admin: CliEnv;
const env: Record<string, CliEnv> = {};
const listeners: CliProcess[] = [];

async function enrol(label: string, state: string, role: string, name: string): Promise<CliEnv> {
  return enrolWithCli(root, relay.url, admin, label, state, role, name);
}

// PRIORITY and FLASH are acknowledged in time: long enough for three CLI runs (ack, reply, ack) on a loaded machine.
const scenario = `
drill: "Grid ransomware test"
participants: [US, CN]
deadlines: { PRIORITY: 30s, IMMEDIATE: 2s, FLASH: 30s }
injects:
  - at: 0s
    to: CN
    level: PRIORITY
    subject: "Scanning from a US-registered range"
    text: "Inject zero"
  - at: 1s
    to: US
    level: IMMEDIATE
    subject: "Ransomware at a regional operator"
    text: "Inject one: nobody will acknowledge this"
  - at: 2s
    to: CN
    level: FLASH
    subject: "Press attribution"
    text: "Inject two"
`;

interface Report {
  drill: { drillId: string; channel: string };
  injects: { index: number; id: string; to: string; acceptedAt: number; ackedAt: number | null; ackedBy: string | null; timeToAckMs: number | null; met: boolean | null; escalation: { action: string; firedAt: number | null }[] }[];
  messages: { kind: string; fromState: string }[];
  totals: { injects: number; acknowledged: number; missed: number; medianTimeToAckMs: number | null; withinDeadlineShare: number | null };
}

beforeAll(async () => {
  root = tempDir('drill');
  relay = await startRelayProcess(join(root, 'relay'));
  admin = { relay: relay.url, data: join(root, 'relay') };
  await hotlineJson(['admin', 'channel', 'open', 'US', 'CN'], admin);
  env.us = await enrol('us', 'US', 'poc', 'US CERT duty officer');
  env.cn = await enrol('cn', 'CN', 'poc', 'CN CERT duty officer');
  env.director = await enrol('director', 'EXCON', 'director', 'Exercise control');
  // The authorities' part: a charter naming the director (drill injects are accepted from charter directors only) and
  // both PoCs on their states' rosters.
  const whoami = (e: CliEnv) => hotlineJson<{ kid: string; state: string; name: string; role: string }>(['whoami'], e);
  const director = await whoami(env.director);
  const entrants = await Promise.all([env.us, env.cn].map((e) => whoami(e as CliEnv)));
  await chartered({ httpUrl: relay.url.replace(/^ws:/, 'http:'), adminToken: relay.adminToken }, 'US-CN', entrants, { directors: [director.kid] });
}, 120_000);

afterAll(async () => {
  for (const l of listeners) await l.kill();
  await relay?.proc.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('hotline drill run', () => {
  it('runs a drill to its end; the report matches the relay records and shows the unacknowledged inject as missed with its escalation steps', async () => {
    const cn = new CliProcess(['listen', '--json'], env.cn);
    const us = new CliProcess(['listen', '--json'], env.us);
    listeners.push(cn, us);
    for (const l of [cn, us]) await l.waitFor((x) => x.type === 'connected');
    const file = join(root, 'scenario.yaml');
    writeFileSync(file, scenario);
    const reportFile = join(root, 'report.md');
    const run = hotline(['drill', 'run', file, '--report', reportFile, '--drill-id', 'grid-test', '--json'], env.director as CliEnv, undefined, 90_000);

    // CN acknowledges injects 0 and 2 (and replies to 0); US sees inject 1 but never acknowledges it.
    const inject0 = await cn.waitFor((x) => x.type === 'notice' && (x.drill as { inject?: number } | null)?.inject === 0);
    expect(inject0).toMatchObject({ level: 'PRIORITY', fromState: 'US', fromName: 'Exercise control', drill: { drillId: 'grid-test' } });
    expect((await hotline(['ack', String(inject0.id)], env.cn)).code).toBe(0);
    expect((await hotline(['reply', String(inject0.id), 'Investigating the range'], env.cn)).code).toBe(0);
    const inject1 = await us.waitFor((x) => x.type === 'notice' && (x.drill as { inject?: number } | null)?.inject === 1);
    expect(inject1).toMatchObject({ level: 'IMMEDIATE', toState: 'US', fromState: 'CN' });
    const inject2 = await cn.waitFor((x) => x.type === 'notice' && (x.drill as { inject?: number } | null)?.inject === 2);
    expect((await hotline(['ack', String(inject2.id)], env.cn)).code).toBe(0);
    await us.waitFor((x) => x.type === 'overdue' && x.id === inject1.id);

    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/DRILL: injects sent 3\/3/);
    const report = JSON.parse(done.stdout) as Report;

    // Figures against the relay's own records.
    const db = new Database(join(root, 'relay', 'relay.db'), { readonly: true });
    const accepted = (id: string) => (db.prepare('SELECT accepted_at AS t FROM envelopes WHERE id = ?').get(id) as { t: number }).t;
    const ackOf = (id: string) =>
      db.prepare("SELECT e.accepted_at AS t FROM envelope_refs r JOIN envelopes e ON e.rowid = r.env_rowid WHERE r.ref_id = ? AND e.kind = 'ack'").get(id) as { t: number } | undefined;
    for (const inj of report.injects) {
      expect(inj.acceptedAt).toBe(accepted(inj.id));
      const ack = ackOf(inj.id);
      expect(inj.ackedAt).toBe(ack?.t ?? null);
      expect(inj.timeToAckMs).toBe(ack ? ack.t - accepted(inj.id) : null);
    }
    db.close();
    const [r0, r1, r2] = report.injects;
    expect(r0).toMatchObject({ to: 'CN', met: true, ackedBy: 'CN CERT duty officer' });
    expect(r2).toMatchObject({ to: 'CN', met: true });
    expect(r1).toMatchObject({ to: 'US', met: false, ackedAt: null });
    expect(r1?.escalation.map((s) => [s.action, s.firedAt !== null])).toEqual([
      ['overdue', true],
      ['page-alternates', true],
      ['notify-sender', true],
    ]);
    const times = [r0?.timeToAckMs as number, r2?.timeToAckMs as number].sort((a, b) => a - b);
    expect(report.totals).toMatchObject({ injects: 3, acknowledged: 2, missed: 1, medianTimeToAckMs: Math.round((times[0]! + times[1]!) / 2) });
    expect(report.totals.withinDeadlineShare).toBeCloseTo(2 / 3);
    expect(report.messages.map((m) => [m.kind, m.fromState])).toEqual(expect.arrayContaining([['ack', 'CN'], ['reply', 'CN']]));

    const md = readFileSync(reportFile, 'utf8');
    expect(md).toContain('DRILL — EXERCISE ONLY');
    expect(md).toMatch(/\| 1 \| US \| IMMEDIATE \|.*\*\*MISSED — not acknowledged\*\*/);
    expect(md).toMatch(/Inject 1 \(IMMEDIATE to US\): overdue at .*page-alternates at .*notify-sender at /);
  });

  it('refuses a scenario with a bad field, naming the line, before contacting the relay', async () => {
    const file = join(root, 'bad.yaml');
    writeFileSync(file, scenario.replace('level: FLASH', 'level: SEVERE'));
    const r = await hotline(['drill', 'run', file], env.director as CliEnv);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/bad\.yaml:18: injects\[2\]\.level: unknown level "SEVERE".*\[BAD_INPUT\]$/);
  });

  it('refuses to let a PoC run a drill', async () => {
    const file = join(root, 'scenario.yaml');
    const r = await hotline(['drill', 'run', file], env.us as CliEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[WRONG_ROLE]');
  });
});

describe('hotline check run', () => {
  it('pings every PoC: the listening US officer answers, the offline CN officer is reported as not answering', async () => {
    const us = listeners.find((l) => l.lines.some((x) => x.type === 'connected' && x.state === 'US'));
    const cn = listeners.find((l) => l.lines.some((x) => x.type === 'connected' && x.state === 'CN'));
    await cn?.kill();
    expect(us).toBeDefined();
    const run = hotline(['check', 'run', '--within', '6s', '--json'], admin, undefined, 60_000);
    const ask = await (us as CliProcess).waitFor((x) => x.type === 'check');
    const answer = await hotline(['ack', String(ask.checkId)], env.us as CliEnv);
    expect(answer.code, answer.stderr).toBe(0);
    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    const status = JSON.parse(done.stdout) as { answered: number; missing: number; targets: { state: string; answered: boolean; receivedAt: number | null }[] };
    expect(status).toMatchObject({ answered: 1, missing: 1 });
    expect(status.targets.find((t) => t.state === 'US')).toMatchObject({ answered: true });
    expect(status.targets.find((t) => t.state === 'CN')).toMatchObject({ answered: false, receivedAt: null });
    const human = await hotline(['check', 'status', (ask.checkId as string)], admin);
    expect(human.stdout).toMatch(/CN .*NO ANSWER — device did not receive it/);
    expect(human.stdout).toMatch(/1 of 2 answered/);
  });
});
