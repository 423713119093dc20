// `hotline check run`: a communication check ("ping test") of every PoC, or one state's, with who answered and when.
import type { Command } from 'commander';
import { formatDuration, HotlineError, parseDuration, stateCodeSchema } from '../../shared/index.ts';
import { adminRequest, type AdminOptions } from './admin-commands.ts';
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
    lines.push(`  ${t.state.padEnd(5)} ${t.role.padEnd(9)} ${t.name.padEnd(26)} ${verdict}`);
  }
  lines.push(`${s.answered} of ${s.targets.length} answered within ${formatDuration(s.withinMs)}; ${s.missing} did not`);
  return lines.join('\n');
}

export function registerCheckCommands(program: Command): void {
  const check = program.command('check').description('communication checks: is every PoC reachable and answering?');
  check
    .command('run')
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

  check
    .command('status')
    .description('the result of a communication check')
    .argument('<checkId>', 'the check id (chk-…)')
    .option('--relay <url>', 'relay URL')
    .option('--token-file <file>', 'file holding the admin token')
    .option('--data <dir>', 'relay data dir to read admin.token from')
    .option('--json', 'machine-readable output')
    .action(async (checkId: string, opts: AdminOptions) => {
      try {
        const status = await adminRequest<CheckStatusView>(opts, 'GET', `/checks/${encodeURIComponent(checkId.trim())}`);
        output(opts, status, () => checkTable(status));
      } catch (e) {
        fail('check status', e, !!opts.json);
      }
    });
}
