// `hotline authority | roster | charter`: a state authority's keys, the roster it signs, and the charter ceremony with the other state's authority.
import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  charterHash,
  checkCharterExtends,
  fingerprint,
  formatDuration,
  HotlineError,
  initCrypto,
  levels,
  missingCharterSignatures,
  parseDeadlineOverride,
  parseDuration,
  rosterHash,
  toHotlineError,
  trustLimits,
  verifyCharter,
  verifyRoster,
  type CharterBody,
  type ErrorCode,
  type Level,
  type RosterMember,
  type SignedCharter,
  type SignedRoster,
  catalogueHash,
  parseCatalogue,
} from '../../shared/index.ts';
import {
  charterChainTo,
  charterFile,
  charterVersions,
  newestRoster,
  newestSignedCharter,
  parseCharter,
  parseRoster,
  readDocument,
  rosterChainTo,
  saveCharter,
  saveRoster,
  writeDocument,
} from '../authority/authority-docs.ts';
import { authorityExists, createAuthority, openAuthority, type Authority } from '../authority/authority-keystore.ts';
import { countersignCharter, signatureStatus, type SignatureStatus } from '../authority/charter-countersign.ts';
import { parseChannel, proposeCharter, type CharterTermsChange } from '../authority/charter-proposal.ts';
import { addRosterMember, MIN_KID_PREFIX, removeRosterMember, type RosterEdit } from '../authority/roster-edit.ts';
import { adminToken, authorityPassphrase, fail, hotlineHome, httpUrlOf, normaliseRelayUrl, openIdentity, output, withClient } from './context.ts';
import { HotlineClient } from '../hotline-client.ts';
import { keystoreExists } from '../keystore.ts';
import { relayRequest } from './relay-http.ts';
import { utc } from './format.ts';

interface JsonOption {
  json?: boolean;
}

interface PublishOptions extends JsonOption {
  relay?: string;
}

interface TokenOptions extends PublishOptions {
  tokenFile?: string;
  data?: string;
}

/** One relay's answer to a published roster or charter. */
interface Publication {
  readonly url: string;
  readonly ok: boolean;
  readonly version: number | null;
  readonly hash: string | null;
  readonly error: { code: ErrorCode; message: string } | null;
}

const MAX_DEADLINE_MS = 30 * 24 * 3600_000;

const collect = (value: string, previous: string[]) => [...previous, value];

const ENV_HELP = `
Environment:
  HOTLINE_HOME                 where authority.key and the authority/ records live (default ~/.hotline)
  HOTLINE_AUTHORITY_PASSPHRASE unlocks authority.key (or ..._FILE naming a file holding it; else HOTLINE_PASSPHRASE(_FILE);
                               asked on a terminal when unset); a new key's passphrase: 12+ characters, 4 or more unrelated words
  HOTLINE_RELAY                relays to publish to, comma-separated ws:// URLs`;

export function registerAuthorityCommands(program: Command): void {
  registerAuthority(program);
  registerRoster(program);
  registerCharter(program);
}

function registerAuthority(program: Command): void {
  const authority = program
    .command('authority')
    .description("a state authority's own keys (own keyfile authority.key and passphrase; works offline)")
    .addHelpText('after', ENV_HELP);

  authority
    .command('init')
    .description("create this state's authority key in HOTLINE_HOME (authority.key, encrypted with the passphrase); no relay needed")
    .requiredOption('--state <code>', 'the state this authority speaks for, e.g. CN')
    .option('--name <name>', 'how the authority is named, e.g. "CN national CERT" (default "<STATE> state authority")')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  HOTLINE_HOME=~/.hotline-authority hotline authority init --state CN --name "CN national CERT"')
    .action(async (opts: JsonOption & { state: string; name?: string }) => {
      try {
        await initCrypto();
        const home = hotlineHome();
        if (authorityExists(home)) {
          throw new HotlineError('CONFLICT', `${home} already holds a state authority key (authority.key), and a state has one: nothing to do; see it with hotline authority whoami, or set HOTLINE_HOME to another folder`);
        }
        const state = opts.state.trim().toUpperCase();
        const name = (opts.name ?? `${state} state authority`).trim();
        const created = createAuthority(home, await authorityPassphrase('create'), state, name, Date.now());
        const fp = fingerprint(created.identity.kid);
        output(opts, { kid: created.identity.kid, fingerprint: fp, state, name, home }, () =>
          [
            `created the state authority of ${state} ("${name}") in ${home}`,
            `  key id       ${created.identity.kid}`,
            `  fingerprint  ${fp}`,
            `next: hand this fingerprint in person to ${state}'s PoCs (they join with --authority "${fp}"), and read it to the other state's authority when you agree a channel charter`,
          ].join('\n'),
        );
      } catch (e) {
        fail('authority init', e, !!opts.json);
      }
    });

  authority
    .command('whoami')
    .description("this authority: key id, fingerprint, state, name (opens authority.key, so the fingerprint is the key's own)")
    .option('--json', 'machine-readable output')
    .action(async (opts: JsonOption) => {
      try {
        const a = await openOwnAuthority();
        const fp = fingerprint(a.identity.kid);
        output(opts, { kid: a.identity.kid, fingerprint: fp, state: a.state, name: a.name }, () =>
          [`${a.name} — state authority of ${a.state}`, `  key id       ${a.identity.kid}`, `  fingerprint  ${fp}`, `  since        ${utc(a.createdAt)}`].join('\n'),
        );
      } catch (e) {
        fail('authority whoami', e, !!opts.json);
      }
    });
}

