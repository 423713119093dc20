// Composition root of the relay: store, audit, group commit, delivery, WebSocket sessions and HTTP on one port (TLS optional).
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorCodes, HotlineError, initCrypto, type ErrorCode, type Identity } from '../shared/index.ts';
import type { AcceptedEnvelope } from './accept.ts';
import { Admin } from './admin.ts';
import { Admission } from './admission.ts';
import { AuditLog } from './audit-log.ts';
import { systemClock, type Clock } from './clock.ts';
import { relayConfig, type RelayConfig, type RelayTls } from './config.ts';
import { lockDataDir, type DataDirLock, type LockHolder } from './data-lock.ts';
import { DeadlineScheduler } from './deadline-scheduler.ts';
import { CommunicationChecks } from './checks.ts';
import { Drills, drillStatus } from './drills.ts';
import { DeliveryHub } from './delivery.ts';
import { fireEscalationSteps } from './escalation.ts';
import { EventOutbox } from './event-outbox.ts';
import { GroupCommit } from './group-commit.ts';
import { createHttpApp } from './http.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { loadOrCreateRelayFiles } from './relay-files.ts';
import type { RelayContext } from './relay-context.ts';
import { Session } from './session.ts';
import { RelayStore } from './store.ts';
import { TrustRegistry } from './trust/trust-registry.ts';
import { openReviewService } from './review-http.ts';
import { createVerifier } from './verify-pool.ts';

export interface RelayOptions {
  readonly config?: Partial<Omit<RelayConfig, 'limits'>> & { limits?: Partial<RelayConfig['limits']> };
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Collect process-wide default metrics (CPU, memory); off for in-process test relays. */
  readonly defaultMetrics?: boolean;
  /** The relay key's passphrase (null: none); when absent it is read from the environment (relayKeyPassphrase). */
  readonly relayKeyPassphrase?: string | null;
}

export interface RunningRelay {
  readonly url: string;
  readonly httpUrl: string;
  readonly port: number;
  readonly identity: Identity;
  readonly adminToken: string;
  /** Bearer token for GET /metrics (DIR/metrics.token), separate from the admin token. */
  readonly metricsToken: string;
  /** True when this start created the relay identity and admin token. */
  readonly firstStart: boolean;
  /** True when this start created DIR/metrics.token. */
  readonly metricsTokenCreated: boolean;
  /** Set when a lock left by a relay that is no longer running was taken over: that relay's pid and start. */
  readonly tookOverLockFrom: LockHolder | null;
  readonly store: RelayStore;
  readonly context: RelayContext;
  /** The escalation steps waiting to fire (for tests and benchmarks: size, next due). */
  readonly deadlines: DeadlineScheduler;
  /** Graceful stop: refuse new work, commit what is queued, checkpoint, close sockets with 1001, close the store. */
  close(): Promise<void>;
}

function unreadable(flag: string, path: string, cause: unknown): HotlineError {
  const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((cause as NodeJS.ErrnoException).code ?? String(cause));
  return new HotlineError('BAD_INPUT', `cannot read ${flag} ${path}: ${reason}`, { cause });
}

/**
 * Reads and checks the relay's TLS certificate and key (PEM files): each must parse, the key must be the
 * certificate's, and the certificate must be valid now. BAD_INPUT with a one-line reason otherwise.
 * @example const tls = readRelayTls('/etc/hotline/relay.crt', '/etc/hotline/relay.key.pem');
 */
export function readRelayTls(certPath: string, keyPath: string, now: Date = new Date()): RelayTls {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certPath);
  } catch (cause) {
    throw unreadable('--tls-cert', certPath, cause);
  }
  try {
    key = readFileSync(keyPath);
  } catch (cause) {
    throw unreadable('--tls-key', keyPath, cause);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `--tls-cert ${certPath} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`, { cause });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (cause) {
    const encrypted = (cause as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE';
    throw new HotlineError(
      'BAD_INPUT',
      encrypted
        ? `--tls-key ${keyPath} is encrypted; give the relay an unencrypted key file readable only by its user (mode 0600)`
        : `--tls-key ${keyPath} is not a PEM private key (-----BEGIN PRIVATE KEY-----)`,
      { cause },
    );
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new HotlineError('BAD_INPUT', `--tls-key ${keyPath} is not the key of the certificate in --tls-cert ${certPath}`);
  }
  if (new Date(x509.validTo) < now) throw new HotlineError('BAD_INPUT', `the certificate in ${certPath} expired on ${new Date(x509.validTo).toISOString()}; renew it`);
  if (new Date(x509.validFrom) > now) throw new HotlineError('BAD_INPUT', `the certificate in ${certPath} is not valid before ${new Date(x509.validFrom).toISOString()}`);
  try {
    createSecureContext({ cert, key });
  } catch (cause) {
    throw new HotlineError('BAD_INPUT', `cannot use --tls-cert ${certPath} with --tls-key ${keyPath}: ${(cause as Error).message}`, { cause });
  }
  return { cert, key, validUntil: new Date(x509.validTo).getTime() };
}

