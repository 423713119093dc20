// `hotline check run`: a communication check ("ping test") of every PoC, or one state's, with who answered and when.
import type { Command } from 'commander';
import { formatDuration, HotlineError, parseDuration, stateCodeSchema } from '../../shared/index.ts';
import { ADMIN_TOKEN_INSTEAD, adminRequest, refuseTokenOption, type AdminOptions } from './admin-commands.ts';
import { fail, output } from './context.ts';
import { utc } from './format.ts';

interface CheckTarget {
  kid: string;
  state: string;
  role: string;
  name: string;
  receivedAt: number | null;
  ackedAt: number | null;
  answered: boolean;
  late: boolean;
}

export interface CheckStatusView {
  checkId: string;
  targetState: string | null;
  withinMs: number;
  startedAt: number;
  deadline: number;
  endedAt: number | null;
  targets: CheckTarget[];
  answered: number;
  missing: number;
}

/** Who a target is, in one phrase a duty officer can act on: name, state and role, and the start of the key id. */
function who(t: CheckTarget): string {
  return `${t.name} (${t.state} ${t.role}, key ${t.kid.slice(0, 8)}…)`;
}

/** Why a target counts as not answered: late, received but unanswered, or never received. */
function missedWhy(t: CheckTarget): string {
  if (t.late) return `answered LATE at ${utc(t.ackedAt)}`;
  if (t.receivedAt !== null) return `device received it at ${utc(t.receivedAt)}, the person did not answer`;
  return 'the device did not receive it (offline?)';
}

function checkTable(s: CheckStatusView): string {
  const lines = [`communication check ${s.checkId} of ${s.targetState ?? 'all states'} — started ${utc(s.startedAt)}, answers due by ${utc(s.deadline)}`];
  for (const t of s.targets) {
    const verdict = t.answered
      ? `answered after ${formatDuration((t.ackedAt ?? 0) - s.startedAt)} (${utc(t.ackedAt)})`
      : t.late
        ? `answered LATE at ${utc(t.ackedAt)}`
        : t.receivedAt !== null
          ? `device received it at ${utc(t.receivedAt)}, NO ANSWER from the person`
          : 'NO ANSWER — device did not receive it (offline?)';
    lines.push(`  ${t.state.padEnd(5)} ${t.role.padEnd(9)} ${t.name.padEnd(26)} ${t.kid.slice(0, 8)}  ${verdict}`);
  }
  const answered = s.targets.filter((t) => t.answered);
  const missed = s.targets.filter((t) => !t.answered);
  const open = s.endedAt === null && Date.now() <= s.deadline;
  lines.push(
    `${answered.length} of ${s.targets.length} answered within ${formatDuration(s.withinMs)}${answered.length ? ':' : ''}`,
    ...answered.map((t) => `  answered  ${who(t)} after ${formatDuration((t.ackedAt ?? 0) - s.startedAt)}, at ${utc(t.ackedAt)}`),
  );
  if (missed.length) {
    lines.push(`${missed.length} ${open ? 'not answered yet' : 'did not'}:`, ...missed.map((t) => `  ${open ? 'waiting ' : 'MISSING '}  ${who(t)} — ${missedWhy(t)}`));
  } else {
    lines.push('everyone answered');
  }
  return lines.join('\n');
}

/** A full check id, as the relay makes it and as a PoC must sign it. */
export const fullCheckIdPattern = /^chk-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A check id or its short form (chk- and at least 8 characters of it), as `check status` takes it. */
const checkIdOrPrefixPattern = /^chk-[0-9a-f][0-9a-f-]{7,35}$/;
export const checkIdForm = 'chk- and 36 characters, e.g. chk-01a23a83-696b-7c2f-80cc-a191a7646246';

/** A typed check id or prefix, lower-cased, or BAD_INPUT saying the expected form (never a raw pattern). */
export function typedCheckId(input: string): string {
  const id = input.trim().toLowerCase();
  if (!checkIdOrPrefixPattern.test(id)) throw new HotlineError('BAD_INPUT', `"${input}" is not a check id: ${checkIdForm}, or its start as check run prints it (chk- and 8 or more of those characters, e.g. chk-01a23a83-696b)`);
  return id;
}