function registerRoster(program: Command): void {
  const roster = program
    .command('roster')
    .description("the state authority signs its state's roster: who may send and receive for the state, under which name and role")
    .addHelpText('after', ENV_HELP);

  const editing = (cmd: Command) =>
    cmd
      .option('--out <file>', 'also write the signed roster to FILE (to carry to a relay by hand)')
      .option('--offline', 'sign and keep it, but do not publish it to the relays')
      .option('--relay <urls>', 'relays to publish to, comma-separated (default HOTLINE_RELAY)')
      .option('--json', 'machine-readable output');

  editing(
    roster
      .command('add')
      .description("sign a new roster version with KEYID on it as NAME and ROLE (again for an existing key: a new name or role)")
      .argument('<keyid>', "the member's key id (from their `hotline whoami`; compare the fingerprint with them in person)")
      .requiredOption('--name <name>', 'the name both sides will see, e.g. "CN CERT duty officer"')
      .requiredOption('--role <role>', 'poc, alternate or reviewer'),
  )
    .addHelpText('after', '\nExample:\n  hotline roster add 3f9K...Qw --name "CN CERT duty officer" --role poc')
    .action(async (kid: string, opts: PublishOptions & { name: string; role: string; out?: string; offline?: boolean }) => {
      try {
        const a = await openOwnAuthority();
        const edit = addRosterMember(a, newestRoster(a.home, a.state, a.identity.kid), { kid, name: opts.name, role: opts.role }, Date.now());
        await finishRosterEdit(a, edit, opts);
      } catch (e) {
        fail('roster add', e, !!opts.json);
      }
    });

  editing(
    roster
      .command('remove')
      .description('sign a new roster version without KEYID (a revocation: once published, the key has no standing in any channel)')
      .argument('<keyid>', `the member's key id, or its first ${MIN_KID_PREFIX}+ characters`),
  ).action(async (kid: string, opts: PublishOptions & { out?: string; offline?: boolean }) => {
    try {
      const a = await openOwnAuthority();
      const edit = removeRosterMember(a, newestRoster(a.home, a.state, a.identity.kid), kid, Date.now());
      await finishRosterEdit(a, edit, opts);
    } catch (e) {
      fail('roster remove', e, !!opts.json);
    }
  });

  roster
    .command('show')
    .description("an authority: the newest roster it signed. A PoC: the rosters it verified against its pinned authority (refreshed from the relay unless --offline)")
    .argument('[state]', "the state (an authority keeps its own only; a PoC sees both parties of its channels)")
    .option('--offline', 'a PoC: show what is verified locally without contacting the relay')
    .option('--relay <url>', 'a PoC: relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (state: string | undefined, opts: JsonOption & { offline?: boolean; relay?: string }) => {
      try {
        if (!authorityExists(hotlineHome()) && keystoreExists(hotlineHome())) {
          await showVerifiedRosters(state?.trim().toUpperCase(), opts);
          return;
        }
        const a = await openOwnAuthority();
        if (state !== undefined && state.trim().toUpperCase() !== a.state) {
          throw new HotlineError('NOT_FOUND', `this is ${a.state}'s authority; it keeps ${a.state}'s roster only (a PoC sees the other state's roster with its own HOTLINE_HOME)`);
        }
        const doc = newestRoster(a.home, a.state, a.identity.kid);
        if (!doc) {
          output(opts, { state: a.state, version: 0, hash: null, members: [] }, () => `${a.state} has no roster yet: add the first member with hotline roster add KEYID --name NAME --role poc`);
          return;
        }
        output(opts, rosterJson(doc), () => [`${a.state} roster v${doc.roster.version}, signed ${utc(doc.roster.issuedAt)}`, `  hash  ${rosterHash(doc.roster)}`, ...memberLines(doc.roster.members)].join('\n'));
      } catch (e) {
        fail('roster show', e, !!opts.json);
      }
    });

  roster
    .command('publish')
    .description('post a signed roster file to the relays (no keys needed; each relay checks the signature itself)')
    .argument('<file>', 'a roster signed with hotline roster add|remove (--out FILE, or HOTLINE_HOME/authority/rosters/…)')
    .option('--relay <urls>', 'relays to publish to, comma-separated (default HOTLINE_RELAY)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: PublishOptions) => {
      try {
        await initCrypto();
        const loose = parseRoster(file, readDocument(file));
        const doc = verifyRoster(loose, { authority: loose.roster.authority });
        const targets = publishTargets(opts.relay);
        if (targets.length === 0) throw new HotlineError('BAD_INPUT', 'no relay to publish to: set HOTLINE_RELAY (comma-separated ws:// URLs) or pass --relay');
        const published = await publish(targets, 'rosters', rosterChainTo(hotlineHome(), doc), () => null);
        const r = doc.roster;
        output(opts, { state: r.state, version: r.version, hash: rosterHash(r), published }, () => [`${r.state} roster v${r.version}`, ...publicationLines(published)].join('\n'));
        requireAllPublished(published, `roster ${r.state} v${r.version}`, `hotline roster publish ${file}`);
      } catch (e) {
        fail('roster publish', e, !!opts.json);
      }
    });
}

