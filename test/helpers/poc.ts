// PoCs for in-process HotlineClients: a keyfile in a temp HOTLINE_HOME, enrolled with an admin invite and /v1/join exactly as `hotline join` does, and the profile written.
import { join } from 'node:path';
import { joinResponseSchema, signStatement, type Role } from '../../shared/index.ts';
import { HotlineClient } from '../../client/hotline-client.ts';
import { createKeystore, type Keystore } from '../../client/keystore.ts';
import { writeProfile, type Profile } from '../../client/profile.ts';
import { adminCall } from './relay.ts';
import { authorityFingerprint } from './trust.ts';

/** What a test needs of a relay to enrol on it. */
export interface EnrolTarget {
  readonly url: string;
  readonly httpUrl: string;
  readonly adminToken: string;
}

export interface EnrolledPoc {
  readonly label: string;
  readonly home: string;
  readonly passphrase: string;
  readonly keystore: Keystore;
  readonly profile: Profile;
}

export interface EnrolOptions {
  /** Folder under which HOTLINE_HOME (`root/label`) is created. */
  readonly root: string;
  readonly label: string;
  readonly state: string;
  readonly role?: Role;
  readonly name?: string;
  /** The PoC's clock when its keyfile (and first prekey) is made. */
  readonly now?: number;
}

/**
 * Creates the keyfile (initCrypto must have been awaited), asks the relay's admin API for an invite, joins with a
 * signature over {invite, kid, name} and the current prekey, and writes profile.json with the pinned relay key.
 */
export async function enrolPoc(relay: EnrolTarget, options: EnrolOptions): Promise<EnrolledPoc> {
  const home = join(options.root, options.label);
  const passphrase = `passphrase of ${options.label}: amber quarry lantern`;
  const name = options.name ?? `${options.state} ${options.label}`;
  const now = options.now ?? Date.now();
  const keystore = createKeystore(home, passphrase, name, now);
  const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state: options.state, role: options.role ?? 'poc' });
  const kid = keystore.identity.kid;
  const sig = signStatement(keystore.identity, 'hotline-join-v1', { invite, kid, name });
  const res = await fetch(`${relay.httpUrl}/v1/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ invite, kid, name, prekey: keystore.currentPrekey(now), sig }),
  });
  const body: unknown = await res.json();
  if (res.status !== 201) throw new Error(`join of ${options.label} refused: ${res.status} ${JSON.stringify(body)}`);
  const joined = joinResponseSchema.parse(body);
  // Pins the state's test authority, as `hotline join --authority` does with the fingerprint handed over in person.
  const profile: Profile = {
    v: 1,
    kid,
    name: joined.name,
    state: joined.state,
    role: joined.role,
    relays: [{ url: relay.url, kid: joined.relay }],
    authority: joined.role === 'director' ? null : { fingerprint: authorityFingerprint(joined.state), kid: null },
  };
  writeProfile(home, profile);
  return { label: options.label, home, passphrase, keystore, profile };
}

export interface PocClientOptions {
  /** Relay URL to use instead of the one joined (a proxy in front of it); the joined relay key stays pinned. */
  readonly via?: string;
  readonly reconnect?: boolean;
  /** The PoC's clock (for skew). */
  readonly now?: () => number;
  /** How long a sender-chain link may stay missing before it is alarmed (HotlineClientOptions.chainGraceMs). */
  readonly chainGraceMs?: number;
  /** How often relay audit heads are witnessed (HotlineClientOptions.witnessEveryMs). */
  readonly witnessEveryMs?: number;
}

/** A HotlineClient for an enrolled PoC (not yet connected). */
export function pocClient(poc: EnrolledPoc, options: PocClientOptions = {}): HotlineClient {
  const joined = poc.profile.relays[0];
  if (!joined) throw new Error(`${poc.label} has not joined a relay`);
  const url = options.via ?? joined.url;
  const profile: Profile = { ...poc.profile, relays: [{ url, kid: joined.kid }] };
  return new HotlineClient({ keystore: poc.keystore, profile, relays: [url], reconnect: options.reconnect ?? true, now: options.now, chainGraceMs: options.chainGraceMs, witnessEveryMs: options.witnessEveryMs });
}

/** Resolves true once `client` holds a welcomed connection (at once when it does), false after `timeoutMs`. */
export function whenConnected(client: HotlineClient, timeoutMs: number): Promise<boolean> {
  // Not `channels`: they outlive the connection that brought them, and a send while down fails at once.
  if (client.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onConnection = (c: { up: boolean }) => {
      if (c.up) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(up: boolean) {
      clearTimeout(timer);
      client.off('connection', onConnection);
      resolve(up);
    }
    client.on('connection', onConnection);
  });
}

/**
 * A one-shot client for `poc` (reconnect off unless `options` say otherwise), pushed onto `clients` for the caller's
 * afterEach to close, connected and welcomed within 3 s (else it throws).
 */
export async function connectedClient(clients: HotlineClient[], poc: EnrolledPoc, options: PocClientOptions = {}): Promise<HotlineClient> {
  const client = pocClient(poc, { reconnect: false, ...options });
  clients.push(client);
  await client.connect();
  if (!(await whenConnected(client, 3000))) throw new Error(`${poc.label} was not welcomed by the relay within 3 s`);
  return client;
}

/** Polls `check` every 20 ms until it holds or `ms` pass; returns either way (the caller's expect says what failed). */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

/** One keyfile in `root/label` joined to every relay in `relays` (one invite each), as a PoC with redundant relays holds it. */
export interface MultiRelayPoc {
  readonly keystore: Keystore;
  readonly profile: Profile;
}

/**
 * Joins one identity of `state` to each of `relays` with an admin invite and /v1/join, pins the state's test authority,
 * and writes the profile (as `hotline join` leaves it, so the CLI can read the home). `now`: the clients' clock.
 */
export async function joinRelays(root: string, label: string, state: string, relays: readonly EnrolTarget[], now = Date.now()): Promise<MultiRelayPoc> {
  const home = join(root, label);
  const keystore = createKeystore(home, 'pw: amber quarry lantern', `${state} officer`, now);
  const joined: Profile['relays'] = [];
  let role: Profile['role'] = null;
  for (const relay of relays) {
    const { invite } = await adminCall<{ invite: string }>(relay, 'POST', '/invites', { state });
    const sig = signStatement(keystore.identity, 'hotline-join-v1', { invite, kid: keystore.identity.kid, name: keystore.name });
    const res = await fetch(`${relay.httpUrl}/v1/join`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ invite, kid: keystore.identity.kid, name: keystore.name, prekey: keystore.currentPrekey(now), sig }),
    });
    const r = joinResponseSchema.parse(await res.json());
    role = r.role;
    joined.push({ url: relay.url, kid: r.relay });
  }
  // Pins the state's authority, as `hotline join --authority` does.
  const profile: Profile = { v: 1, kid: keystore.identity.kid, name: keystore.name, state, role, relays: joined, authority: { fingerprint: authorityFingerprint(state), kid: null } };
  writeProfile(home, profile);
  return { keystore, profile };
}
