// What every CLI command shares: environment (HOTLINE_HOME, HOTLINE_RELAY, passphrase), opening the identity, output and errors.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { errorCodes, HotlineError, initCrypto, toHotlineError } from '../../shared/index.ts';
import { requireStrongPassphrase } from '../../shared/passphrase-policy.ts';
import { HotlineClient } from '../hotline-client.ts';
import { keystoreExists, openKeystore, type Keystore } from '../keystore.ts';
import { readProfile, type Profile } from '../profile.ts';
import { relayTls } from './relay-http.ts';

export interface GlobalOptions {
  json?: boolean;
}

export function hotlineHome(): string {
  return resolve(process.env.HOTLINE_HOME ?? join(homedir(), '.hotline'));
}

/** Relay URLs from --relay or HOTLINE_RELAY (comma-separated), else the ones this identity joined, else the local default. */
export function relayUrls(flag?: string, profile?: Profile | null): string[] {
  const raw = flag ?? process.env.HOTLINE_RELAY;
  if (raw) return raw.split(',').map((u) => u.trim()).filter(Boolean).map(normaliseRelayUrl);
  if (profile?.relays.length) return profile.relays.map((r) => r.url);
  return ['ws://127.0.0.1:7300'];
}

export function normaliseRelayUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  if (/^wss?:\/\//.test(trimmed)) return trimmed;
  if (/^https?:\/\//.test(trimmed)) return trimmed.replace(/^http/, 'ws');
  return `ws://${trimmed}`;
}

export function httpUrlOf(wsUrl: string): string {
  return wsUrl.replace(/^ws/, 'http');
}

/** Reads a passphrase without echo when stdin is a terminal. */
async function promptHidden(question: string): Promise<string> {
  const muted = new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
  process.stderr.write(question);
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((res) => rl.question('', res));
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** The passphrase variables: each is read once, with its _FILE twin, and removed from the environment (takeSecret). */
export const PASSPHRASE_ENV = 'HOTLINE_PASSPHRASE';
export const AUTHORITY_PASSPHRASE_ENV = 'HOTLINE_AUTHORITY_PASSPHRASE';

/** The passphrases this process took from the environment (takeSecret keeps them in memory once read). */
interface TakenPassphrases {
  readonly poc: string | undefined;
  readonly authority: string | undefined;
  /** A _FILE that could not be read: reported when a passphrase is needed, not at start. */
  readonly error: HotlineError | null;
}
/**
 * Takes HOTLINE_PASSPHRASE(_FILE) and HOTLINE_AUTHORITY_PASSPHRASE(_FILE) out of the environment (takeSecret: once per
 * process, kept for every later unlock in it). The CLI calls it first thing, so no child process it starts ever
 * inherits a passphrase. Never throws: an unreadable _FILE is kept and reported when a passphrase is needed.
 */
export function takePassphrases(): TakenPassphrases {
  let error: HotlineError | null = null;
  const take = (name: string): string | undefined => {
    try {
      return takeSecret(name);
    } catch (cause) {
      error ??= toHotlineError(cause);
      return undefined;
    }
  };
  return { poc: take(PASSPHRASE_ENV), authority: take(AUTHORITY_PASSPHRASE_ENV), error };
}

/** The PoC passphrase: HOTLINE_PASSPHRASE or the file HOTLINE_PASSPHRASE_FILE names, else asked on a terminal. */
export async function passphrase(purpose: 'unlock' | 'create'): Promise<string> {
  const { poc, error } = takePassphrases();
  if (error) throw error;
  if (poc !== undefined) return poc;
  return askPassphrase(purpose, `set ${PASSPHRASE_ENV} or ${PASSPHRASE_ENV}_FILE`);
}

/** The authority passphrase: HOTLINE_AUTHORITY_PASSPHRASE(_FILE) (so one HOTLINE_HOME can hold a PoC and an authority), else as for the PoC. */
export async function authorityPassphrase(purpose: 'unlock' | 'create'): Promise<string> {
  const { authority, error } = takePassphrases();
  if (error) throw error;
  if (authority !== undefined) return authority;
  return passphrase(purpose);
}

/** Asked on a terminal (twice for a new keyfile); never read from anywhere else. */
async function askPassphrase(purpose: 'unlock' | 'create', how: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new HotlineError('WRONG_PASSPHRASE', `no passphrase: ${how} (or run on a terminal to be asked)`);
  }
  const first = await promptHidden(purpose === 'create' ? 'New passphrase for this identity: ' : 'Passphrase: ');
  if (purpose === 'create') {
    // Refused before it is typed a second time (createKeystore and createAuthority check it again).
    requireStrongPassphrase(first);
    const again = await promptHidden('Repeat passphrase: ');
    if (again !== first) throw new HotlineError('BAD_INPUT', 'the two passphrases differ');
  }
  return first;
}

export interface OpenedIdentity {
  readonly home: string;
  readonly keystore: Keystore;
  readonly profile: Profile;
}

/** Opens this PoC's keystore and profile, with errors that say what to do. */
export async function openIdentity(): Promise<OpenedIdentity> {
  await initCrypto();
  const home = hotlineHome();
  if (!keystoreExists(home)) throw new HotlineError('NO_IDENTITY', `no identity in ${home}: run \`hotline init --name NAME\` first (or set HOTLINE_HOME)`);
  const profile = readProfile(home);
  if (!profile) throw new HotlineError('NO_IDENTITY', `${home} has a keyfile but no profile.json; run \`hotline init\` in a fresh HOTLINE_HOME`);
  const keystore = openKeystore(home, await passphrase('unlock'));
  return { home, keystore, profile };
}

/** Opens the identity, connects to the relays, runs `fn`, always closes. */
export async function withClient<T>(
  opts: { relay?: string; reconnect?: boolean; needsJoin?: boolean },
  fn: (client: HotlineClient, id: OpenedIdentity) => Promise<T>,
): Promise<T> {
  const id = await openIdentity();
  if (opts.needsJoin !== false && !id.profile.state) {
    throw new HotlineError('NO_IDENTITY', 'this identity has not joined a relay yet: run `hotline join INVITE`');
  }
  const client = new HotlineClient({ keystore: id.keystore, profile: id.profile, relays: relayUrls(opts.relay, id.profile), reconnect: opts.reconnect ?? false, tls: relayTls() });
  // Long-running sessions (listen) print alarms in their own stream; one-shot commands say them on stderr.
  if (!opts.reconnect) client.on('alarm', (a) => process.stderr.write(`ALARM [${a.code}] ${a.message}\n`));
  try {
    await client.connect();
    const result = await fn(client, id);
    // Automatic delivery receipts for what arrived while we were connected go out before we leave.
    await Promise.race([client.settle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    return result;
  } finally {
    client.close();
  }
}

/** Prints one JSON document (for --json) or human lines. */
export function output(opts: GlobalOptions, json: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(json) + '\n');
  else process.stdout.write(human() + '\n');
}

/** Reports any failure on one line to stderr (JSON with --json) and exits non-zero. */
export function fail(command: string, cause: unknown, json: boolean): never {
  const error = toHotlineError(cause);
  const hint = errorCodes[error.code].hint;
  if (json) {
    process.stderr.write(JSON.stringify({ error: { code: error.code, message: error.message, hint } }) + '\n');
  } else {
    const showHint = error.code !== 'KEY_CHANGED' && !error.message.includes(hint);
    process.stderr.write(`hotline ${command}: ${error.message}${showHint ? ` — ${hint}` : ''} [${error.code}]\n`);
  }
  if (error.code === 'INTERNAL' && process.env.HOTLINE_DEBUG) console.error(cause);
  process.exit(1);
}

/**
 * A secret from the environment: NAME itself, else the file named by NAME_FILE (a systemd credential, a docker secret).
 * Both variables are removed from this process's environment once read, so no child process inherits them.
 * Secrets are never taken as command-line arguments: argv is readable by every local user in /proc/PID/cmdline.
 */
export function takeSecret(name: string): string | undefined {
  // Read once per process: the variables are gone afterwards, and a command may need the secret again (check run
  // asks the relay every half second, listen unlocks again when it reconnects).
  let outcome = taken.get(name);
  if (!outcome) {
    const direct = process.env[name];
    const file = process.env[`${name}_FILE`];
    delete process.env[name];
    delete process.env[`${name}_FILE`];
    try {
      outcome = { secret: direct !== undefined && direct !== '' ? direct : file ? readSecretFile(file, `${name}_FILE`) : undefined };
    } catch (cause) {
      outcome = { error: toHotlineError(cause) };
    }
    taken.set(name, outcome);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.secret;
}

/** What takeSecret took from the environment, by variable name: the secret, or why its file could not be read. */
const taken = new Map<string, { readonly secret: string | undefined } | { readonly error: HotlineError }>();

/** The first line of a secret file, with a clear error when it cannot be read. */
export function readSecretFile(file: string, what: string): string {
  try {
    const text = readFileSync(file, 'utf8').split(/\r?\n/)[0]?.trim() ?? '';
    if (!text) throw new HotlineError('BAD_INPUT', `${what}: ${file} is empty`);
    return text;
  } catch (cause) {
    if (cause instanceof HotlineError) throw cause;
    throw new HotlineError('BAD_INPUT', `${what}: cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
}

/** Where a command may find the relay's admin token: --token-file FILE, --data DIR (its admin.token). */
export interface AdminTokenSource {
  readonly tokenFile?: string;
  readonly data?: string;
}

/**
 * The relay admin token from --token-file, HOTLINE_ADMIN_TOKEN(_FILE), or DIR/admin.token of a local relay
 * (--data, else HOTLINE_DATA, else ./.hotline-relay). Never from argv.
 */
export function adminToken(source: AdminTokenSource = {}): string {
  if (source.tokenFile) return readSecretFile(source.tokenFile, '--token-file');
  const fromEnv = takeSecret('HOTLINE_ADMIN_TOKEN');
  if (fromEnv) return fromEnv;
  const dir = resolve(source.data ?? (process.env.HOTLINE_DATA || './.hotline-relay'));
  const file = join(dir, 'admin.token');
  if (existsSync(file)) return readSecretFile(file, 'admin token');
  throw new HotlineError(
    'UNAUTHORIZED',
    `no admin token: pass --token-file FILE, set HOTLINE_ADMIN_TOKEN or HOTLINE_ADMIN_TOKEN_FILE, or run next to the relay's data dir (${file} not found)`,
  );
}
