// End-to-end figure: real HotlineClients (sign, encrypt, submit, receive, verify, decrypt, record) through a Hotline relay.
import { join } from 'node:path';
import { HotlineClient } from '../client/hotline-client.ts';
import { createKeystore } from '../client/keystore.ts';
import { writeProfile, type Profile } from '../client/profile.ts';
import { joinResponseSchema, signStatement } from '../shared/index.ts';
import { makeTempDir, removeTempDir } from './children.ts';
import { postJson, startHotlineRelay, type HotlineRelay } from './hotline-relay.ts';
import { info, phase, status } from './progress.ts';
import { cpuPercent, sampleProc } from './proc-stats.ts';
import { round, summarise, type Distribution } from './stats.ts';
import { authorityFingerprint, channelTrust, installTrust } from './trust-setup.ts';

export interface EndToEndInput {
  readonly pairs: number;
  /** Notices each sender keeps sent but not yet received at max. */
  readonly inFlightPerSender: number;
  readonly maxMs: number;
  /** Offered rate of the latency step (all senders together), and its length. */
  readonly ratePerSec: number;
  readonly rateMs: number;
  readonly noticeBytes: number;
}

export interface EndToEndFigures {
  readonly pairs: number;
  /** Notices received by recipient applications per second, closed loop. */
  readonly throughputPerSec: number;
  /** At `offeredPerSec`: from `client.send()` to the recipient application's `notice` event. */
  readonly offeredPerSec: number;
  readonly deliveredPerSec: number;
  readonly latencyMs: Distribution | null;
  /** At the same rate: from `client.send()` to its resolution with the relay's receipt. */
  readonly sendLatencyMs: Distribution | null;
  /** The clients' process (every client in one process, one thread) and the relay's, during the max step. */
  readonly clientCpuPercent: number;
  readonly relayCpuPercent: number | null;
  readonly note: string;
}

/**
 * One channel per pair, one PoC per state on each roster: the client encrypts to exactly the roster members other than
 * itself, so a notice reaches one application, whose signed receipt reaches one.
 */
function pairChannel(i: number): { readonly a: string; readonly b: string; readonly deadlines: Record<string, never> } {
  return { a: `E${i}A`, b: `E${i}B`, deadlines: {} };
}

/**
 * A keyfile and profile in `root/label`, enrolled with an invite and /v1/join as `hotline init` + `hotline join --authority`
 * do: the profile pins the state's bench authority by its fingerprint (its key is learnt from the first charter).
 */