function registerCharter(program: Command): void {
  const charter = program
    .command('charter')
    .description("a channel's charter (deadlines, escalation, directors, reviewers, time tolerance), signed by both states' authorities")
    .addHelpText(
      'after',
      `
The ceremony:
  1. A's authority:  hotline charter propose A-B --peer <B's authority key id> [--deadline FLASH=2m]...
     (writes charter-A-B-v1.json, signed by A; compare fingerprints with B's authority by voice)
  2. B's authority:  hotline charter sign charter-A-B-v1.json --peer-fingerprint "<A's fingerprint>"
  3. the relay operator (version 1 opens the channel):  hotline charter publish charter-A-B-v1.json
${ENV_HELP}
  HOTLINE_ADMIN_TOKEN          the relay operator's admin token (version 1 only; else --token-file or HOTLINE_DATA/admin.token)`,
    );

  charter
    .command('propose')
    .description('sign the first (or next) version of the charter of channel A-B as one of its two authorities, for the other to sign')
    .argument('<channel>', 'the channel, A-B: two state codes, one of them this authority\'s')
    .option('--peer <kid>', "the other state's authority key id (required for version 1; later versions keep the authorities)")
    .option('--deadline <LEVEL=DURATION>', 'acknowledgement deadline of a level, e.g. FLASH=2m (repeatable; the others keep their defaults or previous values)', collect, [] as string[])
    .option('--director <kid>', 'a drill director both states accept (repeatable; replaces the previous list)', collect, [] as string[])
    .option('--reviewer <kid>', "a reviewer allowed to read the channel's timing records (repeatable; replaces the previous list)", collect, [] as string[])
    .option('--clear-directors', 'the new version names no drill directors')
    .option('--clear-reviewers', 'the new version names no reviewers')
    .option('--time-tolerance <duration>', 'how far a relay clock may be off before clients alarm, e.g. 2m (default 2m)')
    .option('--require-hybrid', 'every notice must wrap its key with X25519 and post-quantum ML-KEM-768; clients refuse any that does not')
    .option('--allow-classical', 'drop the hybrid requirement of the previous version (X25519 alone accepted again)')
    .option('--templates <file|none>', 'bind this template catalogue (its hash) both states agreed on, e.g. catalogues/default.json; none unbinds')
    .option('--out <file>', 'where to write the proposal (default ./charter-A-B-v<N>.json)')
    .option('--force', 'overwrite the output file if it exists')
    .option('--replace', 'withdraw this authority\'s own proposal of the same version that the other side has not signed, and propose anew')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  hotline charter propose CN-US --peer 9hVx...3A --deadline FLASH=2m --deadline IMMEDIATE=20m')
    .action(
      async (
        channelInput: string,
        opts: JsonOption & {
          peer?: string;
          deadline: string[];
          director: string[];
          reviewer: string[];
          clearDirectors?: boolean;
          clearReviewers?: boolean;
          timeTolerance?: string;
          requireHybrid?: boolean;
          allowClassical?: boolean;
          templates?: string;
          out?: string;
          force?: boolean;
          replace?: boolean;
        },
      ) => {
        try {
          const { channel } = parseChannel(channelInput);
          const change = { ...termsChange(opts), ...(opts.templates !== undefined ? { templates: boundCatalogueHash(opts.templates) } : {}) };
          const a = await openOwnAuthority();
          const held = newestSignedCharter(a.home, channel);
          const pending = charterVersions(a.home, channel).find((d) => d.charter.version === (held?.charter.version ?? 0) + 1) ?? null;
          if (pending && !opts.replace) {
            const waiting = missingCharterSignatures(pending).join(' and ');
            throw new HotlineError(
              'BAD_INPUT',
              `this authority already proposed ${channel} v${pending.charter.version} (${utc(pending.charter.issuedAt)}), still waiting for ${waiting}'s signature here: if ${waiting} signed it, record the signed file with hotline charter publish FILE; to withdraw it and propose again, pass --replace`,
            );
          }
          const doc = proposeCharter(a, channel, opts.peer?.trim() ?? null, held?.charter ?? null, change, Date.now());
          const c = doc.charter;
          const out = opts.out ?? `charter-${channel}-v${c.version}.json`;
          if (fs.existsSync(out) && !opts.force) {
            throw new HotlineError('BAD_INPUT', `${out} already exists (an earlier proposal, or a charter the other side signed?): keep it, and pass --out FILE, or --force to overwrite it`);
          }
          writeDocument(path.resolve(out), doc);
          const kept = saveCharter(a.home, doc);
          const other = otherParty(c, a.state);
          const peerKid = c.authorities[other] as string;
          const ownFp = fingerprint(a.identity.kid);
          const next = `hotline charter sign ${out} --peer-fingerprint "${ownFp}"`;
          output(
            opts,
            { channel, version: c.version, hash: charterHash(c), file: out, kept, peer: { state: other, kid: peerKid, fingerprint: fingerprint(peerKid) }, fingerprint: ownFp, next, replaced: pending !== null },
            () =>
              [
                `proposed ${channel} v${c.version}, signed by ${a.state} (this authority); it takes effect once ${other}'s authority signs it`,
                `  file         ${out}`,
                `  hash         ${charterHash(c)}`,
                pending ? `  replaces     this authority's earlier proposal of v${c.version} (${utc(pending.charter.issuedAt)})` : '',
                `  ${other} authority  fingerprint ${fingerprint(peerKid)}  (the one you expect: compare it with ${other}'s authority by voice)`,
                ...termsLines(c, held?.charter ?? null),
                `next: send ${out} to ${other}'s authority, read them this authority's fingerprint ${ownFp}, and have them run:`,
                `  ${next}`,
              ]
                .filter(Boolean)
                .join('\n'),
          );
        } catch (e) {
          fail('charter propose', e, !!opts.json);
        }
      },
    );

  charter
    .command('sign')
    .description("as the other authority: check a proposed charter against the proposer's fingerprint and the charter in force, then add this authority's signature")
    .argument('<file>', 'the proposal (charter-A-B-v<N>.json); it is written back fully signed')
    .requiredOption('--peer-fingerprint <fp>', "the proposing authority's fingerprint, as it read it to you out of band (phone, in person)")
    .option('--out <file>', 'write the signed charter here instead of back to FILE')
    .option('--publish', 'also post the signed charter to the relays (version 1 needs the relay operator\'s admin token)')
    .option('--relay <urls>', 'relays to publish to, comma-separated (default HOTLINE_RELAY)')
    .option('--token-file <file>', 'file holding the relay admin token for version 1 (default HOTLINE_ADMIN_TOKEN(_FILE), else HOTLINE_DATA/admin.token)')
    .option('--data <dir>', 'relay data dir to read admin.token from (default HOTLINE_DATA or ./.hotline-relay)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  hotline charter sign charter-CN-US-v1.json --peer-fingerprint "04521 88713 20974 55102 73321 09846"')
    .action(async (file: string, opts: TokenOptions & { peerFingerprint: string; out?: string; publish?: boolean }) => {
      try {
        await initCrypto();
        const proposal = parseCharter(file, readDocument(file));
        const publishing = opts.publish ? charterPublishing(proposal.charter, opts) : null;
        const a = await openOwnAuthority();
        const held = newestSignedCharter(a.home, proposal.charter.channel);
        const doc = countersignCharter(a, proposal, opts.peerFingerprint, held);
        const c = doc.charter;
        const out = opts.out ?? file;
        writeDocument(path.resolve(out), doc);
        const kept = saveCharter(a.home, doc);
        const published = publishing ? await publish(publishing.targets, 'charters', charterChainTo(a.home, doc), charterToken(publishing.token)) : null;
        const proposer = otherParty(c, a.state);
        output(opts, { ...charterJson(doc, out), kept, published }, () =>
          [
            `signed ${c.channel} v${c.version} for ${a.state}; it now carries both authorities' signatures`,
            `  file         ${out}`,
            `  hash         ${charterHash(c)}`,
            `  ${proposer} authority  fingerprint ${fingerprint(c.authorities[proposer] as string)}  (matches the one you were given)`,
            ...termsLines(c, held?.charter ?? null),
            ...(published
              ? publicationLines(published)
              : [`next: send ${out} back to ${proposer}'s authority; publish it with hotline charter publish ${out}${c.version === 1 ? " (version 1: the relay operator, with the relay's admin token)" : ''}`]),
          ].join('\n'),
        );
        if (published) requireAllPublished(published, `charter ${c.channel} v${c.version}`, `hotline charter publish ${out}`);
      } catch (e) {
        fail('charter sign', e, !!opts.json);
      }
    });

  charter
    .command('publish')
    .description('post a charter signed by both authorities to the relays (no authority keys needed: the relay operator can run it)')
    .argument('<file>', 'the fully signed charter file')
    .option('--relay <urls>', 'relays to publish to, comma-separated (default HOTLINE_RELAY)')
    .option('--token-file <file>', 'file holding the relay admin token for version 1, which opens the channel (default HOTLINE_ADMIN_TOKEN(_FILE), else HOTLINE_DATA/admin.token)')
    .option('--data <dir>', 'relay data dir to read admin.token from (default HOTLINE_DATA or ./.hotline-relay)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nIn the HOTLINE_HOME of the authority that proposed it, it also records the countersigned charter, so that its next proposal extends it.')
    .action(async (file: string, opts: TokenOptions) => {
      try {
        await initCrypto();
        const loose = parseCharter(file, readDocument(file));
        const missing = missingCharterSignatures(loose);
        if (missing.length) throw new HotlineError('TRUST_INVALID', `${file} lacks the signature of ${missing.join(' and ')}'s authority: have it signed with hotline charter sign first`);
        const doc = verifyCharter(loose);
        const recorded = recordCountersigned(doc);
        if (recorded && publishTargets(opts.relay).length === 0) {
          throw new HotlineError('BAD_INPUT', `recorded ${doc.charter.channel} v${doc.charter.version} in ${recorded}, but there is no relay to publish to: set HOTLINE_RELAY (comma-separated ws:// URLs) or pass --relay`);
        }
        const { targets, token } = charterPublishing(doc.charter, opts);
        const published = await publish(targets, 'charters', charterChainTo(hotlineHome(), doc), charterToken(token));
        const c = doc.charter;
        output(opts, { channel: c.channel, version: c.version, hash: charterHash(c), recorded, published }, () =>
          [`${c.channel} charter v${c.version}`, recorded ? `  recorded     ${recorded}` : '', ...publicationLines(published)].filter(Boolean).join('\n'),
        );
        requireAllPublished(published, `charter ${c.channel} v${c.version}`, `hotline charter publish ${file}`);
      } catch (e) {
        fail('charter publish', e, !!opts.json);
      }
    });

  charter
    .command('show')
    .description("a charter's terms, version, hash, both authorities' fingerprints and which signatures it carries")
    .argument('<channel-or-file>', "A-B (the newest version this authority holds) or a charter file")
    .option('--json', 'machine-readable output')
    .action(async (what: string, opts: JsonOption) => {
      try {
        await initCrypto();
        const { doc, source } = charterToShow(what);
        const c = doc.charter;
        const status = signatureStatus(doc);
        output(opts, charterJson(doc, source), () =>
          [
            `${c.channel} charter v${c.version}, issued ${utc(c.issuedAt)} — ${standing(status)}`,
            `  source       ${source}`,
            `  hash         ${charterHash(c)}`,
            `  previous     ${c.prev ?? 'none (version 1)'}`,
            ...Object.entries(c.authorities).map(([state, kid]) => `  ${state} authority  fingerprint ${fingerprint(kid)}  signature ${status[state] ?? 'missing'}\n               key ${kid}`),
            ...termsLines(c, null),
          ].join('\n'),
        );
      } catch (e) {
        fail('charter show', e, !!opts.json);
      }
    });
}

