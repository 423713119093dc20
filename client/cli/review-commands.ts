// `hotline review token | report | export` (a reviewer's view of timing over HTTP) and `hotline verify FILE` (offline check of an export bundle).
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  formatDuration,
  HotlineError,
  parseDuration,
  parseLevel,
  REVIEW_TOKEN_CTX,
  reviewBundleSchema,
  reviewTokenResponseSchema,
  signStatement,
  stateCodeSchema,
  timingAggregatesSchema,
  timingCsvHeader,
  timingCsvRow,
  timingRecordsPageSchema,
  toHotlineError,
  type TimingAggregates,
  type TimingRecord,
  type TimingStats,
} from '../../shared/index.ts';
import { parseChannel } from '../authority/charter-proposal.ts';
import { readProfile } from '../profile.ts';
import { relayRequest as request } from './relay-http.ts';
import { refuseTokenOption } from './admin-commands.ts';
import { fail, hotlineHome, httpUrlOf, openIdentity, output, readSecretFile, relayUrls, takeSecret } from './context.ts';
import { shortId, utc } from './format.ts';
import { registerVerifyCommand } from './verify-command.ts';

interface ReviewOptions {
  relay?: string;
  tokenFile?: string;
  json?: boolean;
}

interface FilterOptions {
  channel?: string;
  since?: string;
  until?: string;
  drill?: boolean;
  real?: boolean;
  level?: string;
  state?: string;
  drillId?: string;
}

/** The relay's HTTP base: --relay, HOTLINE_RELAY, else the relay this identity joined. */
function relayBase(opts: ReviewOptions): string {
  const profile = readProfile(hotlineHome());
  return httpUrlOf(relayUrls(opts.relay, profile)[0] as string);
}

/** Mints a token with the reviewer identity in HOTLINE_HOME: a signature over {kid, at, relay} the relay checks against its roster. */
async function mintToken(opts: ReviewOptions): Promise<{ token: string; expiresAt: number; base: string }> {
  const id = await openIdentity();
  const url = relayUrls(opts.relay, id.profile)[0] as string;
  const relay = id.profile.relays.find((r) => r.url === url) ?? (id.profile.relays.length === 1 ? id.profile.relays[0] : undefined);
  if (!relay) throw new HotlineError('NO_IDENTITY', `this identity has not joined ${url}: run \`hotline join INVITE\` with a reviewer invite first`);
  if (id.profile.role !== null && id.profile.role !== 'reviewer') {
    throw new HotlineError('FORBIDDEN', `this identity is a ${id.profile.role} of ${id.profile.state ?? '?'}; reviewer tokens need an identity joined with --role reviewer`);
  }
  const kid = id.keystore.identity.kid;
  const at = Date.now();
  const sig = signStatement(id.keystore.identity, REVIEW_TOKEN_CTX, { kid, at, relay: relay.kid });
  const base = httpUrlOf(url);
  const minted = reviewTokenResponseSchema.parse(await request(base, 'POST', '/v1/review/token', null, { kid, at, sig }));
  return { ...minted, base };
}

/**
 * A token from --token-file, HOTLINE_REVIEW_TOKEN or HOTLINE_REVIEW_TOKEN_FILE (removed from the environment once
 * read), else a fresh one from the reviewer identity. Never from argv, which every local user can read.
 */
async function reviewToken(opts: ReviewOptions): Promise<{ token: string; base: string }> {
  const given = opts.tokenFile ? readSecretFile(opts.tokenFile, '--token-file') : takeSecret('HOTLINE_REVIEW_TOKEN');
  if (given) return { token: given, base: relayBase(opts) };
  return mintToken(opts);
}

/** `--since 7d` (that long ago) or an ISO time such as 2026-12-01T12:00Z. */
function timeArg(name: string, input: string): number {
  const text = input.trim();
  if (/^\d+(\.\d+)?(ms|s|m|h|d)/i.test(text)) return Date.now() - parseDuration(text);
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(text) ? `${text}Z` : text);
  if (Number.isNaN(ms)) throw new HotlineError('BAD_INPUT', `--${name} "${input}" is not a time: use an ISO time (2026-12-01T12:00Z) or how long ago (24h, 7d)`);
  return ms;
}

function filterQuery(f: FilterOptions): URLSearchParams {
  if (f.drill && f.real) throw new HotlineError('BAD_INPUT', 'choose --drill or --real, not both');
  const q = new URLSearchParams();
  if (f.since) q.set('since', String(timeArg('since', f.since)));
  if (f.until) q.set('until', String(timeArg('until', f.until)));
  if (f.drill) q.set('drill', 'drill');
  if (f.real) q.set('drill', 'real');
  if (f.level) q.set('level', parseLevel(f.level));
  if (f.drillId) q.set('drillId', f.drillId);
  if (f.state) {
    const state = f.state.trim().toUpperCase();
    if (!stateCodeSchema.safeParse(state).success) throw new HotlineError('BAD_INPUT', `"${f.state}" is not a state code (2–8 capitals, e.g. US, CN)`);
    q.set('state', state);
  }
  return q;
}

