// `hotline relay`: parses flags, starts the relay, prints `listening on ws://H:P`, stops gracefully on SIGTERM/SIGINT.
import { Command, InvalidArgumentError } from 'commander';
import { join, resolve } from 'node:path';
import { parseDuration, toHotlineError } from '../shared/index.ts';
import { defaultVerifyThreads } from './config.ts';
import { RELAY_KEY_PASSPHRASE_ENV, RELAY_KEY_PASSPHRASE_FILE_ENV, relayKeyPassphrase } from './relay-files.ts';
import { startRelay } from './relay.ts';

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
  .option('--data <dir>', 'data directory (SQLite store, relay key, admin token); default $HOTLINE_DATA or ./.hotline-relay')
  .option('--json', 'print the ready line as JSON {url, relay, dataDir}')
  .option('--rate-limit <n>', 'messages per second allowed per connection (sustained)', positiveInt)
  .option('--rate-burst <n>', 'messages a connection may send at once above the sustained rate', positiveInt)
  .option('--max-batch <n>', 'largest number of writes committed in one transaction (group commit)', positiveInt)
  .option('--verify-threads <n>', `worker threads checking envelope signatures; 0 checks them on the main thread (default ${defaultVerifyThreads}: one per core beyond the first)`, wholeNumber)
  .option('--check-every <duration>', 'run a communication check of every PoC on this schedule, e.g. 24h')
  .option('--check-within <duration>', 'how long PoCs have to answer a scheduled check (default: 10m, or the interval if shorter)')
  .addHelpText(
    'after',
    [
      '',
      'First start creates the relay identity and an admin token (printed once, kept in DIR/admin.token, mode 0600).',
      'Stop with Ctrl-C or SIGTERM: queued commits finish, sockets close with code 1001.',
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
  checkWithin?: string;
  rateLimit?: number;
  rateBurst?: number;
  maxBatch?: number;
  verifyThreads?: number;
}>();
const dataDir = resolve(opts.data ?? process.env.HOTLINE_DATA ?? './.hotline-relay');

let checkSchedule: { everyMs: number; withinMs: number } | null = null;
try {
  if (opts.checkEvery) {
    const everyMs = parseDuration(opts.checkEvery);
    checkSchedule = { everyMs, withinMs: opts.checkWithin ? parseDuration(opts.checkWithin) : Math.min(everyMs, 10 * 60_000) };
  }
} catch (cause) {
  console.error(`hotline relay: ${toHotlineError(cause).message}`);
  process.exit(1);
}

try {
  // The same variables startRelay reads; asked here first so a missing passphrase can be warned about once started.
  const relayKeySealed = relayKeyPassphrase(process.env) !== null;
  const limits = {
    ...(opts.rateLimit !== undefined ? { ratePerSec: opts.rateLimit } : {}),
    ...(opts.rateBurst !== undefined ? { rateBurst: opts.rateBurst } : {}),
  };
  const relay = await startRelay({
    config: {
      host: opts.host,
      port: opts.port,
      dataDir,
      limits,
      ...(opts.maxBatch !== undefined ? { maxBatch: opts.maxBatch } : {}),
      ...(opts.verifyThreads !== undefined ? { verifyThreads: opts.verifyThreads } : {}),
    },
    defaultMetrics: true,
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
  if (!relayKeySealed) {
    console.error(
      `hotline relay: warning: ${join(dataDir, 'relay.key')} is not sealed (whoever copies the data directory gets the relay signing key); set ${RELAY_KEY_PASSPHRASE_ENV} or ${RELAY_KEY_PASSPHRASE_FILE_ENV} and restart to seal it`,
    );
  }
  if (opts.json) {
    console.log(JSON.stringify({ url: relay.url, relay: relay.identity.kid, dataDir, firstStart: relay.firstStart }));
  } else {
    if (relay.firstStart) {
      console.log(`relay identity created: ${relay.identity.kid}`);
      console.log(`admin token (shown once; also in ${join(dataDir, 'admin.token')}): ${relay.adminToken}`);
    }
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
