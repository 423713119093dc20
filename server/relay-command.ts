// `hotline relay`: parses flags, starts the relay, prints `listening on ws://H:P` (wss:// with TLS), stops gracefully on SIGTERM/SIGINT.
import { Command, InvalidArgumentError } from 'commander';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HotlineError, parseDuration, toHotlineError } from '../shared/index.ts';
import { defaultVerifyThreads, type RelayTls } from './config.ts';
import { takeOverNotice } from './data-lock.ts';
import { RELAY_KEY_PASSPHRASE_ENV, RELAY_KEY_PASSPHRASE_FILE_ENV, takeRelayKeyPassphrase } from './relay-files.ts';
import { readRelayTls, startRelay } from './relay.ts';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('port must be 0-65535');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number (0 or more)');
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

const program = new Command('hotline relay')
  .description('Run the Hotline relay: WebSocket (/v1/ws) and HTTP (/healthz, /metrics, /v1/admin) on one port.')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0 picks a free one)', port, 7300)
  .option('--data <dir>', 'data directory (SQLite store, relay key, tokens); default $HOTLINE_DATA or ./.hotline-relay')
  .option('--tls-cert <file>', 'serve wss:// and https:// with this PEM certificate (leaf first, then intermediates); needs --tls-key')
  .option('--tls-key <file>', "the certificate's PEM private key (unencrypted, mode 0600)")
  .option('--json', 'print the ready line as JSON {url, relay, dataDir, firstStart} (no tokens)')
  .option('--rate-limit <n>', 'messages per second allowed per connection (sustained)', positiveInt)
  .option('--rate-burst <n>', 'messages a connection may send at once above the sustained rate', positiveInt)
  .option('--max-batch <n>', 'largest number of writes committed in one transaction (group commit)', positiveInt)
  .option('--verify-threads <n>', `worker threads checking envelope signatures; 0 checks them on the main thread (default ${defaultVerifyThreads}: one per core beyond the first)`, wholeNumber)
  .option('--heartbeat <duration>', 'how often each connection is pinged; one that has not answered by the next ping is dropped (default 30s)')
  .option('--check-every <duration>', 'run a communication check of every PoC on this schedule, e.g. 24h')
  .option('--check-within <duration>', 'how long PoCs have to answer a scheduled check (default: 10m, or the interval if shorter)')
  .addHelpText(
    'after',
    [
      '',
      'First start creates the relay identity, an admin token (DIR/admin.token) and a metrics token (DIR/metrics.token),',
      'both mode 0600. They are shown once on a terminal; with stdout to a file or a pipe only their paths are printed.',
      'GET /metrics answers only with "Authorization: Bearer <DIR/metrics.token>" (the admin token is refused there).',
      'One relay per data directory (DIR/relay.lock): a second one refuses to start; a lock left by a killed relay is taken over.',
      'Stop with Ctrl-C or SIGTERM: queued commits finish, sockets close with code 1001.',
      '',
      'TLS: with --tls-cert and --tls-key the port speaks only wss:// and https://; clients verify the certificate',
      '(a private CA: `hotline --ca CA.pem ...` or HOTLINE_CA=CA.pem). Without them, bind to 127.0.0.1 behind a TLS',
      'reverse proxy. See docs/operations.md.',
      '',
      'The relay signing key (DIR/relay.key) is sealed under a passphrase when one of these is set:',
      `  ${RELAY_KEY_PASSPHRASE_ENV}       the passphrase`,
      `  ${RELAY_KEY_PASSPHRASE_FILE_ENV}  a file holding it (systemd credential, docker secret)`,
      'A key still in the clear is sealed in place on the next start with one set (same key id).',
      'A sealed key does not start without its passphrase. Unset, the key is kept in the clear (a warning says so).',
    ].join('\n'),
  );

program.parse(process.argv.slice(3), { from: 'user' });
// Everything the relay writes (database, WAL, keys) is for this user only.
process.umask(0o077);
const opts = program.opts<{
  host: string;
  port: number;
  data?: string;
  json?: boolean;
  checkEvery?: string;
  heartbeat?: string;
  checkWithin?: string;
  rateLimit?: number;
  rateBurst?: number;
  maxBatch?: number;
  verifyThreads?: number;
  tlsCert?: string;
  tlsKey?: string;
}>();
const dataDir = resolve(opts.data ?? (process.env.HOTLINE_DATA || './.hotline-relay'));