export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  await initCrypto();
  const config = relayConfig(options.config);
  // Before anything in the data directory is opened: one relay per store.
  const lock = lockDataDir(config.dataDir);
  try {
    return await startLocked(options, config, lock);
  } catch (cause) {
    lock.release();
    throw cause;
  }
}

async function startLocked(options: RelayOptions, config: RelayConfig, lock: DataDirLock): Promise<RunningRelay> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger();
  const files = options.relayKeyPassphrase === undefined ? loadOrCreateRelayFiles(config.dataDir) : loadOrCreateRelayFiles(config.dataDir, options.relayKeyPassphrase);
  const store = new RelayStore(join(config.dataDir, 'relay.db'));
  const metrics = createMetrics(options.defaultMetrics ?? false);
  const audit = new AuditLog(store, files.identity, clock, config.checkpointEvery, config.checkpointIntervalMs);
  const commits = new GroupCommit(store, config.maxBatch, {
    onCommit: (seconds, size) => {
      metrics.commitSeconds.observe(seconds);
      metrics.commitBatch.observe(size);
    },
    onRollback: () => audit.resync(),
    onJobRollback: () => audit.resync(),
  });
  const verifier = createVerifier(config.verifyThreads, logger);
  const delivery = new DeliveryHub(store, commits, audit, clock, metrics, config.limits.deliveryWindow, config.limits.redeliverAfterMs);
  const sessions = new Set<Session>();
  const sessionsByKid = new Map<string, Set<Session>>();
  let shuttingDown = false;
  const outbox = new EventOutbox(store, commits, clock, logger, (kid) => sessionsByKid.get(kid) ?? []);
  const drills = new Drills(store, audit, commits, clock);
  const trust = new TrustRegistry(store, audit, clock);
  const checks = new CommunicationChecks(store, audit, commits, clock, outbox, files.identity.kid, logger);
  const firing = { store, audit, commits, clock, metrics, outbox, logger };
  const deadlines = new DeadlineScheduler(
    {
      clock,
      loadOpen: (after, limit) => store.openEscalationSteps(after, limit),
      fire: (steps) => fireEscalationSteps(firing, steps),
      onFireError: (err, steps) => logger.error({ err, steps: steps.length }, 'escalation steps failed to fire; will retry'),
    },
    { window: config.deadlineWindow },
  );

  const context: RelayContext = {
    config,
    clock,
    identity: files.identity,
    store,
    commits,
    verifier,
    delivery,
    metrics,
    logger,
    acceptContext: { store, trust, audit, relay: files.identity, clock, pendingCap: config.limits.pendingCap },
    drills,
    checks,
    drillStatus: (drill) => drillStatus(store, drill, clock.now()),
    closeCodeOf: (code: ErrorCode) => errorCodes[code].close,
    onSessionStart: (session) => {
      let set = sessionsByKid.get(session.kid);
      if (!set) sessionsByKid.set(session.kid, (set = new Set()));
      set.add(session);
      metrics.connections.inc({ state: session.state });
      logger.info({ kid: session.kid, state: session.state }, 'device connected');
      outbox.flush(session);
      delivery.attach(session);
    },
    onSessionEnd: (session) => {
      sessionsByKid.get(session.kid)?.delete(session);
      metrics.connections.dec({ state: session.state });
      delivery.detach(session);
    },
    onAccepted: (accepted: AcceptedEnvelope) => {
      metrics.accepted.inc({ kind: accepted.envelope.header.kind });
      const changes = accepted.deadlineChanges;
      deadlines.cancel(changes.cancelled);
      deadlines.add(changes.scheduled);
      if (changes.ackOutcome) metrics.acks.inc({ outcome: changes.ackOutcome });
      delivery.offer(accepted.deliverTo, {
        rowid: accepted.rowid,
        id: accepted.envelope.header.id,
        envelopeJson: accepted.envelopeJson,
        receiptJson: accepted.receiptJson,
      });
    },
  };

  const admin = new Admin(store, audit, clock, files.identity.kid, (kid) => {
    for (const s of sessionsByKid.get(kid) ?? []) {
      s.fail('REVOKED_KEY', 'this key was revoked by the relay operator');
    }
  });
  const review = openReviewService({
    dbPath: join(config.dataDir, 'relay.db'),
    store,
    audit,
    clock,
    relayKid: files.identity.kid,
    reviewableChannels: (kid) => trust.reviewableChannels(kid),
  });
  const app = createHttpApp({
    admin,
    review: review.deps,
    checks,
    trust,
    adminToken: files.adminToken,
    metricsToken: files.metricsToken,
    metrics,
    logger,
    health: () => ({ relay: files.identity.kid, connections: sessions.size, shuttingDown }),
  });
  const server: Server = config.tls ? createTlsServer({ cert: config.tls.cert, key: config.tls.key }, app) : createServer(app);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.limits.maxFrameBytes * 4 });

  const admission = new Admission({
    backlog: () => verifier.inFlight + commits.queued,
    connections: () => wss.clients,
    high: config.admission.high,
    low: config.admission.low,
    onPause: () => metrics.backpressurePauses.inc(),
  });
  const alive = new WeakMap<WebSocket, boolean>();
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    const unauthenticated = [...sessions].filter((s) => !s.authenticated && !s.isClosed).length;
    if (path !== '/v1/ws' || shuttingDown || unauthenticated >= config.limits.maxUnauthenticated) {
      socket.write(`HTTP/1.1 ${shuttingDown || path === '/v1/ws' ? '503 Service Unavailable' : '404 Not Found'}\r\nConnection: close\r\n\r\n`);
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const session = new Session(ws, context);
      sessions.add(session);
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      admission.adopt(ws);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        session.onFrame(data, isBinary);
        admission.check();
      });
      ws.on('close', () => {
        sessions.delete(session);
        session.onClosed();
      });
      ws.on('error', (err) => logger.warn({ err: err.message }, 'socket error'));
    });
  });

  const timers = [
    // Heartbeat: a peer that has not answered the last ping by the next (30 s by default) is gone; its socket (and backlog) is dropped.
    setInterval(() => {
      for (const ws of wss.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    }, config.limits.heartbeatMs),
    setInterval(() => audit.checkpointIfDue(), Math.min(1000, config.checkpointIntervalMs)),
    setInterval(() => delivery.sweep(), Math.max(250, Math.floor(config.limits.redeliverAfterMs / 3))),
    setInterval(() => metrics.pending.set(store.totalPending()), 5000),
  ];
  for (const t of timers) t.unref();
  // Deadlines recovered from the store: those already due fire at once, in due order; the rest on time.
  deadlines.start();
  checks.finishDue();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  logger.info({ relay: files.identity.kid, port, dataDir: config.dataDir, tls: config.tls !== null }, 'relay started');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      deadlines.stop();
      checks.stop();
      for (const t of timers) clearInterval(t);
      admission.stop();
      commits.flush();
      // Let the committed writes' replies (receipts) reach their senders before the sockets close.
      await new Promise((resolve) => setImmediate(resolve));
      for (const s of sessions) s.close(errorCodes.SHUTTING_DOWN.close, 'SHUTTING_DOWN');
      commits.close();
      audit.checkpointIfDue(true);
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
        for (const c of wss.clients) c.terminate();
      });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      review.close();
      await verifier.close();
      store.close();
      lock.release();
      logger.info('relay stopped');
    })();
    return closing;
  };

  const secure = config.tls ? 's' : '';
  return {
    url: `ws${secure}://${hostForUrl}:${port}`,
    httpUrl: `http${secure}://${hostForUrl}:${port}`,
    port,
    identity: files.identity,
    adminToken: files.adminToken,
    metricsToken: files.metricsToken,
    firstStart: files.created,
    metricsTokenCreated: files.metricsTokenCreated,
    tookOverLockFrom: lock.tookOverFrom,
    store,
    context,
    deadlines,
    close,
  };
}