async function openOwnAuthority(): Promise<Authority> {
  await initCrypto();
  const home = hotlineHome();
  if (!authorityExists(home)) {
    throw new HotlineError('NO_AUTHORITY', `no state authority key in ${home}: run \`hotline authority init --state CODE\` first (or set HOTLINE_HOME)`);
  }
  return openAuthority(home, await authorityPassphrase('unlock'));
}

/** Relays named by --relay or HOTLINE_RELAY; none when neither is set (publishing never falls back to a default). */
function publishTargets(flag?: string): string[] {
  const raw = flag ?? process.env.HOTLINE_RELAY ?? '';
  return raw
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean)
    .map(normaliseRelayUrl);
}

/**
 * Where a charter goes and with which token. Only version 1 carries the admin token (it opens the channel on the
 * relay); each relay has its own, so version 1 goes to one relay at a time rather than handing one relay's token
 * to another.
 */
function charterPublishing(c: CharterBody, opts: TokenOptions): { targets: string[]; token: string | null } {
  const targets = publishTargets(opts.relay);
  if (targets.length === 0) throw new HotlineError('BAD_INPUT', 'no relay to publish to: set HOTLINE_RELAY (comma-separated ws:// URLs) or pass --relay');
  if (c.version !== 1) return { targets, token: null };
  const token = knownAdminToken(opts);
  if (token !== null && targets.length > 1) {
    throw new HotlineError(
      'BAD_INPUT',
      `version 1 opens ${c.channel} with each relay's own admin token: publish to one relay at a time (--relay URL --token-file FILE), so that no relay sees another's token`,
    );
  }
  return { targets, token };
}

