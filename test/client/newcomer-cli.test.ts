import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadlineTable, initCrypto, levels } from '../../shared/index.ts';
import { drillDeadlines } from '../../client/drill/runner.ts';
import { parseScenario } from '../../client/drill/scenario.ts';
import { CliProcess, enrolWithCli, hotline, hotlineJson, startRelayProcess, type CliEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/relay.ts';
import { chartered, installRosters } from '../helpers/trust.ts';

// What a new user trips on in the CLI (issue 16 item 7), each typed as they would, against a real relay process.
let root: string;
let relay: { proc: CliProcess; url: string; adminToken: string };
let admin: CliEnv;
const env = {} as Record<'us' | 'cn' | 'cnAlt' | 'director', CliEnv>;
const listeners: CliProcess[] = [];
/** The charter's FLASH deadline: short, so that a second ack can come after it, yet longer than one CLI run under load. */
const FLASH_MS = 15_000;

function listen(e: CliEnv): CliProcess {
  const p = new CliProcess(['listen', '--json'], e);
  listeners.push(p);
  return p;
}

beforeAll(async () => {
  root = tempDir('newcomer');
  relay = await startRelayProcess(join(root, 'relay'));
  admin = { relay: relay.url, data: join(root, 'relay') };
  // Opened as US-CN: the review test asks for it as CN-US.
  await hotlineJson(['admin', 'channel', 'open', 'US', 'CN'], admin);
  env.us = await enrolWithCli(root, relay.url, admin, 'us', 'US', 'poc', 'US CERT duty officer');
  env.cn = await enrolWithCli(root, relay.url, admin, 'cn', 'CN', 'poc', 'CN CERT duty officer');
  env.cnAlt = await enrolWithCli(root, relay.url, admin, 'cn-alt', 'CN', 'alternate', 'CN CERT alternate');
  env.director = await enrolWithCli(root, relay.url, admin, 'director', 'EXCON', 'director', 'Exercise control');
  const whoami = (e: CliEnv) => hotlineJson<{ kid: string; state: string; name: string; role: string }>(['whoami'], e);
  const director = await whoami(env.director);
  const entrants = await Promise.all([env.us, env.cn, env.cnAlt].map((e) => whoami(e)));
  await chartered({ httpUrl: relay.url.replace(/^ws:/, 'http:'), adminToken: relay.adminToken }, 'US-CN', entrants, {
    deadlines: { FLASH: FLASH_MS },
    directors: [director.kid],
  });
}, 300_000);

afterAll(async () => {
  for (const l of listeners) await l.kill();
  await relay?.proc.kill();
  rmSync(root, { recursive: true, force: true });
});

describe('hotline --version', () => {
  it('prints the package version with --version and -V', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await hotline([flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });
});

describe('hotline admin roster and contacts --offline', () => {
  it('admin roster lists the relay, the channel and each member with a fingerprint', async () => {
    const r = await hotline(['admin', 'roster'], admin);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^relay \S+ {2}fingerprint \d{5}( \d{5}){5}\nchannels: US-CN\n/);
    expect(r.stdout).toMatch(/poc {7}CN CERT duty officer +\d{5}( \d{5}){5}/);
  });

  it('contacts --offline shows the pinned contacts without contacting the relay', async () => {
    const online = await hotline(['contacts'], env.us);
    expect(online.code, online.stderr).toBe(0);
    // Every PoC made since hybrid wrapping publishes an ML-KEM key; contacts says so when it asked the relay.
    expect(online.stdout).toContain('(encryption: X25519 + ML-KEM-768)');
    // Offline means no relay: a wrong URL must not matter.
    const r = await hotline(['contacts', '--offline', '--json'], { ...env.us, relay: 'ws://127.0.0.1:9' });
    expect(r.code, r.stderr).toBe(0);
    const { contacts } = JSON.parse(r.stdout) as { contacts: { name: string; fingerprint: string }[] };
    expect(contacts.map((c) => c.name)).toEqual(expect.arrayContaining(['CN CERT duty officer', 'CN CERT alternate']));
    expect(contacts[0]?.fingerprint).toMatch(/^\d{5}( \d{5}){5}$/);
  });
});

describe('hotline send to its own state', () => {
  it('is refused BAD_INPUT saying so and naming the states with a channel, before anything is sent', async () => {
    const r = await hotline(['send', '--to', 'us', '--level', 'FLASH', 'to myself'], env.us);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^hotline send: you cannot send to your own state \(US\).*US has a channel with CN \(e\.g\. --to CN\).*\[BAD_INPUT\]$/);
    expect(r.stderr).not.toMatch(/no active PoC|BAD_ENVELOPE/);
  });
});

