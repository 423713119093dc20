// The three peers behind one interface: start a fresh server (Hotline relay, bare relay, Mosquitto), connect the pairs, stop.
import { connectBarePairs, startBareRelay } from './bare-links.ts';
import { connectHotlinePairs } from './hotline-links.ts';
import { enrolAll, startHotlineRelay, type HotlineRelay } from './hotline-relay.ts';
import type { LoadEvents, PeerConnections, PeerName } from './links.ts';
import { connectMqttPairs, startMosquitto } from './mosquitto.ts';
import type { BenchMember, BenchPair } from './population.ts';
import { installTrust, type ChannelTrust } from './trust-setup.ts';

export interface PeerServer {
  readonly name: PeerName;
  /** The process whose CPU and RSS are reported. */
  readonly pid: number;
  readonly url: string;
  /** Set for Hotline only: admin access, data dir. */
  readonly hotline: HotlineRelay | null;
  connect(pairs: readonly BenchPair[], events: LoadEvents): Promise<PeerConnections>;
  stop(): Promise<void>;
}

export interface PeerSetup {
  readonly pairs: readonly BenchPair[];
  /** Enrolled on Hotline beside the pairs: the deadline probe pair and idle PoCs. */
  readonly extraMembers?: readonly BenchMember[];
  readonly mosquittoBinary: string | null;
  /** Hotline: the channels to run, each installed as its charter (which opens it) and both parties' rosters. */
  readonly trust: readonly ChannelTrust[];
  /** node flags for the Hotline relay process (CPU profile). */
  readonly nodeArgs?: readonly string[];
}

/** What each peer promises about durability and checks: printed with every comparison. */
export const fairness: Readonly<Record<PeerName, string>> = {
  hotline:
    'Hotline: per notice zod schema check, Ed25519 signature verify, charter and roster checks (the trust references each header names, ' +
    'sender and recipients on the rosters), channel lookups, audit hash-chain append, Ed25519-signed receipt, ' +
    'SQLite insert (WAL, synchronous=FULL) acknowledged only after its group commit fsyncs; delivery confirm is a second fsync-ed write',
  bare: 'bare ws relay: JSON.parse and forward; no auth, no schema, no crypto, no disk; nothing survives a crash',
  mosquitto:
    'Mosquitto QoS 1, persistence true: PUBACK once the broker holds the message in memory; the store is written to disk every ' +
    'autosave_interval (1800 s) and at exit, never fsync per message; a crash loses what is not yet saved',
};

async function startHotline(setup: PeerSetup): Promise<PeerServer> {
  const relay = await startHotlineRelay(setup.nodeArgs ? { nodeArgs: setup.nodeArgs } : {});
  try {
    await installTrust(relay, setup.trust);
    const members = setup.pairs.flatMap((p) => [p.sender, p.recipient]).concat(setup.extraMembers ?? []);
    await enrolAll(relay, members);
  } catch (cause) {
    await relay.stop();
    throw cause;
  }
  return hotlineServer(relay);
}

/** A running Hotline relay (already set up) as a peer server for runLoadStep. */
export function hotlineServer(relay: HotlineRelay): PeerServer {
  return {
    name: 'hotline',
    pid: relay.child.pid,
    url: relay.url,
    hotline: relay,
    connect: (pairs, events) => connectHotlinePairs(relay.url, pairs, events),
    stop: () => relay.stop(),
  };
}

export async function startPeer(name: PeerName, setup: PeerSetup): Promise<PeerServer> {
  switch (name) {
    case 'hotline':
      return startHotline(setup);
    case 'bare': {
      const bare = await startBareRelay();
      return { name, pid: bare.child.pid, url: bare.url, hotline: null, connect: (p, e) => connectBarePairs(bare.url, p, e), stop: bare.stop };
    }
    case 'mosquitto': {
      if (!setup.mosquittoBinary) throw new Error('mosquitto is not installed');
      const broker = await startMosquitto(setup.mosquittoBinary);
      return { name, pid: broker.child.pid, url: broker.url, hotline: null, connect: (p, e) => connectMqttPairs(broker.url, p, e), stop: broker.stop };
    }
  }
}

/** Forwards peer events to the step created once the links exist. */
export class ForwardingEvents implements LoadEvents {
  target: LoadEvents | null = null;

  accepted(id: string): void {
    this.target?.accepted(id);
  }

  delivered(id: string): void {
    this.target?.delivered(id);
  }

  refused(code: string, id: string | null): void {
    this.target?.refused(code, id);
  }
}
