// `hotline admin …`: the relay operator's commands over HTTP with the admin token (invite, channel open, revoke, roster).
import { Option, type Command } from 'commander';
import { fingerprint, formatDuration, HotlineError, initCrypto, parseDeadlineOverride, parseDuration, parseLevel, roles, stateCodeSchema, type Level, type Role } from '../../shared/index.ts';
import { adminToken, fail, httpUrlOf, output, relayUrls } from './context.ts';
import { relayRequest } from './relay-http.ts';
import { utc } from './format.ts';

export interface AdminOptions {
  relay?: string;
  tokenFile?: string;
  data?: string;
  json?: boolean;
}

export async function adminRequest<T>(opts: AdminOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const base = httpUrlOf(relayUrls(opts.relay, null)[0] as string);
  return relayRequest<T>(base, method, `/v1/admin${path}`, adminToken({ ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}), ...(opts.data ? { data: opts.data } : {}) }), body);
}

/**
 * A `--token VALUE` someone still types from older docs: refused with what to use instead, not commander's "unknown
 * option". Secrets are never taken on the command line: argv is readable by every local user (/proc/PID/cmdline).
 * @example refuseTokenOption(cmd, '--token-file FILE or HOTLINE_ADMIN_TOKEN')
 */
export function refuseTokenOption(cmd: Command, instead: string): Command {
  return cmd.addOption(new Option('--token <token>', 'no longer accepted (secrets on the command line are visible to every local user)').hideHelp()).hook('preAction', (_self, action) => {
    const given = action.opts<{ token?: string; json?: boolean }>();
    if (given.token === undefined) return;
    const path: string[] = [];
    for (let c: Command | null = action; c?.parent; c = c.parent) path.unshift(c.name());
    fail(path.join(' '), new HotlineError('BAD_INPUT', `--token is no longer accepted: secrets on the command line are visible to every local user; use ${instead}`), !!given.json);
  });
}

export const ADMIN_TOKEN_INSTEAD = '--token-file FILE or HOTLINE_ADMIN_TOKEN';

function state(input: string): string {
  const code = input.trim().toUpperCase();
  if (!stateCodeSchema.safeParse(code).success) throw new HotlineError('BAD_INPUT', `"${input}" is not a state code (2–8 capitals, e.g. US, CN)`);
  return code;
}

function common(cmd: Command): Command {
  return refuseTokenOption(cmd, ADMIN_TOKEN_INSTEAD)
    .option('--relay <url>', 'relay URL (default HOTLINE_RELAY, else ws://127.0.0.1:7300)')
    .option('--token-file <file>', 'file holding the admin token (default HOTLINE_ADMIN_TOKEN or HOTLINE_ADMIN_TOKEN_FILE, else DIR/admin.token)')
    .option('--data <dir>', 'relay data dir to read admin.token from (default HOTLINE_DATA or ./.hotline-relay)')
    .option('--json', 'machine-readable output');
}