/** The admin token goes with version 1 only: later versions need none, and a relay must not see a token it does not hold. */
function charterToken(token: string | null): (doc: SignedCharter) => string | null {
  return (doc) => (doc.charter.version === 1 ? token : null);
}

function knownAdminToken(opts: TokenOptions): string | null {
  try {
    return adminToken({ ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}), ...(opts.data ? { data: opts.data } : {}) });
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'UNAUTHORIZED') return null;
    throw cause;
  }
}

/**
 * Posts the newest document of `chain` (oldest first, ending with the one to publish) to each relay. A relay that
 * answers TRUST_FORK may only have missed versions in between: it is then handed the chain from the start, each
 * version it already holds or cannot take skipped until one lands, and every later one must land.
 */
async function publish<D extends SignedRoster | SignedCharter>(
  targets: readonly string[],
  kind: 'rosters' | 'charters',
  chain: readonly D[],
  tokenFor: (doc: D) => string | null,
): Promise<Publication[]> {
  const newest = chain.at(-1);
  if (!newest) throw new HotlineError('INTERNAL', 'nothing to publish');
  const post = async (url: string, doc: D): Promise<Publication> => {
    try {
      const r = await relayRequest<{ version?: number; hash?: string }>(httpUrlOf(url), 'POST', `/v1/trust/${kind}`, tokenFor(doc), doc);
      return { url, ok: true, version: r.version ?? null, hash: r.hash ?? null, error: null };
    } catch (cause) {
      const error = toHotlineError(cause);
      return { url, ok: false, version: null, hash: null, error: { code: error.code, message: error.message } };
    }
  };
  return Promise.all(
    targets.map(async (url) => {
      const first = await post(url, newest);
      if (first.ok || first.error?.code !== 'TRUST_FORK' || chain.length < 2) return first;
      let landed = false;
      for (const doc of chain) {
        const r = await post(url, doc);
        if (r.ok) landed = true;
        else if (landed) return r;
        if (doc === newest) return r.ok ? r : first;
      }
      return first;
    }),
  );
}