/**
 * The relay's id of the channel a person named: a channel is the unordered pair of its states, so CN-US finds the
 * channel opened as US-CN. An unknown channel is an error, not an empty report. The relay keeps the id as opened; the
 * CLI asks for both orders (one record each) and takes the one the relay knows: the one with notices, or the one this
 * reviewer's grant covers.
 */
async function relayChannelId(base: string, token: string, typed: string): Promise<string> {
  const { parties } = parseChannel(typed);
  const [a, b] = parties;
  const tries = await Promise.all(
    [`${a}-${b}`, `${b}-${a}`].map(async (id) => {
      try {
        const page = timingRecordsPageSchema.parse(await request(base, 'GET', `/v1/review/records?${new URLSearchParams({ channel: id, limit: '1' })}`, token));
        return { id, total: page.total, refused: null };
      } catch (cause) {
        const error = toHotlineError(cause);
        if (error.code !== 'FORBIDDEN') throw error;
        return { id, total: 0, refused: error };
      }
    }),
  );
  const withNotices = tries.find((t) => t.total > 0);
  if (withNotices) return withNotices.id;
  const allowed = tries.filter((t) => t.refused === null);
  // A reviewer's grant covers the channel by its id as opened: the one order it accepts is the channel.
  if (allowed.length === 1) return (allowed[0] as { id: string }).id;
  if (allowed.length === 0) throw (tries[0] as { refused: HotlineError }).refused;
  throw new HotlineError('UNKNOWN_CHANNEL', `no notice was ever sent between ${a} and ${b} on this relay: is there a channel ${a}-${b}? (hotline admin roster lists the channels)`);
}

function filterOptions(cmd: Command): Command {
  return refuseTokenOption(cmd, REVIEW_TOKEN_INSTEAD)
    .option('--channel <id>', 'one channel: its two states in either order, e.g. CN-US or US-CN')
    .option('--since <time>', 'notices accepted at or after: ISO time (2026-12-01T12:00Z) or how long ago (24h, 7d)')
    .option('--until <time>', 'notices accepted before this time')
    .option('--drill', 'drill notices only')
    .option('--real', 'real notices only (no drills)')
    .option('--drill-id <id>', 'one drill')
    .option('--level <level>', 'ROUTINE, PRIORITY, IMMEDIATE or FLASH')
    .option('--state <code>', 'notices sent by or to this state')
    .option('--relay <url>', 'relay URL (default HOTLINE_RELAY, else the relay this identity joined)')
    .option('--token-file <file>', 'file holding a reviewer token (default HOTLINE_REVIEW_TOKEN or HOTLINE_REVIEW_TOKEN_FILE, else one minted with this reviewer identity)')
    .option('--json', 'machine-readable output');
}

const REVIEW_TOKEN_INSTEAD = '--token-file FILE or HOTLINE_REVIEW_TOKEN';

function ms(n: number | null): string {
  return n === null ? '—' : formatDuration(n);
}

function share(x: number | null): string {
  return x === null ? '—' : `${Math.round(x * 1000) / 10}%`;
}