export function registerAdminCommands(program: Command): void {
  const admin = program
    .command('admin')
    .description("relay operator commands (need the relay's admin token)")
    .addHelpText('after', '\nThe admin token is never taken on the command line (every local user can read it there): --token-file FILE, HOTLINE_ADMIN_TOKEN or HOTLINE_ADMIN_TOKEN_FILE, else DIR/admin.token of --data DIR.');

  common(
    admin
      .command('invite')
      .description('a one-time invite code for a new PoC, alternate, reviewer or drill director of a state')
      .requiredOption('--state <code>', 'state code, e.g. US')
      .option('--role <role>', `one of ${roles.join(', ')}`, 'poc')
      .option('--name <name>', 'fix the display name of the invited person')
      .option('--expires <duration>', 'how long the invite stays valid', '24h'),
  ).action(async (opts: AdminOptions & { state: string; role: string; name?: string; expires: string }) => {
    try {
      if (!roles.includes(opts.role as Role)) throw new HotlineError('BAD_INPUT', `--role must be one of ${roles.join(', ')}`);
      const ttlMs = parseDuration(opts.expires);
      const r = await adminRequest<{ invite: string; state: string; role: string; expiresAt: number }>(opts, 'POST', '/invites', {
        state: state(opts.state),
        role: opts.role,
        name: opts.name ?? null,
        ttlMs,
      });
      output(opts, r, () => `${r.invite}\n  one-time invite for a ${r.role} of ${r.state}, valid until ${utc(r.expiresAt)}; hand it over privately: hotline join ${r.invite}`);
    } catch (e) {
      fail('admin invite', e, !!opts.json);
    }
  });

  const channel = admin.command('channel').description('bilateral channels');
  common(
    channel
      .command('open')
      .description('open the bilateral channel A-B, optionally overriding acknowledgement deadlines')
      .argument('<a>', 'first state code')
      .argument('<b>', 'second state code')
      .option('--deadline <LEVEL=DURATION>', 'override a level deadline, e.g. FLASH=2m (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[]),
  ).action(async (a: string, b: string, opts: AdminOptions & { deadline: string[] }) => {
    try {
      const deadlines: Partial<Record<Level, number>> = {};
      for (const d of opts.deadline) {
        const [level, ms] = parseDeadlineOverride(d);
        deadlines[level] = ms;
      }
      const r = await adminRequest<{ id: string; deadlines: Record<Level, number> }>(opts, 'POST', '/channels', { a: state(a), b: state(b), deadlines });
      output(opts, r, () =>
        [
          `opened channel ${r.id} on this relay`,
          ...(['FLASH', 'IMMEDIATE', 'PRIORITY', 'ROUTINE'] as const).map((l) => `  ${l.padEnd(9)} ack within ${formatDuration(r.deadlines[parseLevel(l)])}`),
          `note: ${r.id} carries no envelopes until both state authorities' charter is installed (hotline charter publish FILE); the charter's deadlines then replace these`,
        ].join('\n'),
      );
    } catch (e) {
      fail('admin channel open', e, !!opts.json);
    }
  });

  common(
    admin
      .command('revoke')
      .description('revoke a key: it can no longer connect, send or receive; its live connections are cut')
      .argument('<keyid>', 'the key id to revoke (see hotline admin roster)')
      .option('--reason <text>', 'recorded in the audit log'),
  ).action(async (kid: string, opts: AdminOptions & { reason?: string }) => {
    try {
      const r = await adminRequest<{ kid: string; revokedAt: number }>(opts, 'POST', '/revoke', { kid: kid.trim(), reason: opts.reason ?? null });
      output(opts, r, () => `revoked ${r.kid} at ${utc(r.revokedAt)}`);
    } catch (e) {
      fail('admin revoke', e, !!opts.json);
    }
  });

  common(admin.command('roster').description('states, their PoCs, roles and fingerprints; channels')).action(async (opts: AdminOptions) => {
    try {
      // Fingerprints are hashes of the key ids: the crypto library must be ready before the output is formatted.
      await initCrypto();
      const r = await adminRequest<{
        relay: { kid: string; fingerprint: string };
        states: { code: string; members: { kid: string; fingerprint: string; name: string; role: string; revokedAt: number | null }[] }[];
        channels: { id: string }[];
      }>(opts, 'GET', '/roster');
      output(opts, r, () =>
        [
          `relay ${r.relay.kid}  fingerprint ${fingerprint(r.relay.kid)}`,
          `channels: ${r.channels.map((c) => c.id).join(', ') || 'none'}`,
          ...r.states.flatMap((s) => [
            `${s.code}`,
            ...(s.members.length ? s.members : []).map(
              (m) => `  ${m.role.padEnd(9)} ${m.name.padEnd(24)} ${m.fingerprint}${m.revokedAt ? `  REVOKED ${utc(m.revokedAt)}` : ''}\n            ${m.kid}`,
            ),
          ]),
        ].join('\n'),
      );
    } catch (e) {
      fail('admin roster', e, !!opts.json);
    }
  });
}