function publicationLines(published: readonly Publication[]): string[] {
  return published.map((p) => (p.ok ? `  published    ${p.url} (v${p.version ?? '?'})` : `  NOT published ${p.url}: ${p.error?.message ?? 'failed'} [${p.error?.code ?? 'INTERNAL'}]`));
}

/** After the output is printed: an error (exit ≠ 0) when any relay refused or could not be reached. */
function requireAllPublished(published: readonly Publication[], what: string, retry: string): void {
  const failed = published.filter((p) => !p.ok);
  const first = failed[0];
  if (!first?.error) return;
  const ok = published.length - failed.length;
  throw new HotlineError(
    first.error.code,
    `${what} was not published to ${failed.map((p) => p.url).join(', ')} (${first.error.message})${ok ? `; ${ok} other relay(s) took it` : ''}; retry with ${retry}`,
  );
}

async function finishRosterEdit(a: Authority, edit: RosterEdit, opts: PublishOptions & { out?: string; offline?: boolean }): Promise<void> {
  const { doc, member } = edit;
  const r = doc.roster;
  const kept = saveRoster(a.home, doc);
  if (opts.out) writeDocument(path.resolve(opts.out), doc);
  const targets = opts.offline ? [] : publishTargets(opts.relay);
  const published = targets.length ? await publish(targets, 'rosters', rosterChainTo(a.home, doc), () => null) : [];
  const file = opts.out ?? kept;
  const what =
    edit.outcome === 'added'
      ? `added "${member.name}" (${member.role})`
      : edit.outcome === 'removed'
        ? `removed "${member.name}" (${member.role})`
        : `changed "${edit.before?.name}" (${edit.before?.role}) to "${member.name}" (${member.role})`;
  const notPublished = opts.offline
    ? `not published (--offline): publish it with HOTLINE_RELAY=ws://… hotline roster publish ${file}`
    : targets.length === 0
      ? opts.out
        ? `not published (no HOTLINE_RELAY): carry ${opts.out} to the relay and run hotline roster publish ${opts.out}`
        : `not published (no HOTLINE_RELAY): the signed roster is in ${kept}; publish it with HOTLINE_RELAY=ws://… hotline roster publish ${kept}`
      : '';
  output(opts, { ...rosterJson(doc), change: edit.outcome, member: { ...member, fingerprint: fingerprint(member.kid) }, kept, out: opts.out ?? null, published }, () =>
    [
      `signed ${r.state}'s roster v${r.version}: ${what}`,
      `  key          ${member.kid}`,
      `  fingerprint  ${fingerprint(member.kid)}${edit.outcome === 'removed' ? '' : '  (compare it with the one the member reads from `hotline whoami`)'}`,
      `  hash         ${rosterHash(r)}`,
      `  members      ${r.members.length}`,
      `  kept         ${kept}`,
      opts.out ? `  written      ${opts.out}` : '',
      ...publicationLines(published),
      notPublished,
    ]
      .filter(Boolean)
      .join('\n'),
  );
  requireAllPublished(published, `roster ${r.state} v${r.version}`, `hotline roster publish ${file}`);
}

function rosterJson(doc: SignedRoster): Record<string, unknown> {
  const r = doc.roster;
  return {
    state: r.state,
    version: r.version,
    hash: rosterHash(r),
    prev: r.prev,
    issuedAt: r.issuedAt,
    authority: { kid: r.authority, fingerprint: fingerprint(r.authority) },
    members: r.members.map((m) => ({ ...m, fingerprint: fingerprint(m.kid) })),
  };
}