export function registerCheckCommands(program: Command): void {
  const check = program.command('check').description('communication checks: is every PoC reachable and answering?');
  refuseTokenOption(check.command('run'), ADMIN_TOKEN_INSTEAD)
    .description('ping every PoC (or one state\'s): devices confirm receipt at once, people answer with `hotline ack CHECKID`')
    .option('--state <code>', 'only this state\'s PoCs and alternates')
    .option('--within <duration>', 'how long people have to answer', '10m')
    .option('--no-wait', 'start the check and return at once (see the result later with hotline check status)')
    .option('--relay <url>', 'relay URL (default HOTLINE_RELAY, else ws://127.0.0.1:7300)')
    .option('--token-file <file>', 'file holding the admin token (default HOTLINE_ADMIN_TOKEN or HOTLINE_ADMIN_TOKEN_FILE, else DIR/admin.token)')
    .option('--data <dir>', 'relay data dir to read admin.token from')
    .option('--json', 'machine-readable output (the final status)')
    .action(async (opts: AdminOptions & { state?: string; within: string; wait: boolean }) => {
      try {
        const withinMs = parseDuration(opts.within);
        const state = opts.state ? opts.state.trim().toUpperCase() : null;
        if (state !== null && !stateCodeSchema.safeParse(state).success) throw new HotlineError('BAD_INPUT', `"${opts.state}" is not a state code`);
        let status = await adminRequest<CheckStatusView>(opts, 'POST', '/checks', { state, withinMs });
        const total = status.targets.length;
        const progress = (s: CheckStatusView) => {
          const received = s.targets.filter((t) => t.receivedAt !== null).length;
          const line = `check ${s.checkId.slice(0, 17)}: ${received}/${total} devices received, ${s.answered}/${total} people answered, due ${utc(s.deadline)}`;
          if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
          else process.stderr.write(`${line}\n`);
        };
        if (opts.wait) {
          process.stderr.write(
            `check run: waits until every PoC has answered or the ${formatDuration(withinMs)} are up (by ${utc(status.deadline)}); ` +
              `PoCs answer from their own terminal with: hotline ack ${status.checkId}; Ctrl-C stops waiting (the check goes on: hotline check status ${status.checkId.slice(0, 17)})\n`,
          );
          let last = '';
          while (Date.now() <= status.deadline + 500 && status.answered < total) {
            const key = JSON.stringify(status.targets.map((t) => [t.receivedAt, t.ackedAt]));
            if (key !== last) progress(status);
            last = key;
            await new Promise((r) => setTimeout(r, 500));
            status = await adminRequest<CheckStatusView>(opts, 'GET', `/checks/${status.checkId}`);
          }
          progress(status);
          if (process.stderr.isTTY) process.stderr.write('\n');
        }
        output(opts, status, () => checkTable(status));
      } catch (e) {
        fail('check run', e, !!opts.json);
      }
    });

  refuseTokenOption(check.command('status'), ADMIN_TOKEN_INSTEAD)
    .description('the result of a communication check')
    .argument('<checkId>', 'the check id (chk-…), or its start as check run prints it (e.g. chk-01a23a83-696b)')
    .option('--relay <url>', 'relay URL')
    .option('--token-file <file>', 'file holding the admin token (default HOTLINE_ADMIN_TOKEN or HOTLINE_ADMIN_TOKEN_FILE, else DIR/admin.token)')
    .option('--data <dir>', 'relay data dir to read admin.token from')
    .option('--json', 'machine-readable output')
    .action(async (checkId: string, opts: AdminOptions) => {
      try {
        // The relay resolves a unique prefix (check run prints ids short); an ambiguous one is refused with the matches.
        const status = await adminRequest<CheckStatusView>(opts, 'GET', `/checks/${encodeURIComponent(typedCheckId(checkId))}`);
        output(opts, status, () => checkTable(status));
      } catch (e) {
        fail('check status', e, !!opts.json);
      }
    });
}
