// HTTP beside the WebSocket: /healthz, /metrics (its own token), /v1/join, the token-protected /v1/admin/* and /v1/review/* routes, and the /review dashboard.
import express, { type NextFunction, type Request, type Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { errorCodes, HotlineError, toHotlineError } from '../shared/index.ts';
import type { ZodError } from 'zod';
import type { Admin } from './admin.ts';
import type { CommunicationChecks } from './checks.ts';
import type { Logger } from './logger.ts';
import type { RelayMetrics } from './metrics.ts';
import { createDashboardRouter, createReviewRouter, type ReviewDeps } from './review-http.ts';
import type { TrustRegistry } from './trust/trust-registry.ts';

export interface HttpDeps {
  readonly admin: Admin;
  readonly checks: CommunicationChecks;
  readonly trust: TrustRegistry;
  readonly adminToken: string;
  /** The only token /metrics accepts: a Prometheus scraper holds it without holding admin powers. */
  readonly metricsToken: string;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** Reviewer API and dashboard; absent in relays built without them. */
  readonly review?: ReviewDeps;
  health(): Record<string, unknown>;
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function bearer(req: Request): string | undefined {
  const header = req.get('authorization');
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

function isZodError(e: unknown): e is ZodError {
  return typeof e === 'object' && e !== null && 'issues' in e && Array.isArray((e as { issues: unknown }).issues);
}

function isClientHttpError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const status = (e as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status < 500 && (e as { expose?: unknown }).expose === true;
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Bodies are parsed per route, after the token check on admin routes: no parsing for the unauthenticated.
  const json = express.json({ limit: '64kb' });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, ...deps.health() });
  });

  // Who is connected and when notices flow is itself sensitive: the metrics token only (not the admin token).
  app.get('/metrics', async (req, res) => {
    if (!tokenMatches(bearer(req), deps.metricsToken)) {
      throw new HotlineError('UNAUTHORIZED', 'metrics token missing or wrong: send Authorization: Bearer <the contents of DIR/metrics.token>');
    }
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.post('/v1/join', json, (req, res) => {
    res.status(201).json(deps.admin.join(req.body));
  });

  // Trust documents verify themselves: anyone may hand in a roster or a charter amendment, and the relay installs it
  // only when it is signed as it must be and extends the one in force. A first charter opens a channel: operator only.
  app.post('/v1/trust/charters', json, (req, res) => {
    const given = bearer(req);
    if (given !== undefined && !tokenMatches(given, deps.adminToken)) throw new HotlineError('UNAUTHORIZED', 'admin token wrong');
    res.status(201).json(deps.trust.installCharter(req.body, given !== undefined));
  });
  app.post('/v1/trust/rosters', json, (req, res) => {
    res.status(201).json(deps.trust.installRoster(req.body));
  });

  const admin = express.Router();
  admin.use((req, _res, next) => {
    if (!tokenMatches(bearer(req), deps.adminToken)) throw new HotlineError('UNAUTHORIZED', 'admin token missing or wrong');
    next();
  });
  admin.use(json);
  admin.post('/invites', (req, res) => {
    res.status(201).json(deps.admin.invite(req.body));
  });
  admin.post('/channels', (req, res) => {
    res.status(201).json(deps.admin.openChannel(req.body));
  });
  admin.post('/revoke', (req, res) => {
    res.json(deps.admin.revoke(req.body));
  });
  admin.get('/roster', (_req, res) => {
    res.json(deps.admin.roster());
  });
  admin.post('/checks', async (req, res) => {
    res.status(201).json(await deps.checks.start(req.body ?? {}, 'admin'));
  });
  admin.get('/checks/:checkId', (req, res) => {
    res.json(deps.checks.status(req.params.checkId));
  });
  const review = deps.review;
  if (review) {
    admin.post('/review-tokens', (req, res) => {
      res.status(201).json(review.tokens.mintForAdmin(req.body));
    });
    app.use('/v1/review', createReviewRouter(review));
    app.use('/review', createDashboardRouter());
  }
  app.use('/v1/admin', admin);

  app.use((_req, _res, next) => next(new HotlineError('NOT_FOUND', 'no such endpoint')));

  // Express recognises an error handler by its four parameters.
  app.use((cause: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let error: HotlineError;
    if (isZodError(cause)) {
      const issue = cause.issues[0];
      error = new HotlineError('BAD_SCHEMA', issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : undefined);
    } else if (typeof cause === 'object' && cause !== null && 'type' in cause && (cause as { type: unknown }).type === 'entity.parse.failed') {
      error = new HotlineError('BAD_FRAME', 'request body is not valid JSON');
    } else if (typeof cause === 'object' && cause !== null && 'type' in cause && (cause as { type: unknown }).type === 'entity.too.large') {
      error = new HotlineError('FRAME_TOO_LARGE', 'request body is too large');
    } else if (isClientHttpError(cause)) {
      // body-parser's own refusals (unsupported charset or encoding, …): the client's fault, not ours.
      error = new HotlineError('BAD_FRAME', 'request body cannot be read: send UTF-8 JSON without a content encoding');
    } else {
      error = toHotlineError(cause);
    }
    if (error.code === 'INTERNAL') deps.logger.error({ err: cause }, 'http request failed');
    deps.metrics.rejected.inc({ code: error.code });
    res.status(errorCodes[error.code].status).json({ error: { code: error.code, message: error.message } });
  });
  return app;
}