let checkSchedule: { everyMs: number; withinMs: number } | null = null;
let heartbeatMs: number | null = null;
let tls: RelayTls | null = null;
let relayKeyPassphrase: string | null = null;
try {
  // Read once, then gone from the environment: the verify threads started next do not inherit it.
  relayKeyPassphrase = takeRelayKeyPassphrase();
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new HotlineError('BAD_INPUT', `${opts.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key'}: give both, or neither`);
  }
  if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
    tls = readRelayTls(resolve(opts.tlsCert), resolve(opts.tlsKey));
    const keyMode = statSync(resolve(opts.tlsKey)).mode & 0o777;
    if (keyMode & 0o077) {
      console.error(`hotline relay: warning: --tls-key ${opts.tlsKey} is readable by other users (mode 0${keyMode.toString(8)}); chmod 600 it`);
    }
    const daysLeft = tls.validUntil === undefined ? Infinity : (tls.validUntil - Date.now()) / 86_400_000;
    if (daysLeft < 14) {
      console.error(`hotline relay: warning: the certificate in ${opts.tlsCert} expires in ${Math.max(0, Math.floor(daysLeft))} day(s) (${new Date(tls.validUntil as number).toISOString()}); renew it and restart`);
    }
  }
  if (opts.heartbeat !== undefined) {
    heartbeatMs = parseDuration(opts.heartbeat);
    if (heartbeatMs < 1000) throw new HotlineError('BAD_INPUT', `--heartbeat ${opts.heartbeat} is under a second: give e.g. 30s`);
  }
  if (opts.checkEvery) {
    const everyMs = parseDuration(opts.checkEvery);
    checkSchedule = { everyMs, withinMs: opts.checkWithin ? parseDuration(opts.checkWithin) : Math.min(everyMs, 10 * 60_000) };
  }
} catch (cause) {
  console.error(`hotline relay: ${toHotlineError(cause).message}`);
  process.exit(1);
}

try {
  const relayKeySealed = relayKeyPassphrase !== null;
  const limits = {
    ...(opts.rateLimit !== undefined ? { ratePerSec: opts.rateLimit } : {}),
    ...(opts.rateBurst !== undefined ? { rateBurst: opts.rateBurst } : {}),
    ...(heartbeatMs !== null ? { heartbeatMs } : {}),
  };
  const relay = await startRelay({
    config: {
      host: opts.host,
      port: opts.port,
      tls,
      dataDir,
      limits,
      ...(opts.maxBatch !== undefined ? { maxBatch: opts.maxBatch } : {}),
      ...(opts.verifyThreads !== undefined ? { verifyThreads: opts.verifyThreads } : {}),
    },
    defaultMetrics: true,
    relayKeyPassphrase,
  });
  // Before the ready line: a supervisor (or a test) that stops the relay the moment it says it listens gets a clean stop.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping relay (finishing commits)…`);
    relay.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`error while stopping: ${toHotlineError(err).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (relay.tookOverLockFrom) console.error(takeOverNotice(dataDir, relay.tookOverLockFrom));
  if (!tls && !isLoopback(opts.host)) {
    console.error(
      `hotline relay: warning: serving plain ws:// and http:// on ${opts.host}: invites, tokens and headers cross the network in clear; use --tls-cert/--tls-key, or bind to 127.0.0.1 behind a TLS reverse proxy`,
    );
  }
  if (!relayKeySealed) {
    console.error(
      `hotline relay: warning: ${join(dataDir, 'relay.key')} is not sealed (whoever copies the data directory gets the relay signing key); set ${RELAY_KEY_PASSPHRASE_ENV} or ${RELAY_KEY_PASSPHRASE_FILE_ENV} and restart to seal it`,
    );
  }
  if (opts.json) {
    console.log(JSON.stringify({ url: relay.url, relay: relay.identity.kid, dataDir, firstStart: relay.firstStart }));
  } else {
    // A token is shown only on a terminal: stdout sent to a file (relay > relay.log) or a log collector gets the path.
    const showSecrets = process.stdout.isTTY === true;
    const tokenLine = (what: string, file: string, token: string) =>
      showSecrets ? `${what} (shown once; also in ${join(dataDir, file)}, mode 0600): ${token}` : `${what}: in ${join(dataDir, file)} (mode 0600)`;
    if (relay.firstStart) {
      console.log(`relay identity created: ${relay.identity.kid}`);
      console.log(tokenLine('admin token', 'admin.token', relay.adminToken));
    }
    if (relay.metricsTokenCreated) console.log(tokenLine('metrics token', 'metrics.token', relay.metricsToken));
    console.log(`listening on ${relay.url}`);
  }
  if (checkSchedule) {
    const { everyMs, withinMs } = checkSchedule;
    const timer = setInterval(() => {
      relay.context.checks.start({ state: null, withinMs }, 'schedule').then(
        (c) => console.error(`scheduled communication check ${c.checkId}: ${c.targets.length} PoCs asked, answers due ${new Date(c.deadline).toISOString()}`),
        (err: unknown) => console.error(`scheduled communication check not started: ${toHotlineError(err).message}`),
      );
    }, everyMs);
    timer.unref();
  }
} catch (cause) {
  const err = cause as NodeJS.ErrnoException;
  if (err.code === 'EADDRINUSE') console.error(`hotline relay: port ${opts.port} on ${opts.host} is already in use; pick another with --port`);
  else if (err.code === 'EACCES') console.error(`hotline relay: not allowed to use ${dataDir} or port ${opts.port}: ${err.message}`);
  else console.error(`hotline relay: ${toHotlineError(cause).message}`);
  process.exit(1);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
