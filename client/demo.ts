// `npm run demo`: a newcomer's tour — a relay in a temp dir, the two state authorities' charter and rosters, US and CN PoCs, a FLASH notice acknowledged, the timing record; every step shown as the command a person would type.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/hotline.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'hotline-demo-'));
const children: ChildProcess[] = [];
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

interface Who {
  readonly label: string;
  readonly env: Record<string, string>;
}

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, HOTLINE_LOG_LEVEL: 'warn', ...extra };
}

function show(who: Who | null, args: string[]): void {
  const prefix = who ? `${Object.entries(who.env).filter(([k]) => k === 'HOTLINE_HOME').map(([k, v]) => `${k}=${v.replace(root, '$DEMO')}`).join(' ')} ` : '';
  console.log(`\n${bold('$')} ${dim(prefix)}${bold(`hotline ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`)}`);
}

function run(who: Who | null, args: string[], env: Record<string, string>): Promise<string> {
  show(who, args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: baseEnv({ ...env, ...(who?.env ?? {}) }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d.toString().replaceAll(root, '$DEMO').replace(/^/gm, '  '));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`hotline ${args[0]} failed: ${err.trim()}`))));
  });
}

function background(who: Who, args: string[], env: Record<string, string>, onLine: (line: string) => void): ChildProcess {
  show(who, args);
  console.log(dim('  (left running in the background: its output appears below as it happens)'));
  const child = spawn(process.execPath, [bin, ...args], { env: baseEnv({ ...env, ...who.env }), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  return child;
}

/** The notice's timing record, from US history: what a reviewer would check. */
async function printTimingRecord(us: Who, env: Record<string, string>, id: string): Promise<void> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'history', '--json'], { env: baseEnv({ ...env, ...us.env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error('history failed'))));
  });
  const { messages } = JSON.parse(out) as { messages: { id: string; createdAt: number; acceptedAt: number; ackDeadline: number; ackedAt: number | null; ackedBy: string | null; timeToAckMs: number | null; late: boolean | null; level: string }[] };
  const m = messages.find((x) => x.id === id);
  if (!m) return;
  const t = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString());
  console.log(bold('\nTiming record'));
  console.log(`  notice          ${m.id} (${m.level})`);
  console.log(`  sent            ${t(m.createdAt)}  (sender clock)`);
  console.log(`  accepted        ${t(m.acceptedAt)}  (relay clock, relay-signed receipt)`);
  console.log(`  ack deadline    ${t(m.ackDeadline)}`);
  console.log(`  acknowledged    ${t(m.ackedAt)}  by ${m.ackedBy ?? '—'}`);
  console.log(`  time to ack     ${m.timeToAckMs === null ? '—' : `${(m.timeToAckMs / 1000).toFixed(1)} s`}  ${m.late === null ? '' : m.late ? 'deadline MISSED' : 'within deadline'}`);
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(root, { recursive: true, force: true });
}