describe('hotline ack of an already acknowledged notice', () => {
  it('says who acknowledged it and when, within the deadline, sends nothing and exits 0, also after the deadline has passed', async () => {
    const sent = await hotlineJson<{ id: string; acceptedAt: number; ackDeadline: number }>(['send', '--to', 'CN', '--level', 'FLASH', 'Grid scanning'], env.us);
    expect(sent.ackDeadline - sent.acceptedAt).toBe(FLASH_MS);
    const first = await hotlineJson<{ alreadyAcknowledged: boolean; late: boolean; acceptedAt: number }>(['ack', sent.id.slice(0, 13)], env.cn);
    expect(first.late).toBe(false);
    // Past the deadline: a second ack used to be sent and judged LATE against it.
    await new Promise((r) => setTimeout(r, Math.max(0, sent.ackDeadline + 500 - Date.now())));
    const again = await hotline(['ack', sent.id.slice(0, 13)], env.cn);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/already acknowledged by CN CERT duty officer \(you\) at \S+ \S+; nothing sent/);
    expect(again.stdout).toMatch(/within deadline/);
    expect(again.stdout).not.toMatch(/LATE/);
    expect(first.alreadyAcknowledged).toBe(false);
    const byAlternate = await hotlineJson<{ alreadyAcknowledged: boolean; ackedByName: string; acceptedAt: number; late: boolean }>(['ack', sent.id], env.cnAlt);
    expect(byAlternate).toMatchObject({ alreadyAcknowledged: true, ackedByName: 'CN CERT duty officer', acceptedAt: first.acceptedAt, late: false });
  }, 180_000);
});

describe('hotline check run and check status', () => {
  let checkId = '';

  it('names everyone who did not answer (name, state, role, key) and who answered and when; says on stderr that it waits', async () => {
    const cn = listen(env.cn);
    await cn.waitFor((x) => x.type === 'connected');
    const run = hotline(['check', 'run', '--within', '5s'], admin, undefined, 60_000);
    const ask = await cn.waitFor((x) => x.type === 'check');
    checkId = String(ask.checkId);
    const answer = await hotline(['ack', checkId], env.cn);
    expect(answer.code, answer.stderr).toBe(0);
    const done = await run;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/^check run: waits until every PoC has answered or the 5s are up .*hotline ack chk-[0-9a-f-]{36}; Ctrl-C stops/);
    const roster = await hotlineJson<{ states: { code: string; members: { kid: string; name: string }[] }[] }>(['admin', 'roster'], admin);
    const kid = (name: string) => roster.states.flatMap((s) => s.members).find((m) => m.name === name)?.kid.slice(0, 8);
    expect(done.stdout).toContain(`1 of 3 answered within 5s:\n  answered  CN CERT duty officer (CN poc, key ${kid('CN CERT duty officer')}…) after `);
    expect(done.stdout).toContain('2 did not:\n');
    expect(done.stdout).toContain(`  MISSING   CN CERT alternate (CN alternate, key ${kid('CN CERT alternate')}…) — the device did not receive it (offline?)`);
    expect(done.stdout).toContain(`  MISSING   US CERT duty officer (US poc, key ${kid('US CERT duty officer')}…) — the device did not receive it (offline?)`);
  }, 180_000);

  it('check status takes the short id check run prints', async () => {
    const short = checkId.slice(0, 17);
    const r = await hotline(['check', 'status', short, '--json'], admin);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ checkId, answered: 1, missing: 2 });
  });

  it('refuses a malformed check id, and a short one to answer, with the expected form and no raw pattern', async () => {
    const bad = await hotline(['check', 'status', 'chk-12'], admin);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"chk-12" is not a check id: chk- and 36 characters, e\.g\. chk-.*\[BAD_INPUT\]/);
    const short = await hotline(['ack', checkId.slice(0, 17)], env.cn);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/is the short form of a check id; answering signs the whole id .*\[BAD_INPUT\]/);
    const junk = await hotline(['ack', 'chk-not-an-id', '--json'], env.cn);
    expect(junk.code).toBe(1);
    expect(JSON.parse(junk.stderr).error).toMatchObject({ code: 'BAD_INPUT' });
    for (const r of [bad, short, junk]) expect(r.stderr).not.toMatch(/pattern|Invalid string|BAD_SCHEMA|\/\^/);
    const unknown = await hotline(['check', 'status', 'chk-00000000-0000'], admin);
    expect(unknown.stderr).toMatch(/no communication check chk-00000000-0000 on this relay.*\[UNKNOWN_ID\]/);
  }, 180_000);

  it('refuses a prefix that matches several checks, listing them', async () => {
    // Ids are uuidv7: their first 8 hex digits change every 65.5 s, so two checks started back to back share them,
    // unless that boundary fell between them: then the next pair does.
    const start = () => hotlineJson<{ checkId: string }>(['check', 'run', '--no-wait', '--within', '1s'], admin);
    let a = await start();
    let b = await start();
    for (let tries = 0; a.checkId.slice(0, 12) !== b.checkId.slice(0, 12) && tries < 2; tries++) [a, b] = [b, await start()];
    let common = 0;
    while (a.checkId[common] === b.checkId[common]) common++;
    expect(common).toBeGreaterThanOrEqual(12);
    const r = await hotline(['check', 'status', a.checkId.slice(0, common)], admin);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/matches several checks \(.*\); give more of the id.*\[BAD_INPUT\]/);
    expect(r.stderr).toContain(a.checkId);
    expect(r.stderr).toContain(b.checkId);
  }, 180_000);
});

