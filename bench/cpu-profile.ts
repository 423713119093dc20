// Summarises a V8 .cpuprofile of the relay: self time per category (signature verify, SQLite, JSON/zod, ws, …) and top functions.
import { readFileSync } from 'node:fs';
import { round } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CategoryTime {
  readonly category: string;
  readonly ms: number;
  /** Share of busy (non-idle) sampled time, in percent. */
  readonly percent: number;
  /** Main-thread time per notice delivered in the window (wall time: a blocking fsync counts). */
  readonly usPerNotice: number | null;
}

/** The load window in the relay's monotonic clock (µs, the clock of process.hrtime and of V8 profiles on Linux). */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
  readonly delivered: number;
}

export interface ProfileSummary {
  readonly file: string;
  /** Sampled main-thread time inside the load window, and the part of it not idle. */
  readonly sampledSec: number;
  readonly busySec: number;
  readonly loadThroughputPerSec: number;
  readonly note: string;
  readonly categories: readonly CategoryTime[];
  readonly topFunctions: readonly { readonly fn: string; readonly ms: number; readonly percent: number }[];
}

/** A category and the frames that belong to it. */
interface Rule {
  readonly category: string;
  readonly match: (frame: CallFrame) => boolean;
  /** Only when the sampled (leaf) frame itself matches: for wrappers whose own time is one thing but whose callees are others. */
  readonly leafOnly?: boolean;
}

const inFile = (frame: CallFrame, fragment: string) => frame.url.includes(fragment);
const named = (frame: CallFrame, ...names: string[]) => names.includes(frame.functionName);
const cryptoFn = (frame: CallFrame, ...names: string[]) => inFile(frame, 'shared/crypto.ts') && named(frame, ...names);

/**
 * Frames skipped when looking for a category: libsodium's wasm and its minified JS glue say nothing; the named
 * function in shared/crypto.ts that called them (verify, sign, hash, …) does.
 */
function transparent(frame: CallFrame): boolean {
  return inFile(frame, 'wasm://') || inFile(frame, 'libsodium') || named(frame, 'js-to-wasm', 'GenericJSToWasmWrapper') || frame.functionName.startsWith('js-to-wasm');
}

export const rules: readonly Rule[] = [
  { category: 'idle', match: (f) => named(f, '(idle)') },
  { category: 'garbage collection', match: (f) => named(f, '(garbage collector)') },
  { category: 'Ed25519 signature verify (libsodium)', match: (f) => cryptoFn(f, 'verify') },
  { category: 'Ed25519 signing: receipts, checkpoints (libsodium)', match: (f) => cryptoFn(f, 'sign') },
  { category: 'BLAKE2b hashing: digests, audit chain (libsodium)', match: (f) => cryptoFn(f, 'hash') },
  { category: 'base64url (libsodium)', match: (f) => cryptoFn(f, 'toB64u', 'fromB64u') },
  { category: 'other shared/crypto.ts: utf8, random bytes, concat', match: (f) => inFile(f, 'shared/crypto.ts') },
  { category: 'canonical JSON, RFC 8785', match: (f) => inFile(f, 'canonicalize') || inFile(f, 'shared/canonical.ts') },
  { category: 'SQLite BEGIN/COMMIT incl. fsync (group commit)', match: (f) => inFile(f, 'better-sqlite3') && named(f, 'sqliteTransaction', 'transaction'), leafOnly: true },
  { category: 'SQLite statements (better-sqlite3)', match: (f) => inFile(f, 'server/store.ts') || inFile(f, 'better-sqlite3') },
  { category: 'zod schema validation', match: (f) => inFile(f, 'node_modules/zod') },
  { category: 'JSON.parse / JSON.stringify', match: (f) => f.url === '' && named(f, 'parse', 'stringify') },
  {
    category: 'WebSocket send/receive + sockets (ws, net)',
    match: (f) =>
      inFile(f, 'node_modules/ws/') || inFile(f, 'node:net') || inFile(f, 'stream_base_commons') || inFile(f, 'node:internal/streams') || named(f, 'writev', 'writeBuffer', 'writeUtf8String'),
  },
  { category: 'HTTP admin/join (express)', match: (f) => inFile(f, 'node_modules/express') || inFile(f, 'node_modules/router') || inFile(f, 'server/http.ts') },
  { category: 'metrics (prom-client)', match: (f) => inFile(f, 'prom-client') },
  { category: 'logging (pino)', match: (f) => inFile(f, 'pino') },
  { category: 'relay logic (server/*.ts)', match: (f) => inFile(f, '/server/') },
  { category: 'protocol logic (shared/*.ts)', match: (f) => inFile(f, '/shared/') },
  { category: 'module loading (startup)', match: (f) => inFile(f, 'node:internal/modules') || inFile(f, 'tsx/') },
  { category: 'V8/Node internals (program)', match: (f) => named(f, '(program)') },
];

function categoryOf(nodeId: number, byId: ReadonlyMap<number, ProfileNode>, parent: ReadonlyMap<number, number>): string {
  let leaf = true;
  for (let id: number | undefined = nodeId; id !== undefined; id = parent.get(id)) {
    const node = byId.get(id);
    if (!node) break;
    if (transparent(node.callFrame)) continue;
    for (const rule of rules) if ((leaf || !rule.leafOnly) && rule.match(node.callFrame)) return rule.category;
    leaf = false;
  }
  return 'other';
}

function frameName(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/(server|shared)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : '(native)'}`;
}

/**
 * Self time per category (each sample goes to the nearest categorised frame above it) and the top self-time functions,
 * over the samples inside `window` (the whole profile when null: startup and enrolment then count too).
 */
export function summariseProfile(path: string, loadThroughputPerSec: number, window: ProfileWindow | null): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const categoryCache = new Map<number, string>();
  let at = profile.startTime;
  profile.samples.forEach((nodeId, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    const us = profile.timeDeltas[i + 1] ?? 0;
    let category = categoryCache.get(nodeId);
    if (category === undefined) categoryCache.set(nodeId, (category = categoryOf(nodeId, byId, parent)));
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
    const node = byId.get(nodeId);
    if (node && category !== 'idle') byFunction.set(frameName(node.callFrame), (byFunction.get(frameName(node.callFrame)) ?? 0) + us);
  });
  const totalUs = [...byCategory.values()].reduce((a, b) => a + b, 0);
  const busyUs = totalUs - (byCategory.get('idle') ?? 0);
  const share = (us: number) => round((us / Math.max(1, busyUs)) * 100, 1);
  const delivered = window?.delivered ?? 0;
  return {
    file: path,
    sampledSec: round(totalUs / 1e6, 2),
    busySec: round(busyUs / 1e6, 2),
    loadThroughputPerSec: loadThroughputPerSec,
    note: window
      ? 'samples inside the measured load window only; main thread, wall time (time blocked in fsync counts as SQLite commit); profiling slows the relay'
      : 'whole profile (no window): includes startup and enrolment',
    categories: [...byCategory.entries()]
      .filter(([c]) => c !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([category, us]) => ({ category, ms: round(us / 1000, 0), percent: share(us), usPerNotice: delivered > 0 ? round(us / delivered, 0) : null })),
    topFunctions: [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([fn, us]) => ({ fn, ms: round(us / 1000, 0), percent: share(us) })),
  };
}
