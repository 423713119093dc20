// Preloads a stopped relay's data dir with P pending acknowledgement deadlines: real signed notices committed with the relay's own accept code.
import { join } from 'node:path';
import { TrustRegistry } from '../server/trust/trust-registry.ts';
import { commitEnvelope, validateEnvelope, type AcceptContext, type ValidatedEnvelope } from '../server/accept.ts';
import { AuditLog } from '../server/audit-log.ts';
import { systemClock } from '../server/clock.ts';
import { relayConfig } from '../server/config.ts';
import { loadOrCreateRelayFiles } from '../server/relay-files.ts';
import { RelayStore } from '../server/store.ts';
import { clientMessageSchema } from '../shared/index.ts';
import { buildPools, type BuildTask, type BuiltPool } from './envelope-pool.ts';

/**
 * Each transaction (one fsync) takes what validates and commits in this long, then the event loop gets a turn: worker
 * messages, and SIGINT, which tsx escalates to SIGKILL (no cleanup) when the script has not seen it within 60 ms.
 */
const sliceMs = 20;

export interface PreloadResult {
  /** Envelopes accepted into the store, each with an open acknowledgement deadline. */
  readonly deadlines: number;
  /** Escalation steps those deadlines scheduled (the channel's policy: 3 per deadline by default). */
  readonly steps: number;
  /** Envelope rowids of the preloaded notices (to check afterwards that none of their steps fired). */
  readonly rowids: ReadonlySet<number>;
  /** Wall time: building the envelopes on worker threads, overlapped with validating and committing them here. */
  readonly sec: number;
  /** Main-thread time spent in validateEnvelope + commitEnvelope (the rest of `sec` is waiting for the builders). */
  readonly commitSec: number;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Opens `dataDir` (a data dir a relay has started on and was stopped: relay key, admin token, channels and members are
 * there) with the relay's own store, audit log and identity, as server/relay.ts wires them, and commits every envelope
 * the `tasks` build, through `validateEnvelope` and `commitEnvelope`: the code the relay runs for a `send` frame
 * (signature check, roster checks, audit event, signed receipt, envelope row, delivery rows, deadline and escalation
 * steps). Only the WebSocket and the group-commit queue are left out; each transaction commits about 20 ms of envelopes.
 * Envelopes are built on worker threads and committed as each sender's pool arrives, in seq order per sender.
 */
export async function preloadDeadlines(dataDir: string, tasks: readonly BuildTask[], onProgress: (committed: number, total: number) => void): Promise<PreloadResult> {
  const started = performance.now();
  const total = tasks.reduce((n, t) => n + t.count, 0);
  const config = relayConfig({ dataDir });
  // The relay writes its data dir for its own user only (relay-command.ts); so does the preload.
  const umask = process.umask(0o077);
  const files = loadOrCreateRelayFiles(dataDir);
  const store = new RelayStore(join(dataDir, 'relay.db'));
  const rowids = new Set<number>();
  let steps = 0;
  let commitMs = 0;
  try {
    if (files.created) throw new Error(`${dataDir} had no relay identity: start a relay on it (and enrol the senders) before preloading`);
    const audit = new AuditLog(store, files.identity, systemClock, config.checkpointEvery, config.checkpointIntervalMs);
    const trust = new TrustRegistry(store, audit, systemClock);
    const ctx: AcceptContext = { store, trust, audit, relay: files.identity, clock: systemClock, pendingCap: config.limits.pendingCap };

    const queue: BuiltPool[] = [];
    let building = true;
    let buildError: unknown = null;
    const built = buildPools(tasks, () => undefined, undefined, (pool) => queue.push(pool)).then(
      () => (building = false),
      (error: unknown) => {
        buildError = error;
        building = false;
      },
    );

    const validate = (frame: string): ValidatedEnvelope => {
      const msg = clientMessageSchema.parse(JSON.parse(frame));
      if (msg.type !== 'send') throw new Error('preload: a pooled frame is not a send frame');
      const sender = store.getMember(msg.envelope.header.from);
      if (!sender) throw new Error(`preload: sender ${msg.envelope.header.from.slice(0, 8)}… is not enrolled`);
      return validateEnvelope(ctx, sender, msg.envelope);
    };
    /** Commits frames[from…] for up to sliceMs in one transaction; returns the index of the first frame not committed. */
    const commitSlice = (frames: readonly string[], from: number): number => {
      const started = performance.now();
      let i = from;
      store.transaction(() => {
        do {
          const v = validate(frames[i] as string);
          const accepted = commitEnvelope(ctx, v);
          if (accepted.duplicate || accepted.envelope.header.level === null) throw new Error(`preload: ${v.envelope.header.id} was not stored as a new notice`);
          if (accepted.deadlineChanges.scheduled.length === 0) throw new Error(`preload: ${v.envelope.header.id} opened no deadline`);
          rowids.add(accepted.rowid);
          steps += accepted.deadlineChanges.scheduled.length;
          i++;
        } while (i < frames.length && performance.now() - started < sliceMs);
      });
      commitMs += performance.now() - started;
      return i;
    };

    while (building || queue.length > 0) {
      const pool = queue.shift();
      if (!pool) {
        await pause(5);
        continue;
      }
      for (let i = 0; i < pool.frames.length; ) {
        i = commitSlice(pool.frames, i);
        onProgress(rowids.size, total);
        await tick();
      }
    }
    await built;
    if (buildError) throw buildError instanceof Error ? buildError : new Error(String(buildError));
    // As a relay does when it stops: a checkpoint signed over the head of the audit chain.
    audit.checkpointIfDue(true);
  } finally {
    store.close();
    process.umask(umask);
  }
  if (rowids.size !== total) throw new Error(`preload: ${rowids.size} of ${total} notices committed`);
  return { deadlines: rowids.size, steps, rowids, sec: (performance.now() - started) / 1000, commitSec: commitMs / 1000 };
}

/** After a run, on the stopped relay's data dir: how many of the preloaded deadlines still have every escalation step open. */
export function stillPending(dataDir: string, rowids: ReadonlySet<number>, stepsPerDeadline: number): number {
  const store = new RelayStore(join(dataDir, 'relay.db'));
  try {
    const open = new Map<number, number>();
    for (const s of store.openEscalationSteps(null, Number.MAX_SAFE_INTEGER)) {
      if (rowids.has(s.envRowid)) open.set(s.envRowid, (open.get(s.envRowid) ?? 0) + 1);
    }
    let n = 0;
    for (const count of open.values()) if (count === stepsPerDeadline) n++;
    return n;
  } finally {
    store.close();
  }
}