describe('hotline review --channel', () => {
  beforeAll(async () => {
    await hotlineJson(['send', '--to', 'CN', '--level', 'ROUTINE', 'On record for the review'], env.us);
  });

  async function operatorToken(): Promise<string> {
    const res = await fetch(`${relay.url.replace(/^ws:/, 'http:')}/v1/admin/review-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'operator' }),
    });
    return ((await res.json()) as { token: string }).token;
  }

  it('finds the channel opened as US-CN when asked for CN-US, and calls an unknown channel an error', async () => {
    const token = await operatorToken();
    const reviewer: CliEnv = { relay: relay.url, extra: { HOTLINE_REVIEW_TOKEN: token } };
    const asOpened = await hotlineJson<{ records: { total: number } }>(['review', 'report', '--channel', 'US-CN'], reviewer);
    expect(asOpened.records.total).toBeGreaterThan(0);
    const reversed = await hotlineJson<{ records: { total: number; records: { channel: string }[] } }>(['review', 'report', '--channel', 'cn-us'], reviewer);
    expect(reversed.records.total).toBe(asOpened.records.total);
    expect(reversed.records.records[0]?.channel).toBe('US-CN');
    const unknown = await hotline(['review', 'report', '--channel', 'US-RU'], reviewer);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no notice was ever sent between US and RU on this relay.*\[UNKNOWN_CHANNEL\]/);
    const malformed = await hotline(['review', 'report', '--channel', 'USCN'], reviewer);
    expect(malformed.stderr).toMatch(/"USCN" is not a channel: use A-B.*\[BAD_INPUT\]/);
  }, 180_000);

  it('finds it for a reviewer whose grant covers the channel by its id as opened', async () => {
    const reviewer = await enrolWithCli(root, relay.url, admin, 'reviewer', 'US', 'reviewer', 'US reviewer');
    const entry = await hotlineJson<{ kid: string; state: string; name: string; role: string }>(['whoami'], reviewer);
    await installRosters({ httpUrl: relay.url.replace(/^ws:/, 'http:'), adminToken: relay.adminToken }, [entry]);
    const reversed = await hotlineJson<{ records: { total: number; records: { channel: string }[] } }>(['review', 'report', '--channel', 'CN-US'], reviewer);
    expect(reversed.records.total).toBeGreaterThan(0);
    expect(reversed.records.records[0]?.channel).toBe('US-CN');
  }, 180_000);

  it('takes the reviewer token from --token-file and refuses --token on the command line, saying what to use', async () => {
    const file = join(root, 'review.token');
    writeFileSync(file, `${await operatorToken()}\n`, { mode: 0o600 });
    const fromFile = await hotline(['review', 'report', '--token-file', file, '--json'], { relay: relay.url });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const argv = await hotline(['review', 'report', '--token', 'HLR-secret'], { relay: relay.url });
    expect(argv.code).toBe(1);
    expect(argv.stderr.trim()).toMatch(
      /^hotline review report: --token is no longer accepted: secrets on the command line are visible to every local user; use --token-file FILE or HOTLINE_REVIEW_TOKEN.*\[BAD_INPUT\]$/,
    );
  });
});

describe('admin commands and --token', () => {
  it('refuses --token with what to use instead, for admin and check commands, and --help shows --token-file only', async () => {
    for (const args of [['admin', 'roster', '--token', 'x'], ['admin', 'channel', 'open', 'US', 'RU', '--token=x'], ['check', 'run', '--token', 'x']]) {
      const r = await hotline(args, { relay: relay.url });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/: --token is no longer accepted: secrets on the command line are visible to every local user; use --token-file FILE or HOTLINE_ADMIN_TOKEN.*\[BAD_INPUT\]$/);
      expect(r.stderr).not.toMatch(/unknown option/);
    }
    const help = await hotline(['admin', 'roster', '--help']);
    expect(help.stdout).toContain('--token-file <file>');
    expect(help.stdout).not.toMatch(/--token </);
  }, 180_000);
});

describe('long-running commands say so', () => {
  it('listen says on stderr how long it runs and that the rest happens in another terminal', async () => {
    const r = await hotline(['listen', '--for', '1s'], env.us);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^listen: runs for 1s \(Ctrl-C stops sooner\), printing what arrives; acknowledge, send and reply from another terminal\n/);
  });
});

describe('drill timeScale', () => {
  it('scales every deadline of the sample scenario, the charter defaults included: none above 4 h / 60', async () => {
    await initCrypto();
    const sample = parseScenario(readFileSync(new URL('../../docs/examples/grid-ransomware.yaml', import.meta.url), 'utf8'), 'grid.yaml');
    const deadlines = drillDeadlines(sample, deadlineTable({}));
    expect(Object.keys(deadlines).sort()).toEqual([...new Set(sample.injects.map((i) => i.level))].sort());
    for (const level of levels) if (deadlines[level] !== undefined) expect(deadlines[level]).toBeLessThanOrEqual((4 * 3600_000) / 60);
    expect(deadlines).toEqual({ PRIORITY: 240_000, IMMEDIATE: 30_000, FLASH: 10_000 });
  });

  it('an unacknowledged drill at timeScale 3600 finishes, missed, in seconds: its inject carries the charter deadline scaled', async () => {
    const file = join(root, 'short-drill.yaml');
    writeFileSync(file, 'drill: "Unanswered"\nparticipants: [US, CN]\ntimeScale: 3600\ninjects:\n  - { at: 0s, to: CN, level: PRIORITY, text: "Nobody answers this" }\n');
    const started = Date.now();
    const r = await hotline(['drill', 'run', file, '--drill-id', 'unanswered', '--json'], env.director, undefined, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^drill run: runs until every inject is acknowledged or missed \(about 6s at most; .*deadlines PRIORITY 4s\).*Ctrl-C stops\n/);
    const report = JSON.parse(r.stdout) as { drill: { deadlines: Record<string, number> }; injects: { acceptedAt: number; ackDeadline: number; met: boolean | null }[]; totals: { missed: number } };
    expect(report.drill.deadlines).toEqual({ PRIORITY: 4000 });
    expect(report.injects[0]).toMatchObject({ met: false });
    expect((report.injects[0]?.ackDeadline ?? 0) - (report.injects[0]?.acceptedAt ?? 0)).toBe(4000);
    expect(report.totals.missed).toBe(1);
    expect(Date.now() - started).toBeLessThan(45_000);
  }, 90_000);
});
