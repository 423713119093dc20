// Command-line options of `npm run bench` and the plan (durations, rates, sizes) they select: full or --quick.

export interface BenchPlan {
  readonly mode: 'full' | 'quick';
  readonly peers: ReadonlySet<'hotline' | 'bare' | 'mosquitto'>;
  readonly pairs: number;
  /** Plaintext bytes of every notice; the envelope and frame around it are larger (reported as frameBytes). */
  readonly noticeBytes: number;
  readonly inFlightPerPair: number;
  readonly throughputMs: number;
  readonly latencyMs: number;
  readonly latencyRates: readonly number[];
  readonly warmupMs: number;
  readonly drainMs: number;
  readonly scalePoints: readonly number[];
  readonly scaleRate: number;
  readonly scaleMs: number;
  /** Pending acknowledgement deadlines preloaded per point of the deadline scale curve; empty with --no-deadline-scale. */
  readonly deadlineScalePoints: readonly number[];
  /** Envelopes in each synthetic relay database the reviewer report is timed on; empty with --no-review. */
  readonly reviewSizes: readonly number[];
  /** The end-to-end figure with real HotlineClients; null with --no-e2e. */
  readonly endToEnd: { readonly pairs: number; readonly inFlightPerSender: number; readonly maxMs: number; readonly ratePerSec: number; readonly rateMs: number } | null;
  /** Offered load (notices/s) and step length of each deadline scale point. */
  readonly deadlineScaleRate: number;
  readonly deadlineScaleMs: number;
  readonly profileMs: number | null;
  readonly limitMs: number;
  readonly probeNotices: number;
  /** After a step, how long past the last probe deadline to wait for its event, and the most to wait at all. */
  readonly probeGraceMs: number;
  readonly probeMaxWaitMs: number;
  /** Envelopes pre-built per pair (every step starts a fresh relay and replays the pools from seq 1). */
  readonly poolPerPair: number;
  readonly outPath: string;
}

const usage = `usage: npm run bench -- [--quick] [--peers hotline,bare,mosquitto] [--no-scale] [--no-deadline-scale] [--no-e2e] [--no-review] [--no-profile] [--out FILE]

  --quick              reduced set (shorter steps, scale points 10 and 100, 10^3 and 10^4 pending deadlines), under 2 minutes
  --peers LIST         which peers to run (default all three; mosquitto is skipped when not installed;
                       none = limits, scales and profile only)
  --no-scale           skip the connection-scale points
  --no-deadline-scale  skip the pending-deadline scale points (fire error with 10^3, 10^4, 10^5 deadlines pending)
  --no-e2e             skip the end-to-end figure (real HotlineClients: sign, encrypt, decrypt, verify)
  --no-review          skip the reviewer report latency over 10^4, 10^5, 10^6 stored envelopes (10^4, 10^5 with --quick)
  --no-profile         skip the CPU profile of the relay
  --pool N             envelopes pre-built per pair (default 400 with --quick, 1600 otherwise); Hotline steps end early when used up
  --out FILE           results file (default bench/results/latest.json)`;

function valueAfter(argv: readonly string[], flag: string): string | null {
  const i = argv.indexOf(flag);
  if (i < 0) return null;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value\n\n${usage}`);
  return value;
}

const known = new Set(['--quick', '--peers', '--no-scale', '--no-deadline-scale', '--no-e2e', '--no-review', '--no-profile', '--pool', '--out', '--help', '-h']);

/** Parses argv; throws with the usage text on an unknown flag. Returns null for --help. */
export function parsePlan(argv: readonly string[], defaultOut: string): BenchPlan | null {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return null;
  }
  for (const arg of argv) {
    if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown option ${arg}\n\n${usage}`);
  }
  const quick = argv.includes('--quick');
  const peerList = (valueAfter(argv, '--peers') ?? 'hotline,bare,mosquitto').split(',').map((p) => p.trim()).filter((p) => p !== 'none');
  const peers = new Set<'hotline' | 'bare' | 'mosquitto'>();
  for (const p of peerList) {
    if (p !== 'hotline' && p !== 'bare' && p !== 'mosquitto') throw new Error(`unknown peer "${p}"\n\n${usage}`);
    peers.add(p);
  }
  const scale = !argv.includes('--no-scale');
  const pool = valueAfter(argv, '--pool');
  const poolPerPair = pool === null ? (quick ? 400 : 1600) : Number(pool);
  if (!Number.isInteger(poolPerPair) || poolPerPair < 10) throw new Error(`--pool needs a whole number of at least 10\n\n${usage}`);
  return {
    mode: quick ? 'quick' : 'full',
    peers,
    pairs: 50,
    noticeBytes: 512,
    inFlightPerPair: 16,
    throughputMs: quick ? 4_000 : 15_000,
    latencyMs: quick ? 3_000 : 10_000,
    latencyRates: [500, 2000],
    warmupMs: quick ? 1_000 : 2_000,
    drainMs: quick ? 4_000 : 10_000,
    scalePoints: !scale ? [] : quick ? [10, 100] : [10, 100, 1000],
    scaleRate: 1000,
    scaleMs: quick ? 2_000 : 6_000,
    reviewSizes: argv.includes('--no-review') ? [] : quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000],
    endToEnd: argv.includes('--no-e2e') ? null : { pairs: 5, inFlightPerSender: 4, maxMs: quick ? 3_000 : 10_000, ratePerSec: 100, rateMs: quick ? 3_000 : 8_000 },
    deadlineScalePoints: argv.includes('--no-deadline-scale') ? [] : quick ? [1_000, 10_000] : [1_000, 10_000, 100_000],
    deadlineScaleRate: 500,
    deadlineScaleMs: quick ? 3_000 : 6_000,
    profileMs: argv.includes('--no-profile') ? null : quick ? 3_000 : 8_000,
    limitMs: quick ? 1_000 : 3_000,
    probeNotices: quick ? 20 : 100,
    probeGraceMs: quick ? 1_500 : 2_000,
    probeMaxWaitMs: quick ? 3_000 : 8_000,
    poolPerPair,
    outPath: valueAfter(argv, '--out') ?? defaultOut,
  };
}