/** A PoC's view: the rosters its client verified (chains checked against its pinned authority and the charters it signed). */
async function showVerifiedRosters(state: string | undefined, opts: JsonOption & { offline?: boolean; relay?: string }): Promise<void> {
  const show = (client: HotlineClient) => {
    const rosters = client.trustStore.rosters().filter((r) => state === undefined || r.roster.state === state);
    if (state !== undefined && rosters.length === 0) throw new HotlineError('NOT_FOUND', `no verified roster of ${state} here: it is shown once your authority's charter names ${state}'s authority and the relay serves it`);
    output(opts, { rosters: rosters.map(rosterJson) }, () =>
      rosters.length
        ? rosters.map((doc) => [`${doc.roster.state} roster v${doc.roster.version} (verified), signed ${utc(doc.roster.issuedAt)} by authority ${fingerprint(doc.roster.authority)}`, `  hash  ${rosterHash(doc.roster)}`, ...memberLines(doc.roster.members)].join('\n')).join('\n\n')
        : 'no verified roster yet: your authority adds you with `hotline roster add`, and the charter of your channel must be installed on the relay',
    );
  };
  if (opts.offline) {
    const id = await openIdentity();
    const client = new HotlineClient({ keystore: id.keystore, profile: id.profile, relays: [], reconnect: false });
    try {
      show(client);
    } finally {
      client.close();
    }
    return;
  }
  await withClient({ relay: opts.relay }, async (client) => {
    await client.refreshTrust();
    show(client);
  });
}

function memberLines(members: readonly RosterMember[]): string[] {
  if (members.length === 0) return ['  no members'];
  return members.map((m) => `  ${m.role.padEnd(9)} ${m.name}\n            key ${m.kid}\n            fingerprint ${fingerprint(m.kid)}`);
}

/** The hash a charter binds for `--templates FILE` (checked: BAD_CATALOGUE names line and field), or null for none. */
function boundCatalogueHash(file: string): string | null {
  if (file === 'none') return null;
  return catalogueHash(parseCatalogue(fs.readFileSync(file, 'utf8')));
}

function termsChange(opts: {
  deadline: string[];
  director: string[];
  reviewer: string[];
  clearDirectors?: boolean;
  clearReviewers?: boolean;
  timeTolerance?: string;
  requireHybrid?: boolean;
  allowClassical?: boolean;
}): CharterTermsChange {
  if (opts.requireHybrid && opts.allowClassical) throw new HotlineError('BAD_INPUT', 'give either --require-hybrid or --allow-classical');
  const deadlines: Partial<Record<Level, number>> = {};
  for (const d of opts.deadline) {
    const [level, ms] = parseDeadlineOverride(d);
    deadlines[level] = ms;
  }
  if (opts.clearDirectors && opts.director.length) throw new HotlineError('BAD_INPUT', 'give either --director or --clear-directors');
  if (opts.clearReviewers && opts.reviewer.length) throw new HotlineError('BAD_INPUT', 'give either --reviewer or --clear-reviewers');
  for (const [level, ms] of Object.entries(deadlines)) {
    if (ms < 100 || ms > MAX_DEADLINE_MS) throw new HotlineError('BAD_INPUT', `--deadline ${level}: between 100ms and 30d, not ${formatDuration(ms)}`);
  }
  const tolerance = opts.timeTolerance?.trim();
  const toleranceMs = tolerance === undefined ? null : tolerance === '0' ? 0 : parseDuration(tolerance);
  if (toleranceMs !== null && toleranceMs > trustLimits.maxTimeToleranceMs) {
    throw new HotlineError('BAD_INPUT', `--time-tolerance: at most ${formatDuration(trustLimits.maxTimeToleranceMs)} (a relay clock off by more is not a clock problem), not ${formatDuration(toleranceMs)}`);
  }
  return {
    deadlines,
    directors: opts.clearDirectors ? [] : opts.director.length ? opts.director.map((k) => k.trim()) : null,
    reviewers: opts.clearReviewers ? [] : opts.reviewer.length ? opts.reviewer.map((k) => k.trim()) : null,
    timeTolerance: toleranceMs,
    ...(opts.requireHybrid ? { hybridWrap: 'required' as const } : opts.allowClassical ? { hybridWrap: 'optional' as const } : {}),
  };
}

function otherParty(c: CharterBody, own: string): string {
  return Object.keys(c.authorities).find((s) => s !== own) ?? own;
}

