// `hotline init | join | whoami | contacts | trust`: this PoC's identity, its enrolment on a relay, and the contacts it trusts.
import type { Command } from 'commander';
import { join } from 'node:path';
import { fingerprint, HotlineError, initCrypto, joinResponseSchema, signStatement } from '../../shared/index.ts';
import { HistoryStore } from '../history.ts';
import { createKeystore, keystoreExists } from '../keystore.ts';
import { readProfile, writeProfile } from '../profile.ts';
import { trustContact } from '../trust/contacts.ts';
import { contactLine, type ContactKeyWrap } from './format.ts';
import { relayRequest } from './relay-http.ts';
import { fail, hotlineHome, httpUrlOf, openIdentity, output, passphrase, relayUrls, withClient } from './context.ts';


export function registerIdentityCommands(program: Command): void {
  program
    .command('init')
    .description('create this identity (Ed25519 key, prekey) in HOTLINE_HOME, encrypted with the passphrase')
    .requiredOption('--name <name>', 'how the other side will see you, e.g. "CN CERT duty officer"')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nThe passphrase comes from HOTLINE_PASSPHRASE, or the file HOTLINE_PASSPHRASE_FILE names, or is asked on a terminal.\n' +
        'A new one must be 12 or more characters and hard to guess (4 or more unrelated words); else WEAK_PASSPHRASE says why.',
    )
    .action(async (opts: { name: string; json?: boolean }) => {
      try {
        await initCrypto();
        const home = hotlineHome();
        if (keystoreExists(home)) throw new HotlineError('CONFLICT', `an identity already exists in ${home}; use another HOTLINE_HOME for a second one`);
        const name = opts.name.trim();
        if (!name) throw new HotlineError('BAD_INPUT', '--name must not be empty');
        const ks = createKeystore(home, await passphrase('create'), name, Date.now());
        writeProfile(home, { v: 1, kid: ks.identity.kid, name, state: null, role: null, relays: [] });
        const fp = fingerprint(ks.identity.kid);
        output(opts, { kid: ks.identity.kid, fingerprint: fp, name, home }, () =>
          [`created identity "${name}" in ${home}`, `  key id       ${ks.identity.kid}`, `  fingerprint  ${fp}`, 'next: hotline join INVITE (the invite comes from the relay operator)'].join('\n'),
        );
      } catch (e) {
        fail('init', e, !!opts.json);
      }
    });

  program
    .command('join')
    .description("register this identity with a relay under the invite's state and role")
    .argument('<invite>', 'one-time invite code from the relay operator (hotline admin invite)')
    .option('--relay <url>', 'relay URL (default: HOTLINE_RELAY, else ws://127.0.0.1:7300)')
    .option('--authority <fingerprint>', "your own state authority's fingerprint, as it handed it to you in person: only rosters and charters it signed are trusted")
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  hotline join HL-... --authority "04521 88713 20974 55102 73321 09846"')
    .action(async (invite: string, opts: { relay?: string; authority?: string; json?: boolean }) => {
      try {
        const id = await openIdentity();
        const pinned = opts.authority === undefined ? null : authorityPin(opts.authority);
        if (pinned && id.profile.authority && id.profile.authority.fingerprint !== pinned) {
          throw new HotlineError('CONFLICT', 'this identity already pinned another state authority; a PoC serves one state: make a new HOTLINE_HOME for another');
        }
        const url = relayUrls(opts.relay, null)[0] as string;
        const name = id.profile.name;
        const prekey = id.keystore.currentPrekey(Date.now());
        const sig = signStatement(id.keystore.identity, 'hotline-join-v1', { invite: invite.trim(), kid: id.keystore.identity.kid, name });
        const body = await relayRequest<unknown>(httpUrlOf(url), 'POST', '/v1/join', null, { invite: invite.trim(), kid: id.keystore.identity.kid, name, prekey, sig });
        const joined = joinResponseSchema.parse(body);
        if (id.profile.state && id.profile.state !== joined.state) {
          throw new HotlineError('CONFLICT', `this identity belongs to ${id.profile.state}; the invite was for ${joined.state}`);
        }
        const relays = [...id.profile.relays.filter((r) => r.url !== url), { url, kid: joined.relay }];
        const authority = pinned ? { fingerprint: pinned, kid: null } : (id.profile.authority ?? null);
        writeProfile(id.home, { ...id.profile, state: joined.state, role: joined.role, name: joined.name, relays, authority });
        const needsAuthority = authority === null && joined.role !== 'director';
        output(opts, { ...joined, url, authority: authority?.fingerprint ?? null }, () =>
          [
            `joined ${url} as ${joined.role} of ${joined.state} ("${joined.name}")`,
            `  relay key    ${joined.relay}`,
            `  relay fingerprint ${fingerprint(joined.relay)}  (compare with the operator)`,
            authority ? `  state authority pinned: ${groupDigits(authority.fingerprint)}` : '',
            needsAuthority ? 'note: no state authority pinned, so no roster or charter is trusted yet: join again with --authority FINGERPRINT' : '',
            `next: give your state authority your key id and fingerprint (hotline whoami) so that it adds you to ${joined.state}'s roster`,
          ]
            .filter(Boolean)
            .join('\n'),
        );
      } catch (e) {
        fail('join', e, !!opts.json);
      }
    });

  program
    .command('whoami')
    .description('this identity: key id, fingerprint, state, role, relays (no passphrase needed)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      try {
        await initCrypto();
        const home = hotlineHome();
        const profile = readProfile(home);
        if (!profile) throw new HotlineError('NO_IDENTITY', `no identity in ${home}: run \`hotline init --name NAME\` first`);
        const fp = fingerprint(profile.kid);
        output(opts, { kid: profile.kid, fingerprint: fp, name: profile.name, state: profile.state, role: profile.role, relays: profile.relays, home }, () =>
          [
            `${profile.name} — ${profile.role ?? 'not joined'}${profile.state ? ` of ${profile.state}` : ''}`,
            `  key id       ${profile.kid}`,
            `  fingerprint  ${fp}`,
            ...profile.relays.map((r) => `  relay        ${r.url}  (fingerprint ${fingerprint(r.kid)})`),
          ].join('\n'),
        );
      } catch (e) {
        fail('whoami', e, !!opts.json);
      }
    });

  program
    .command('contacts')
    .description("the PoCs of your channels with fingerprints and trust status (refreshed from the relay unless --offline)")
    .option('--offline', 'show what is pinned locally without contacting the relay')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (opts: { offline?: boolean; relay?: string; json?: boolean }) => {
      try {
        // --offline opens no identity (which would ready the crypto library); fingerprints still need it.
        await initCrypto();
        const home = hotlineHome();
        const keyWraps = new Map<string, ContactKeyWrap>();
        if (!opts.offline) {
          await withClient({ relay: opts.relay }, async (client) => {
            for (const e of await client.directory([])) keyWraps.set(e.kid, e.prekey === null ? null : e.prekey.kemPublicKey === undefined ? 'x25519' : 'hybrid');
          });
        }
        const history = new HistoryStore(join(home, 'history.db'));
        try {
          const contacts = history.contacts().map((c) => ({ ...c, fingerprint: fingerprint(c.kid), keyWrap: keyWraps.get(c.kid) ?? null }));
          output(opts, { contacts }, () =>
            contacts.length ? contacts.map((c) => contactLine(c, c.keyWrap)).join('\n') : 'no contacts yet (they appear once the relay lists PoCs of your channels)',
          );
        } finally {
          history.close();
        }
      } catch (e) {
        fail('contacts', e, !!opts.json);
      }
    });

  program
    .command('trust')
    .description('mark a contact verified after comparing its fingerprint with them out of band (phone, in person)')
    .argument('<keyid>', 'the contact key id (from hotline contacts)')
    .argument('<fingerprint>', 'the fingerprint they read to you, e.g. "30261 99746 23612 27036 61256 06001"')
    .option('--json', 'machine-readable output')
    .action(async (kid: string, fp: string, opts: { json?: boolean }) => {
      try {
        await initCrypto();
        const history = new HistoryStore(join(hotlineHome(), 'history.db'));
        try {
          const c = trustContact(history, kid.trim(), fp, Date.now());
          output(opts, { ...c, fingerprint: fingerprint(c.kid) }, () => `trusted ${c.name} (${c.state}) — key ${c.kid} is now verified`);
        } finally {
          history.close();
        }
      } catch (e) {
        fail('trust', e, !!opts.json);
      }
    });
}

/** A fingerprint as typed by a person (spaces, dashes allowed): its 30 digits, or BAD_INPUT. */
function authorityPin(typed: string): string {
  const digits = typed.replace(/[\s-]/g, '');
  if (!/^\d{30}$/.test(digits)) throw new HotlineError('BAD_INPUT', `"${typed}" is not a fingerprint: it has 30 digits, in six groups of five`);
  return digits;
}

function groupDigits(digits: string): string {
  return digits.replace(/(\d{5})(?=\d)/g, '$1 ');
}