async function main(): Promise<void> {
  console.log(bold('Hotline demo: a US CERT and a CN CERT exchange a FLASH notice through a local relay.'));
  console.log(dim(`Everything lives in a temporary directory ($DEMO = ${root}) and is deleted at the end.`));

  const relayDir = join(root, 'relay');
  show(null, ['relay', '--port', '0', '--data', '$DEMO/relay']);
  const relay = spawn(process.execPath, [bin, 'relay', '--port', '0', '--data', relayDir], { env: baseEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(relay);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    relay.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (ws:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        process.stdout.write(out.replace(/admin token .*/, 'admin token (shown once): ****').replaceAll(root, '$DEMO').replace(/^/gm, '  '));
        resolve(m[1]);
      }
    });
    relay.on('close', () => reject(new Error('relay did not start')));
  });
  const common = { HOTLINE_RELAY: url, HOTLINE_DATA: relayDir };
  const adminEnv = { ...common, HOTLINE_ADMIN_TOKEN: readFileSync(join(relayDir, 'admin.token'), 'utf8').trim() };

  const json = (text: string) => JSON.parse(text) as Record<string, string>;
  const usAuthority: Who = { label: 'US authority', env: { HOTLINE_HOME: join(root, 'us-authority'), HOTLINE_PASSPHRASE: 'demo-us-authority-passphrase' } };
  const cnAuthority: Who = { label: 'CN authority', env: { HOTLINE_HOME: join(root, 'cn-authority'), HOTLINE_PASSPHRASE: 'demo-cn-authority-passphrase' } };
  const us: Who = { label: 'US', env: { HOTLINE_HOME: join(root, 'us'), HOTLINE_PASSPHRASE: 'demo-us-passphrase' } };
  const cn: Who = { label: 'CN', env: { HOTLINE_HOME: join(root, 'cn'), HOTLINE_PASSPHRASE: 'demo-cn-passphrase' } };

  console.log(bold("\n1. Each state's authority (its national CERT's head) makes its own key, offline. Its fingerprint is read to the other authority and handed to its own PoCs in person."));
  const usAuth = json(await run(usAuthority, ['authority', 'init', '--state', 'US', '--name', 'US national CERT', '--json'], {}));
  const cnAuth = json(await run(cnAuthority, ['authority', 'init', '--state', 'CN', '--name', 'CN national CERT', '--json'], {}));

  console.log(bold('\n2. The two authorities agree the channel charter (FLASH acknowledged within 5 minutes) and both sign it; the relay operator installs it, which opens the channel.'));
  const charterFile = join(root, 'charter-US-CN.json');
  await run(usAuthority, ['charter', 'propose', 'US-CN', '--peer', cnAuth.kid ?? '', '--deadline', 'FLASH=5m', '--out', charterFile], {});
  await run(cnAuthority, ['charter', 'sign', charterFile, '--peer-fingerprint', usAuth.fingerprint ?? ''], {});
  await run(null, ['charter', 'publish', charterFile], adminEnv);

  console.log(bold('\n3. Each duty officer creates an identity and joins with a one-time invite from the operator, pinning its own authority.'));
  const inviteUs = (await run(null, ['admin', 'invite', '--state', 'US'], adminEnv)).split('\n')[0]?.trim() ?? '';
  const inviteCn = (await run(null, ['admin', 'invite', '--state', 'CN'], adminEnv)).split('\n')[0]?.trim() ?? '';
  await run(us, ['init', '--name', 'US CERT duty officer'], common);
  await run(us, ['join', inviteUs, '--authority', usAuth.fingerprint ?? ''], common);
  await run(cn, ['init', '--name', 'CN CERT duty officer'], common);
  await run(cn, ['join', inviteCn, '--authority', cnAuth.fingerprint ?? ''], common);

  console.log(bold("\n4. Each authority puts its officer on its state's signed roster: only roster members can read, send or acknowledge."));
  const usKid = json(await run(us, ['whoami', '--json'], common)).kid ?? '';
  const cnKid = json(await run(cn, ['whoami', '--json'], common)).kid ?? '';
  await run(usAuthority, ['roster', 'add', usKid, '--name', 'US CERT duty officer', '--role', 'poc'], common);
  await run(cnAuthority, ['roster', 'add', cnKid, '--name', 'CN CERT duty officer', '--role', 'poc'], common);

  console.log(bold('\n5. CN listens. US sends a FLASH notice (end-to-end encrypted and signed; the relay sees only the header).'));
  let noticeSeen: () => void = () => undefined;
  const seen = new Promise<void>((r) => (noticeSeen = r));
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((r) => (listening = r));
  background(cn, ['listen'], common, (line) => {
    console.log(`  ${dim('[CN listen]')} ${line}`);
    if (line.startsWith('listening as')) listening();
    if (line.includes('NOTICE US → CN')) noticeSeen();
  });
  await ready;
  const sentOut = await run(us, ['send', '--to', 'CN', '--level', 'FLASH', '--subject', 'Grid scanning', 'Scanning from 198.51.100.0/24 against our grid operators; please check'], common);
  const sent = { id: /^\s*id (\S+)/m.exec(sentOut)?.[1] ?? '' };
  await seen;
  await new Promise((r) => setTimeout(r, 500));

  console.log(bold('\n6. The CN officer acknowledges: a signed "read and understood"; the relay times it.'));
  await run(cn, ['ack', sent.id.slice(0, 13), '--note', 'Seen; isolating the range'], common);

  console.log(bold('\n7. US looks at its history: the timing record.'));
  await run(us, ['history'], common);
  await printTimingRecord(us, common, sent.id);
  console.log(bold('\nDone.'), 'Next: read README.md (quick start) and `hotline --help`.');
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    cleanup();
    process.exit(1);
  },
);