/** The terms as a person reads them; with `previous`, what changed against it. */
function termsLines(c: CharterBody, previous: CharterBody | null): string[] {
  const people = (kids: readonly string[]) => (kids.length ? kids.map((k) => `${k.slice(0, 8)}… (${fingerprint(k)})`).join('\n               ') : 'none');
  const lines = [
    `  deadlines    ${levels.map((l) => `${l} ${formatDuration(c.deadlines[l])}`).join(' · ')}`,
    `  escalation   ${c.escalation.map((s) => `${s.action} at ${s.atPercent}%`).join(' · ')}`,
    `  directors    ${people(c.directors)}`,
    `  reviewers    ${people(c.reviewers)}`,
    `  templates    ${c.templates ?? 'none'}`,
    `  tolerance    relay clock within ${formatDuration(c.timeTolerance)}`,
    `  key wrap     ${c.hybridWrap === 'required' ? 'hybrid X25519 + ML-KEM-768 required' : 'hybrid when the recipient\'s key allows; X25519 alone accepted'}`,
  ];
  if (previous) {
    const changes: string[] = [];
    for (const l of levels) if (previous.deadlines[l] !== c.deadlines[l]) changes.push(`${l} deadline ${formatDuration(previous.deadlines[l])} → ${formatDuration(c.deadlines[l])}`);
    if (JSON.stringify(previous.escalation) !== JSON.stringify(c.escalation)) changes.push('escalation policy');
    for (const [what, before, after] of [['director', previous.directors, c.directors], ['reviewer', previous.reviewers, c.reviewers]] as const) {
      for (const k of after) if (!before.includes(k)) changes.push(`+${what} ${k.slice(0, 8)}…`);
      for (const k of before) if (!after.includes(k)) changes.push(`−${what} ${k.slice(0, 8)}…`);
    }
    if (previous.timeTolerance !== c.timeTolerance) changes.push(`tolerance ${formatDuration(previous.timeTolerance)} → ${formatDuration(c.timeTolerance)}`);
    if (previous.templates !== c.templates) changes.push('template catalogue');
    if ((previous.hybridWrap === 'required') !== (c.hybridWrap === 'required')) changes.push(c.hybridWrap === 'required' ? 'hybrid wrapping now required' : 'hybrid wrapping no longer required');
    lines.push(`  changes from v${previous.version}: ${changes.length ? changes.join('; ') : 'none'}`);
  }
  return lines;
}

function standing(status: Record<string, SignatureStatus>): string {
  const entries = Object.entries(status);
  if (entries.every(([, s]) => s === 'valid')) return 'signed by both authorities';
  const bad = entries.filter(([, s]) => s === 'invalid').map(([state]) => state);
  if (bad.length) return `DOES NOT VERIFY: ${bad.join(' and ')}'s signature is wrong; do not use it`;
  const missing = entries.filter(([, s]) => s === 'missing').map(([state]) => state);
  return `a proposal: waiting for ${missing.join(' and ')}'s signature`;
}

function charterJson(doc: SignedCharter, source: string): Record<string, unknown> {
  const c = doc.charter;
  const status = signatureStatus(doc);
  return {
    channel: c.channel,
    version: c.version,
    hash: charterHash(c),
    prev: c.prev,
    issuedAt: c.issuedAt,
    authorities: Object.fromEntries(Object.entries(c.authorities).map(([state, kid]) => [state, { kid, fingerprint: fingerprint(kid) }])),
    signatures: status,
    complete: Object.values(status).every((s) => s === 'valid'),
    deadlines: c.deadlines,
    escalation: c.escalation,
    directors: c.directors,
    reviewers: c.reviewers,
    templates: c.templates,
    timeTolerance: c.timeTolerance,
    hybridWrap: c.hybridWrap === 'required' ? 'required' : 'optional',
    file: source,
  };
}

function charterToShow(what: string): { doc: SignedCharter; source: string } {
  if (fs.existsSync(what)) return { doc: parseCharter(what, readDocument(what)), source: what };
  let channel: string;
  try {
    channel = parseChannel(what).channel;
  } catch {
    throw new HotlineError('NOT_FOUND', `no file ${what}, and it is not a channel A-B`);
  }
  const home = hotlineHome();
  const doc = charterVersions(home, channel).at(-1);
  if (!doc) throw new HotlineError('NOT_FOUND', `no charter of ${channel} in ${home}/authority: propose one with hotline charter propose ${channel} --peer KID, or show a file`);
  return { doc, source: charterFile(home, channel, doc.charter.version) };
}

/**
 * In an authority's HOTLINE_HOME, a charter both signed goes on record when it completes this authority's own
 * proposal (the very same terms) or extends the newest charter of the channel on record (so the same two
 * authorities signed it); the next proposal then extends it. Neither needs the keys. Returns the path, or null.
 */
function recordCountersigned(doc: SignedCharter): string | null {
  const home = hotlineHome();
  if (!authorityExists(home)) return null;
  const c = doc.charter;
  const versions = charterVersions(home, c.channel);
  const same = versions.find((d) => d.charter.version === c.version);
  if (same && missingCharterSignatures(same).length === 0) return null;
  if (same && charterHash(same.charter) === charterHash(c)) return saveCharter(home, doc);
  const held = newestSignedCharter(home, c.channel);
  if (!held) return null;
  try {
    checkCharterExtends(held.charter, c);
  } catch {
    return null;
  }
  return saveCharter(home, doc);
}