export async function enrolClient(relay: HotlineRelay, root: string, label: string, state: string): Promise<HotlineClient> {
  const home = join(root, label);
  const now = Date.now();
  const keystore = createKeystore(home, `bench passphrase ${label}`, `${state} ${label}`, now);
  const { invite } = await postJson<{ invite: string }>(`${relay.httpUrl}/v1/admin/invites`, { state, role: 'poc' }, relay.adminToken);
  const kid = keystore.identity.kid;
  const name = `${state} ${label}`;
  const sig = signStatement(keystore.identity, 'hotline-join-v1', { invite, kid, name });
  const joined = joinResponseSchema.parse(await postJson(`${relay.httpUrl}/v1/join`, { invite, kid, name, prekey: keystore.currentPrekey(now), sig }, null));
  const profile: Profile = {
    v: 1,
    kid,
    name: joined.name,
    state: joined.state,
    role: joined.role,
    relays: [{ url: relay.url, kid: joined.relay }],
    authority: { fingerprint: authorityFingerprint(state), kid: null },
  };
  writeProfile(home, profile);
  return new HotlineClient({ keystore, profile, relays: [relay.url], reconnect: false });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The text of notice `n`: a token the recipient side reads back, padded to about `bytes` of plaintext. */
function noticeText(n: number, bytes: number): string {
  const token = `e2e#${n}#`;
  return token + 'N'.repeat(Math.max(1, bytes - token.length - 30));
}

function tokenOf(text: string | null): number | null {
  const m = /^e2e#(\d+)#/.exec(text ?? '');
  return m ? Number(m[1]) : null;
}

export async function benchEndToEnd(input: EndToEndInput): Promise<EndToEndFigures> {
  phase(`end to end: ${input.pairs} HotlineClient pairs in this process (sign, encrypt, submit; receive, verify, decrypt, record)`);
  const root = makeTempDir('e2e');
  const relay = await startHotlineRelay();
  const clients: HotlineClient[] = [];
  try {
    const senders: HotlineClient[] = [];
    const recipients: HotlineClient[] = [];
    for (let i = 0; i < input.pairs; i++) {
      const channel = pairChannel(i);
      const sender = await enrolClient(relay, root, `s${i}`, channel.a);
      const recipient = await enrolClient(relay, root, `r${i}`, channel.b);
      // The charter opens the channel; each roster lists its state's one PoC, under the name the relay enrolled.
      const entrant = (c: HotlineClient) => ({ state: c.profile.state ?? '', name: c.profile.name, identity: { kid: c.profile.kid } });
      await installTrust(relay, [channelTrust(channel, [entrant(sender), entrant(recipient)])]);
      senders.push(sender);
      recipients.push(recipient);
    }
    clients.push(...senders, ...recipients);
    await Promise.all(clients.map((c) => c.connect()));

    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    let received = 0;
    let measuring = false;
    const arrived = new Set<number>();
    for (const r of recipients) {
      r.on('notice', (record) => {
        const n = tokenOf(record.text);
        if (n === null || arrived.has(n)) return;
        arrived.add(n);
        received++;
        const t0 = sentAt.get(n);
        if (measuring && t0 !== undefined) latencies.push(performance.now() - t0);
      });
    }
    let next = 0;
    const sendOne = async (sender: HotlineClient): Promise<number> => {
      const n = next++;
      const started = performance.now();
      sentAt.set(n, started);
      const toState = sender.profile.state?.replace(/A$/, 'B') ?? '';
      await sender.send({ toState, level: 'ROUTINE', text: noticeText(n, input.noticeBytes) });
      return performance.now() - started;
    };
    const waitFor = async (count: number, timeoutMs: number): Promise<void> => {
      const until = performance.now() + timeoutMs;
      while (received < count && performance.now() < until) await sleep(5);
    };

    // Warm-up: each sender's first send fetches the directory and pins the recipients' keys.
    await Promise.all(senders.map((s) => sendOne(s)));
    await waitFor(next, 10_000);

    // Latency at a fixed offered rate, open loop, round-robin over the senders.
    status(`end to end: ${input.ratePerSec}/s offered for ${input.rateMs / 1000}s`);
    const sendLatencies: number[] = [];
    measuring = true;
    const rateStart = performance.now();
    const rateFrom = next;
    const sends: Promise<void>[] = [];
    let offered = 0;
    while (performance.now() - rateStart < input.rateMs) {
      const due = Math.floor(((performance.now() - rateStart) / 1000) * input.ratePerSec);
      while (offered < due) {
        const sender = senders[offered % senders.length] as HotlineClient;
        offered++;
        sends.push(sendOne(sender).then((ms) => void sendLatencies.push(ms)));
      }
      await sleep(2);
    }
    await Promise.allSettled(sends);
    await waitFor(next, 10_000);
    const rateSec = (performance.now() - rateStart) / 1000;
    const deliveredAtRate = [...arrived].filter((n) => n >= rateFrom).length;
    measuring = false;

    // Max: closed loop, each sender keeps inFlightPerSender notices not yet received.
    status(`end to end: max, ${input.inFlightPerSender} in flight per sender for ${input.maxMs / 1000}s`);
    const relayBefore = sampleProc(relay.child.pid);
    const clientBefore = { cpuMs: process.cpuUsage(), atMs: performance.now() };
    const maxStart = performance.now();
    const receivedAtStart = received;
    const lanes = senders.flatMap((s) =>
      Array.from({ length: input.inFlightPerSender }, async () => {
        while (performance.now() - maxStart < input.maxMs) {
          const before = received;
          await sendOne(s);
          // Closed loop on delivery, not only on the receipt: wait until something new reached a recipient.
          const until = performance.now() + 5_000;
          while (received === before && performance.now() < until) await sleep(1);
        }
      }),
    );
    await Promise.all(lanes);
    const maxSec = (performance.now() - maxStart) / 1000;
    const throughput = round((received - receivedAtStart) / maxSec, 0);
    const relayAfter = sampleProc(relay.child.pid);
    const used = process.cpuUsage(clientBefore.cpuMs);
    const clientCpu = round(((used.user + used.system) / 1000 / (performance.now() - clientBefore.atMs)) * 100, 0);

    const figures: EndToEndFigures = {
      pairs: input.pairs,
      throughputPerSec: throughput,
      offeredPerSec: input.ratePerSec,
      deliveredPerSec: round(deliveredAtRate / rateSec, 0),
      latencyMs: summarise(latencies),
      sendLatencyMs: summarise(sendLatencies),
      clientCpuPercent: clientCpu,
      relayCpuPercent: relayBefore && relayAfter ? round(cpuPercent(relayBefore, relayAfter), 0) : null,
      note:
        'every client runs in the bench process on one thread (its CPU is the limit at max); each notice is also answered by ' +
        "the recipient client's automatic signed delivery receipt, a second envelope through the relay",
    };
    info(
      `end to end: max ${figures.throughputPerSec}/s (client process CPU ${figures.clientCpuPercent}%, relay CPU ${figures.relayCpuPercent ?? '-'}%); ` +
        `at ${input.ratePerSec}/s send → recipient app p50 ${figures.latencyMs?.p50 ?? '-'} p99 ${figures.latencyMs?.p99 ?? '-'} max ${figures.latencyMs?.max ?? '-'} ms, ` +
        `send → receipt p50 ${figures.sendLatencyMs?.p50 ?? '-'} p99 ${figures.sendLatencyMs?.p99 ?? '-'} ms`,
    );
    return figures;
  } finally {
    for (const c of clients) c.close();
    await relay.stop();
    removeTempDir(root);
  }
}
