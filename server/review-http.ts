// Reviewer HTTP: /v1/review/* (token, records and their CSV, aggregates, communication checks, export: metadata and timing only, never bodies) and the /review dashboard with its vendored uPlot.
import express, { type Request, type Router } from 'express';
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentQueryPattern, HotlineError, reviewQuerySchema, type ReviewQuery, type TimingFilter } from '../shared/index.ts';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import { buildReviewBundle } from './review-export.ts';
import type { ManifestSigner } from './audit-log.ts';
import { ReviewTokens, type ReviewGrant } from './review-tokens.ts';
import type { RelayStore } from './store.ts';
import { checkResults, prepareTimingIndexes, timingAggregates, timingRecords, timingRecordsCsv } from './timing-records.ts';

export interface ReviewDeps {
  /** A read-only connection to the relay database. */
  readonly db: Database.Database;
  readonly tokens: ReviewTokens;
  readonly clock: Clock;
  readonly relayKid: string;
  /** Signs the manifest of each export bundle. */
  readonly manifestSigner: ManifestSigner;
  /** Signs a checkpoint over the current audit head, so an export is signed to its last event. */
  checkpoint(): void;
  /** Channels a reviewer key may read (from the charters and rosters); absent: no scoping (tests of the review API alone). */
  readonly reviewableChannels?: (kid: string) => string[];
}

export interface ReviewService {
  readonly deps: ReviewDeps;
  close(): void;
}

/**
 * Sets up reviewing at relay start: the review indexes (on the writable store), a second, read-only connection for the
 * review queries, the token registry, and the aggregate columns loaded once (so the first dashboard call is fast).
 */
export function openReviewService(opts: {
  dbPath: string;
  store: RelayStore;
  audit: AuditLog;
  clock: Clock;
  relayKid: string;
  reviewableChannels: (kid: string) => string[];
}): ReviewService {
  prepareTimingIndexes(opts.store.db);
  const db = new Database(opts.dbPath, { readonly: true, fileMustExist: true });
  timingAggregates(db, {}, opts.clock.now());
  const deps: ReviewDeps = {
    db,
    tokens: new ReviewTokens(opts.store, opts.audit, opts.clock, opts.relayKid),
    clock: opts.clock,
    relayKid: opts.relayKid,
    manifestSigner: opts.audit.manifestSigner,
    checkpoint: () => opts.audit.checkpointIfDue(true),
    reviewableChannels: opts.reviewableChannels,
  };
  return { deps, close: () => db.close() };
}

function bearer(req: Request): string | undefined {
  const header = req.get('authorization');
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

const knownQueryNames = new Set(Object.keys(reviewQuerySchema.shape));

/** Parses the query string; a parameter that asks for message content (by name or value) is refused with FORBIDDEN before anything else. */
function reviewQuery(req: Request): ReviewQuery {
  const raw = req.query as Record<string, unknown>;
  for (const [name, value] of Object.entries(raw)) {
    if (knownQueryNames.has(name)) continue;
    if (contentQueryPattern.test(name) || (typeof value === 'string' && contentQueryPattern.test(value))) {
      throw new HotlineError('FORBIDDEN', `reviewers see metadata and timing only; "${name.slice(0, 40)}" asks for message content`);
    }
  }
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'string') throw new HotlineError('BAD_INPUT', `query parameter ${name.slice(0, 40)} must be given once`);
  }
  return reviewQuerySchema.parse(raw);
}

function filterOf(q: ReviewQuery, channel: string | undefined = q.channel): TimingFilter {
  return { channel, since: q.since, until: q.until, drill: q.drill, level: q.level, drillId: q.drillId, state: q.state };
}

/**
 * The channel a grant may query: the operator any (or all); a reviewer only one its grant covers (DESIGN.md "Trust":
 * its state's roster or the channel's charter lists it). Throws FORBIDDEN for another, and asks for one when several.
 */
function scopedChannel(deps: ReviewDeps, grant: ReviewGrant, q: ReviewQuery): string | undefined {
  if (grant.kid === null || !deps.reviewableChannels) return q.channel;
  const allowed = deps.reviewableChannels(grant.kid);
  if (q.channel !== undefined) {
    if (!allowed.includes(q.channel)) throw new HotlineError('FORBIDDEN', `this reviewer's grant does not cover ${q.channel}${allowed.length ? `; it covers ${allowed.join(', ')}` : ''}`);
    return q.channel;
  }
  if (allowed.length === 1) return allowed[0];
  if (allowed.length === 0) throw new HotlineError('FORBIDDEN', 'no channel charter or state roster lists this reviewer: ask your state authority to add it');
  throw new HotlineError('BAD_INPUT', `name the channel with ?channel= (this reviewer may read ${allowed.join(', ')})`);
}

