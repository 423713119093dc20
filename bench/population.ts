// Who takes part in a run: sender/recipient pairs on one load channel, a deadline-probe pair, and idle PoCs for scale points.
import { createIdentity, createPrekey, randomBytes, type Identity, type Level, type SignedPrekey } from '../shared/index.ts';
import type { BuildTask } from './envelope-pool.ts';
import { channelTrust, type ChannelTrust } from './trust-setup.ts';

export interface BenchMember {
  readonly identity: Identity;
  readonly seed: Uint8Array;
  readonly state: string;
  readonly name: string;
  readonly prekey: SignedPrekey | null;
}

/** One sender and the one recipient all of its notices go to. */
export interface BenchPair {
  readonly key: string;
  readonly sender: BenchMember;
  readonly recipient: BenchMember;
}

export interface ChannelSpec {
  readonly a: string;
  readonly b: string;
  readonly deadlines: Partial<Record<Level, number>>;
}

/**
 * Load notices are ROUTINE (24 h deadline): they open deadlines, as real notices do, without any firing during a run.
 * Every channel runs under a charter signed by both bench authorities (bench/trust-setup.ts); its deadlines are the spec's.
 */
export const loadChannel: ChannelSpec = { a: 'SA', b: 'SB', deadlines: {} };
export const loadLevel: Level = 'ROUTINE';
/** The probe's FLASH deadline is short so that it fires during the run (the smallest a charter allows is 100 ms). */
export const probeDeadlineMs = 1000;
export const probeChannel: ChannelSpec = { a: 'DA', b: 'DB', deadlines: { FLASH: probeDeadlineMs } };

/**
 * Senders whose notices are preloaded as pending deadlines (bench/deadline-scale.ts): FLASH 1 h on their own channel,
 * so none of them fires during a measurement, and each sender has its own recipient so that no recipient comes near
 * the relay's pending-delivery cap (10,000 undelivered per recipient; these recipients never connect).
 */
export const seedDeadlineMs = 3_600_000;
export const seedChannel: ChannelSpec = { a: 'PA', b: 'PB', deadlines: { FLASH: seedDeadlineMs } };
export const seedLevel: Level = 'FLASH';

export function seedPairs(count: number): BenchPair[] {
  return Array.from({ length: count }, (_, i) => pair(`seed-${i}`, seedChannel));
}

export interface Population {
  readonly pairs: readonly BenchPair[];
  readonly probe: BenchPair;
  /**
   * The load channel's charter and rosters (every pair's sender a PoC of SA, its recipient a PoC of SB), and the probe
   * channel's; signed once, installed on every Hotline relay of the run.
   */
  readonly trust: { readonly load: ChannelTrust; readonly probe: ChannelTrust };
}

/** Both members of each pair go on their states' rosters of `channel`. */
export function pairsTrust(channel: ChannelSpec, pairs: readonly BenchPair[]): ChannelTrust {
  return channelTrust(channel, pairs.flatMap((p) => [p.sender, p.recipient]));
}

export function member(state: string, name: string, withPrekey: boolean): BenchMember {
  const seed = randomBytes(32);
  const identity = createIdentity(seed);
  const prekey = withPrekey ? createPrekey(identity, Date.now()).prekey : null;
  return { identity, seed, state, name, prekey };
}

function pair(key: string, channel: ChannelSpec): BenchPair {
  return { key, sender: member(channel.a, `${key} sender`, false), recipient: member(channel.b, `${key} recipient`, true) };
}

export function createPopulation(pairCount: number): Population {
  const pairs = Array.from({ length: pairCount }, (_, i) => pair(`pair-${i}`, loadChannel));
  const probe = pair('probe', probeChannel);
  return { pairs, probe, trust: { load: pairsTrust(loadChannel, pairs), probe: pairsTrust(probeChannel, [probe]) } };
}

/**
 * PoCs that only connect and idle (scale points); half on each side of the load channel. They are enrolled but on no
 * roster (up to 1,000 of them would not fit one: 200 members per roster), so they neither send nor receive.
 */
export function idleMembers(count: number): BenchMember[] {
  return Array.from({ length: count }, (_, i) => member(i % 2 === 0 ? loadChannel.a : loadChannel.b, `idle ${i}`, false));
}

/**
 * What the workers build for one pair on `trust`'s channel. Each notice goes to the pair's recipient only: a subset of
 * the roster members (the relay refuses only recipients outside the rosters; the real client would encrypt to every
 * other PoC of both states), which keeps every pair's traffic one sender → one recipient.
 */
export function buildTask(p: BenchPair, trust: ChannelTrust, level: Level, count: number, plaintextBytes: number): BuildTask {
  const channel = trust.spec;
  const prekey = p.recipient.prekey;
  if (!prekey) throw new Error(`${p.key}: recipient has no prekey`);
  const onRoster = (kid: string, state: string) => trust.rosters.some((r) => r.roster.state === state && r.roster.members.some((m) => m.kid === kid));
  if (!onRoster(p.sender.identity.kid, channel.a) || !onRoster(p.recipient.identity.kid, channel.b)) {
    throw new Error(`${p.key}: sender and recipient must be on the rosters of ${trust.channel}`);
  }
  return {
    key: p.key,
    senderSeed: Array.from(p.sender.seed),
    recipientKid: p.recipient.identity.kid,
    recipientPrekey: prekey,
    channel: `${channel.a}-${channel.b}`,
    fromState: channel.a,
    toState: channel.b,
    level,
    count,
    plaintextBytes,
    trust: trust.refs,
  };
}
