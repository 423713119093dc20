// Single-thread ceilings measured in the same run: verifyEnvelope alone, the relay's per-frame CPU checks, the trust checks, receipt signing, fsync.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  clientMessageSchema,
  createIdentity,
  parseEnvelope,
  resolveHeaderTrust,
  senderStanding,
  signReceipt,
  verifyEnvelope,
  watchMembers,
  type Envelope,
  type TrustView,
} from '../shared/index.ts';
import { makeTempDir, removeTempDir } from './children.ts';
import type { BuiltPool } from './envelope-pool.ts';
import { round } from './stats.ts';
import type { ChannelTrust } from './trust-setup.ts';

export interface LimitFigures {
  /** One thread calling verifyEnvelope on pre-parsed envelopes, nothing else. */
  readonly verifyPerSec: number;
  /** JSON.parse + zod (clientMessageSchema) + verifyEnvelope per frame: the relay's CPU checks before any SQL. */
  readonly parseValidateVerifyPerSec: number;
  /** signReceipt (canonical JSON + Ed25519 sign): what the relay adds per accepted envelope. */
  /**
   * What the relay's accept path decides from the charter and rosters, per envelope: resolveHeaderTrust (find the named
   * versions, hash them, compare), senderStanding, every recipient looked up among the rosters' PoCs; on the load
   * channel's documents (its rosters list every pair's sender or recipient). The relay runs resolveHeaderTrust twice
   * per envelope on its main thread (precheck, and again at commit); this is one round.
   */
  readonly trustChecksPerSec: number;
  readonly receiptSignPerSec: number;
  /** 4 KiB write + fdatasync on the file system of the relay's data dir. */
  readonly fsyncPerSec: number;
  readonly envelopesUsed: number;
}

/** Calls `fn(i)` for `ms` milliseconds, cycling i over `n`; returns calls per second. */
export function ratePerSec(ms: number, n: number, fn: (i: number) => void): number {
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 64; k++) fn((calls + k) % n);
    calls += 64;
    now = performance.now();
  }
  return round((calls / (now - start)) * 1000, 0);
}

function fsyncRate(ms: number): number {
  const dir = makeTempDir('fsync');
  const path = join(dir, 'probe.bin');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 7);
  let n = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < ms) {
      writeSync(fd, block);
      fdatasyncSync(fd);
      n++;
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
    removeTempDir(dir);
  }
  return round((n / (performance.now() - start)) * 1000, 0);
}

/** The documents in force, as the relay's registry answers for them (only the version each holds). */
function heldView(trust: ChannelTrust): TrustView {
  return {
    charter: (channel, version) => (channel === trust.channel && version === trust.charter.charter.version ? trust.charter.charter : null),
    roster: (state, version) => trust.rosters.find((r) => r.roster.state === state && r.roster.version === version)?.roster ?? null,
  };
}

export function measureLimits(pools: readonly BuiltPool[], trust: ChannelTrust, ms: number, maxEnvelopes = 4000): LimitFigures {
  const frames = pools.flatMap((p) => p.frames.slice(0, Math.ceil(maxEnvelopes / pools.length))).slice(0, maxEnvelopes);
  const envelopes: Envelope[] = frames.map((f) => parseEnvelope((JSON.parse(f) as { envelope: unknown }).envelope));
  const relay = createIdentity();
  const sample = envelopes[0];
  if (!sample) throw new Error('no envelopes to measure limits with');
  const view = heldView(trust);
  return {
    verifyPerSec: ratePerSec(ms, envelopes.length, (i) => verifyEnvelope(envelopes[i] as Envelope)),
    parseValidateVerifyPerSec: ratePerSec(ms, frames.length, (i) => {
      const msg = clientMessageSchema.parse(JSON.parse(frames[i] as string));
      if (msg.type === 'send') verifyEnvelope(msg.envelope);
    }),
    trustChecksPerSec: ratePerSec(ms, envelopes.length, (i) => {
      const envelope = envelopes[i] as Envelope;
      const held = resolveHeaderTrust(view, envelope.header);
      senderStanding(held, envelope.header);
      const allowed = new Set(watchMembers(held, [trust.spec.a, trust.spec.b]).map((m) => m.kid));
      for (const r of envelope.recipients) if (!allowed.has(r.kid)) throw new Error('limits: a pooled recipient is not on the rosters');
    }),
    receiptSignPerSec: ratePerSec(ms, envelopes.length, (i) =>
      signReceipt(relay, { id: (envelopes[i] as Envelope).header.id, hash: 'A'.repeat(43), acceptedAt: Date.now(), auditSeq: i + 1, ackDeadline: null }),
    ),
    fsyncPerSec: fsyncRate(ms),
    envelopesUsed: envelopes.length,
  };
}