/**
 * The states whose communication-check answers a query may see: the two parties of its (scoped) channel, narrowed to
 * `state` when given; the operator without a channel sees every state (null), or the one named.
 */
function scopedStates(channel: string | undefined, state: string | undefined): string[] | null {
  const parties = channel === undefined ? null : channel.split('-');
  if (state === undefined) return parties;
  return parties === null || parties.includes(state) ? [state] : [];
}

/** /v1/review: POST /token is open (the signed request is the credential); everything else needs a reviewer bearer token. */
export function createReviewRouter(deps: ReviewDeps): Router {
  const router = express.Router();
  const json = express.json({ limit: '4kb' });
  router.post('/token', json, (req, res) => {
    res.status(201).json(deps.tokens.mintForReviewer(req.body));
  });
  router.use((req, res, next) => {
    res.set('cache-control', 'no-store');
    res.locals.grant = deps.tokens.check(bearer(req));
    next();
  });
  router.get('/session', (_req, res) => {
    const grant = res.locals.grant as ReviewGrant;
    // channels: what this grant may read (null: any, the operator); the dashboard names them and asks for one when several.
    const channels = grant.kid === null || !deps.reviewableChannels ? null : deps.reviewableChannels(grant.kid);
    res.json({ ...grant, channels, relay: deps.relayKid, now: deps.clock.now() });
  });
  router.get('/records', (req, res) => {
    const q = reviewQuery(req);
    res.json(timingRecords(deps.db, filterOf(q, scopedChannel(deps, res.locals.grant as ReviewGrant, q)), deps.clock.now(), { limit: q.limit, offset: q.offset }));
  });
  router.get('/records.csv', async (req, res) => {
    // Every record the filter matches (the dashboard's "Download CSV"), in the CLI's format, newest first like the table;
    // written 500 records at a time with a turn of the event loop between, so the relay goes on serving meanwhile.
    const q = reviewQuery(req);
    const now = deps.clock.now();
    const chunks = timingRecordsCsv(deps.db, filterOf(q, scopedChannel(deps, res.locals.grant as ReviewGrant, q)), now);
    const first = chunks.next();
    res.set('content-type', 'text/csv; charset=utf-8');
    res.set('content-disposition', `attachment; filename="hotline-records-${new Date(now).toISOString().slice(0, 10)}.csv"`);
    let closed = false;
    res.on('close', () => (closed = true));
    for (let chunk = first; !chunk.done && !closed; chunk = chunks.next()) {
      if (!res.write(chunk.value)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  });
  router.get('/checks', (req, res) => {
    const q = reviewQuery(req);
    const states = scopedStates(scopedChannel(deps, res.locals.grant as ReviewGrant, q), q.state);
    res.json(checkResults(deps.db, { states, since: q.since, until: q.until }, deps.clock.now(), { limit: q.limit, offset: q.offset }));
  });
  router.get('/aggregates', (req, res) => {
    const q = reviewQuery(req);
    res.json(timingAggregates(deps.db, filterOf(q, scopedChannel(deps, res.locals.grant as ReviewGrant, q)), deps.clock.now(), q.bucket));
  });
  router.get('/export', (req, res) => {
    const q = reviewQuery(req);
    const channel = scopedChannel(deps, res.locals.grant as ReviewGrant, q);
    deps.checkpoint();
    const now = deps.clock.now();
    const bundle = buildReviewBundle(deps.db, filterOf(q, channel), now, deps.manifestSigner);
    res.set('content-disposition', `attachment; filename="hotline-review-${new Date(now).toISOString().slice(0, 10)}.json"`);
    res.json(bundle);
  });
  router.use((req, _res, next) => {
    if (contentQueryPattern.test(req.path)) next(new HotlineError('FORBIDDEN', 'reviewers see metadata and timing only; message content is never served'));
    else next(new HotlineError('NOT_FOUND', 'no such review endpoint'));
  });
  return router;
}

const publicDir = fileURLToPath(new URL('./public/review/', import.meta.url));
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot'));

/** The dashboard: static HTML, JS and CSS, uPlot served from node_modules (no CDN), a strict content security policy. */
export function createDashboardRouter(): Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    res.set('x-content-type-options', 'nosniff');
    res.set('referrer-policy', 'no-referrer');
    next();
  });
  router.use('/vendor', express.static(uplotDir, { index: false }));
  router.use(express.static(publicDir, { index: 'index.html' }));
  return router;
}