function outcome(r: TimingRecord): string {
  if (r.met === true) return 'MET';
  if (r.met === null) return 'OPEN';
  return r.ackedAt === null ? 'MISSED (no ack)' : `LATE by ${ms(r.lateByMs)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

function statsRows(title: string, list: readonly TimingStats[]): string[][] {
  return list.map((s) => [title === 'level' ? s.key : `${title} ${s.key}`, String(s.count), String(s.acked), ms(s.medianMs), ms(s.p95Ms), ms(s.maxMs), share(s.withinDeadline)]);
}

function aggregatesText(a: TimingAggregates): string {
  const head = ['', 'notices', 'acked', 'median', 'p95', 'max', 'within deadline'];
  return table([head, ...statsRows('level', a.byLevel), ...statsRows('sent to', a.byState), ...statsRows('', a.byDrill).map((r) => [String(r[0]).trim().toUpperCase(), ...r.slice(1)]), ['ALL', ...statsRows('', [a.overall])[0]!.slice(1)]]);
}

function recordsText(records: readonly TimingRecord[]): string {
  const head = ['notice', 'level', 'route', 'accepted (UTC)', 'delivered', 'acked after', 'deadline (UTC)', 'result', 'drill'];
  const rows = records.map((r) => [
    shortId(r.id),
    r.level,
    `${r.fromState}→${r.toState}`,
    utc(r.acceptedAt),
    r.deliveredAt === null ? '—' : `+${ms(r.deliveredAt - r.acceptedAt)} (${r.deliveredTo})`,
    ms(r.timeToAckMs),
    utc(r.ackDeadline),
    outcome(r),
    r.drill ? `DRILL ${r.drill.drillId}` : '',
  ]);
  return table([head, ...rows]);
}

export function registerReviewCommands(program: Command): void {
  const review = program.command('review').description('timing records, aggregates and verifiable exports for reviewers (metadata only, never message text)');

  review
    .command('token')
    .description('mint a reviewer token (12 h) with the reviewer identity in HOTLINE_HOME, for the dashboard at /review or HOTLINE_REVIEW_TOKEN / --token-file')
    .option('--relay <url>', 'relay URL (default HOTLINE_RELAY, else the relay this identity joined)')
    .option('--json', 'machine-readable output')
    .action(async (opts: ReviewOptions) => {
      try {
        const minted = await mintToken(opts);
        const dashboard = `${minted.base}/review`;
        output(opts, { token: minted.token, expiresAt: minted.expiresAt, dashboard }, () =>
          [minted.token, `  reviewer token, valid until ${utc(minted.expiresAt)}; keep it private`, `  dashboard: ${dashboard} (paste the token to sign in)`].join('\n'),
        );
      } catch (e) {
        fail('review token', e, !!opts.json);
      }
    });

  filterOptions(
    review
      .command('report')
      .description('timing per notice (delivered, acknowledged, deadline met) and aggregates (median, p95, share within deadline)')
      .option('--csv', 'every matching record as CSV (one row per notice)')
      .option('--limit <n>', 'records to show', '50')
      .option('--offset <n>', 'skip this many records (newest first)', '0')
      .option('--bucket <hour|day>', 'time series bucket for --json', 'day'),
  ).action(async (opts: ReviewOptions & FilterOptions & { csv?: boolean; limit: string; offset: string; bucket: string }) => {
    try {
      const q = filterQuery(opts);
      const limit = Number(opts.limit);
      const offset = Number(opts.offset);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HotlineError('BAD_INPUT', '--limit must be 1–1000');
      if (!Number.isInteger(offset) || offset < 0) throw new HotlineError('BAD_INPUT', '--offset must be 0 or more');
      if (opts.bucket !== 'hour' && opts.bucket !== 'day') throw new HotlineError('BAD_INPUT', '--bucket must be hour or day');
      const { token, base } = await reviewToken(opts);
      if (opts.channel) q.set('channel', await relayChannelId(base, token, opts.channel));
      const page = async (o: number, l: number) => {
        const pq = new URLSearchParams(q);
        pq.set('limit', String(l));
        pq.set('offset', String(o));
        return timingRecordsPageSchema.parse(await request(base, 'GET', `/v1/review/records?${pq}`, token));
      };
      if (opts.csv) {
        const lines = [timingCsvHeader];
        for (let o = 0; ; o += 1000) {
          const p = await page(o, 1000);
          lines.push(...p.records.map(timingCsvRow));
          if (o + 1000 >= p.total) break;
        }
        process.stdout.write(lines.join('\n') + '\n');
        return;
      }
      const aq = new URLSearchParams(q);
      aq.set('bucket', opts.bucket);
      const [records, aggregates] = await Promise.all([page(offset, limit), request(base, 'GET', `/v1/review/aggregates?${aq}`, token).then((a) => timingAggregatesSchema.parse(a))]);
      output(opts, { aggregates, records }, () =>
        [
          `${records.total} notice(s) match; times from the relay's signed receipts, as of ${utc(records.now)}`,
          '',
          aggregatesText(aggregates),
          '',
          records.records.length ? recordsText(records.records) : 'no notices match',
          records.total > offset + records.records.length ? `\nshowing ${offset + 1}–${offset + records.records.length} of ${records.total}; use --offset or --csv for the rest` : '',
        ]
          .join('\n')
          .trimEnd(),
      );
    } catch (e) {
      fail('review report', e, !!opts.json);
    }
  });

  filterOptions(
    review
      .command('export')
      .description('a bundle of signed metadata (no message text) that `hotline verify` checks offline')
      .requiredOption('--out <file>', 'where to write the bundle (JSON)'),
  ).action(async (opts: ReviewOptions & FilterOptions & { out: string }) => {
    try {
      const q = filterQuery(opts);
      const { token, base } = await reviewToken(opts);
      if (opts.channel) q.set('channel', await relayChannelId(base, token, opts.channel));
      const bundle = reviewBundleSchema.parse(await request(base, 'GET', `/v1/review/export?${q}`, token));
      const out = resolve(opts.out);
      writeFileSync(out, JSON.stringify(bundle, null, 1) + '\n', { mode: 0o600 });
      const summary = { out, relay: bundle.relay, envelopes: bundle.envelopes.length, events: bundle.audit.events.length, checkpoints: bundle.audit.checkpoints.length, records: bundle.records.length };
      output(opts, summary, () =>
        `wrote ${out}: ${summary.records} timing record(s), ${summary.envelopes} signed envelope(s) without bodies, ${summary.events} audit event(s), ${summary.checkpoints} checkpoint(s)\n  check it anywhere with: hotline verify ${opts.out} --relay-key ${bundle.relay}`,
      );
    } catch (e) {
      fail('review export', e, !!opts.json);
    }
  });

  registerVerifyCommand(program);
}
