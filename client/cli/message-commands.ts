// `hotline send | listen | inbox | history | ack | raise | reply`: what a duty officer does with notices.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { formatDuration, HotlineError, parseDuration, parseLevel, stateCodeSchema, type DrillMark, type Level } from '../../shared/index.ts';
import type { HotlineClient, SendResult } from '../hotline-client.ts';
import type { MessageRecord } from '../history.ts';
import { checkIdForm, fullCheckIdPattern, typedCheckId } from './check-commands.ts';
import { fail, output, withClient } from './context.ts';
import { parseFields } from './template-commands.ts';
import { ackLine, alarmBlock, deadlineText, drillBanner, levelTag, noticeBlock, openAlarmLine, receiptLine, relayEventLine, shortId, utc } from './format.ts';

interface SendOptions {
  to: string;
  level: string;
  subject?: string;
  drill?: string;
  relay?: string;
  json?: boolean;
  template?: string;
  field: string[];
  tlp?: string;
}

function readText(arg: string | undefined): string {
  if (arg === '-') return readFileSync(0, 'utf8');
  return arg ?? '';
}

function parseState(input: string): string {
  const code = input.trim().toUpperCase();
  if (!stateCodeSchema.safeParse(code).success) throw new HotlineError('UNKNOWN_STATE', `"${input}" is not a state code (2–8 capitals, e.g. US, CN)`);
  return code;
}

function parseDrill(input: string | undefined): DrillMark | null {
  if (input === undefined) return null;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(input)) throw new HotlineError('BAD_INPUT', '--drill takes a drill id (letters, digits, - and _)');
  return { drillId: input, inject: null };
}

function sentSummary(kind: string, level: Level | null, toState: string, r: SendResult, drill: DrillMark | null): string {
  const lines = [
    ...(drill ? [drillBanner(drill) as string] : []),
    `sent ${levelTag(level)} ${kind} ${shortId(r.id)} to ${toState}, encrypted to the ${r.recipients} roster member(s) of the channel:`,
    ...r.recipientList.map((m) => `    ${m.state}  ${m.name}  (${m.kid.slice(0, 8)}…)`),
    `  id ${r.id}`,
    `  accepted by the relay at ${utc(r.acceptedAt)}${r.receipts.length > 1 ? ` (${r.receipts.length} relays)` : ''}`,
  ];
  if (r.ackDeadline !== null) lines.push(`  ${deadlineText(r.ackDeadline, r.acceptedAt)}`);
  for (const f of r.failed) lines.push(`  warning: ${f.relay} did not accept it: ${f.message}`);
  return lines.join('\n');
}

function sendJson(r: SendResult, extra: Record<string, unknown> = {}) {
  return { id: r.id, acceptedAt: r.acceptedAt, ackDeadline: r.ackDeadline, channel: r.channel, recipients: r.recipients, recipientList: r.recipientList, relays: r.receipts.length, failed: r.failed, ...extra };
}

/** The states this PoC's state has a channel with, as the relay lists them. */
function partnerStates(client: HotlineClient): string[] {
  const own = client.profile.state;
  return [...new Set(client.channels.flatMap((c) => c.states.filter((st) => st !== own)))].sort();
}

/** A notice goes to the other state of a channel: sending to one's own state is refused before anything is signed. */
function refuseOwnState(client: HotlineClient, toState: string): void {
  const own = client.profile.state;
  if (own === null || toState !== own) return;
  const partners = partnerStates(client);
  throw new HotlineError(
    'BAD_INPUT',
    `you cannot send to your own state (${own}): a notice goes to the other state of a channel; ${partners.length ? `${own} has a channel with ${partners.join(', ')} (e.g. --to ${partners[0]})` : `${own} has no channel yet: ask the operator to open one`}`,
  );
}

function namesOf(client: HotlineClient): (kid: string) => string | null {
  return (kid) => client.nameOf(kid);
}

/** The ack state of one notice from what the local history holds. */
function ackStatus(client: HotlineClient, m: MessageRecord) {
  const related = client.history.referencing(m.id);
  const ack = related.find((r) => r.kind === 'ack');
  const delivered = related.filter((r) => r.kind === 'receipt').length;
  const raised = related.filter((r) => r.kind === 'raise');
  return {
    acked: ack !== undefined,
    ackedBy: ack ? (client.nameOf(ack.from) ?? ack.from) : null,
    ackedAt: ack?.acceptedAt ?? null,
    timeToAckMs: ack?.acceptedAt != null && m.acceptedAt != null ? ack.acceptedAt - m.acceptedAt : null,
    late: ack?.acceptedAt != null && m.ackDeadline != null ? ack.acceptedAt > m.ackDeadline : null,
    deliveredTo: delivered,
    raisedTo: raised.at(-1)?.level ?? null,
  };
}

function messageJson(client: HotlineClient, m: MessageRecord) {
  return { ...m, fromName: client.nameOf(m.from), ...(m.kind === 'notice' || m.kind === 'raise' ? ackStatus(client, m) : {}) };
}

export function registerMessageCommands(program: Command): void {
  program
    .command('send')
    .description('send a notice to the other state (TEXT, or - to read it from stdin)')
    .requiredOption('--to <state>', 'receiving state code, e.g. CN')
    .requiredOption('--level <level>', 'ROUTINE | PRIORITY | IMMEDIATE | FLASH')
    .option('--subject <subject>', 'short subject line (encrypted like the text)')
    .option('--drill <drillId>', 'mark as part of a drill: shown as DRILL everywhere, never as real')
    .option('--relay <url>', 'relay URL(s), comma-separated (default HOTLINE_RELAY or the joined relays)')
    .option('--json', 'print {id, acceptedAt, ackDeadline, ...}')
    .option('--template <id>', 'a template of the catalogue the charter binds (hotline templates list); TEXT is then optional')
    .option('--field <name=value>', 'a template field (repeatable); tlp=AMBER sets the TLP label', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--tlp <label>', "TLP 2.0 label: RED, AMBER+STRICT, AMBER, GREEN, CLEAR (default: the channel's)")
    .argument('[text]', 'the notice text; - reads stdin')
    .action(async (textArg: string | undefined, opts: SendOptions) => {
      try {
        const level = parseLevel(opts.level);
        const toState = parseState(opts.to);
        const drill = parseDrill(opts.drill);
        const text = readText(textArg);
        const { fields, tlp } = parseFields(opts.field, opts.tlp);
        if (!opts.template && Object.keys(fields).length) throw new HotlineError('BAD_INPUT', '--field needs --template ID (see hotline templates list)');
        if (text.trim().length === 0 && !opts.template) throw new HotlineError('BAD_INPUT', 'the notice text is empty: write what happened (or pass - to read it from stdin)');
        const template = opts.template ? { id: opts.template, fields } : undefined;
        const result = await withClient({ relay: opts.relay }, (client) => {
          refuseOwnState(client, toState);
          return client.send({ toState, level, subject: opts.subject ?? null, text, drill, tlp, template });
        });
        output(opts, sendJson(result, { level, drill }), () => sentSummary('notice', level, toState, result, drill));
      } catch (e) {
        fail('send', e, !!opts.json);
      }
    });

  program
    .command('ack')
    .description('acknowledge a notice (your signed "read and understood") or answer a communication check')
    .argument('<id>', 'notice id (or its first 8+ characters), or the whole check id chk-… as hotline listen prints it')
    .option('--note <text>', 'optional note to the sender (encrypted)')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { note?: string; relay?: string; json?: boolean }) => {
      try {
        if (id.trim().toLowerCase().startsWith('chk-')) {
          const checkId = typedCheckId(id);
          // The answer is signed over the whole id, which the PoC's device received (hotline listen prints it).
          if (!fullCheckIdPattern.test(checkId)) {
            throw new HotlineError('BAD_INPUT', `"${id}" is the short form of a check id; answering signs the whole id (${checkIdForm}): copy it from the COMMUNICATION CHECK line hotline listen printed`);
          }
          const relays = await withClient({ relay: opts.relay }, (client) => client.ackCheck(checkId));
          output(opts, { checkId, answered: true, relays, at: Date.now() }, () => `answered communication check ${checkId} — the relay has recorded that you are here`);
          return;
        }
        const done = await withClient({ relay: opts.relay }, async (client) => {
          await client.drain();
          const notice = client.findMessage(id);
          // A thread is acknowledged once: a second ack would change nothing on the relay, so none is sent.
          const earlier = client.history.referencing(notice.id).find((m) => m.kind === 'ack' && m.fromState === client.profile.state);
          if (earlier && notice.fromState !== client.profile.state) return { notice, earlier, byName: client.nameOf(earlier.from) ?? earlier.from.slice(0, 10), r: null };
          const r = await client.ack(id, opts.note ?? null);
          return { notice, earlier: null, byName: null, r };
        });
        const { notice } = done;
        const timing = (ackedAt: number | null) => ({
          timeToAckMs: ackedAt !== null && notice.acceptedAt !== null ? ackedAt - notice.acceptedAt : null,
          late: ackedAt !== null && notice.ackDeadline !== null ? ackedAt > notice.ackDeadline : null,
        });
        const verdict = (t: { timeToAckMs: number | null; late: boolean | null }) =>
          t.timeToAckMs === null ? '' : `  time to acknowledge ${formatDuration(t.timeToAckMs)}${t.late === null ? '' : t.late ? ' — LATE, the deadline had passed' : ' — within deadline'}`;
        if (done.earlier) {
          const e = done.earlier;
          const t = timing(e.acceptedAt);
          output(
            opts,
            { alreadyAcknowledged: true, noticeId: notice.id, id: e.id, acceptedAt: e.acceptedAt, ackedBy: e.from, ackedByName: done.byName, ...t, drill: notice.drill },
            () =>
              [
                ...(notice.drill ? [drillBanner(notice.drill) as string] : []),
                `${levelTag(notice.level)} ${shortId(notice.id)} from ${notice.fromState} was already acknowledged by ${done.byName} at ${utc(e.acceptedAt)}; nothing sent`,
                verdict(t),
              ]
                .filter(Boolean)
                .join('\n'),
          );
          return;
        }
        const r = done.r as SendResult;
        const t = timing(r.acceptedAt);
        output(opts, { ...sendJson(r), alreadyAcknowledged: false, noticeId: notice.id, ...t, drill: notice.drill }, () =>
          [
            ...(notice.drill ? [drillBanner(notice.drill) as string] : []),
            `acknowledged ${levelTag(notice.level)} ${shortId(notice.id)} from ${notice.fromState} at ${utc(r.acceptedAt)}`,
            verdict(t),
          ]
            .filter(Boolean)
            .join('\n'),
        );
      } catch (e) {
        fail('ack', e, !!opts.json);
      }
    });

  program
    .command('raise')
    .description('raise a thread you sent to a higher level: a new, shorter deadline')
    .argument('<id>', 'notice id (or its first 8+ characters)')
    .requiredOption('--level <level>', 'the new, higher level')
    .argument('[text]', 'why it is raised')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (id: string, textArg: string | undefined, opts: { level: string; relay?: string; json?: boolean }) => {
      try {
        const level = parseLevel(opts.level);
        const text = readText(textArg);
        const r = await withClient({ relay: opts.relay }, async (client) => {
          await client.drain();
          return { result: await client.raise(id, level, text), root: client.findMessage(id) };
        });
        output(opts, sendJson(r.result, { level, raised: r.root.id }), () => sentSummary('raise', level, r.root.toState, r.result, r.root.drill));
      } catch (e) {
        fail('raise', e, !!opts.json);
      }
    });

  program
    .command('reply')
    .description('reply to a notice (encrypted, signed, with the thread kept)')
    .argument('<id>', 'notice id (or its first 8+ characters)')
    .argument('<text>', 'the reply; - reads stdin')
    .option('--level <level>', 'level of the reply (default: the notice level)')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (id: string, textArg: string, opts: { level?: string; relay?: string; json?: boolean }) => {
      try {
        const level = opts.level ? parseLevel(opts.level) : null;
        const text = readText(textArg);
        if (!text.trim()) throw new HotlineError('BAD_INPUT', 'the reply text is empty');
        const r = await withClient({ relay: opts.relay }, async (client) => {
          await client.drain();
          const target = client.findMessage(id);
          return { result: await client.reply(id, text, level), target };
        });
        const other = r.target.fromState === r.target.toState ? r.target.toState : r.target.fromState;
        output(opts, sendJson(r.result), () => sentSummary('reply', level ?? r.target.level, other, r.result, r.target.drill));
      } catch (e) {
        fail('reply', e, !!opts.json);
      }
    });

  program
    .command('listen')
    .description('stay connected and print every notice, receipt, ack, overdue and escalation as it happens')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--for <duration>', 'stop after this long (e.g. 30s); default: until Ctrl-C')
    .option('--json', 'NDJSON: one event per line with a "type" field')
    .action(async (opts: { relay?: string; for?: string; json?: boolean }) => {
      try {
        const forMs = opts.for ? parseDuration(opts.for) : null;
        process.stderr.write(
          `listen: runs ${forMs === null ? 'until Ctrl-C' : `for ${formatDuration(forMs)} (Ctrl-C stops sooner)`}, printing what arrives; acknowledge, send and reply from another terminal\n`,
        );
        await withClient({ relay: opts.relay, reconnect: true }, async (client) => {
          const names = namesOf(client);
          const emit = (json: Record<string, unknown>, human: () => string) => output(opts, json, human);
          client.on('notice', (m) =>
            emit({ type: m.kind === 'check' ? 'check' : 'notice', ...messageJson(client, m) }, () => noticeBlock(m, names, client.profile.state)),
          );
          client.on('receipt', (r) => emit({ type: 'receipt', ...r }, () => receiptLine(r)));
          client.on('ack', (a) => emit({ type: 'ack', ...a }, () => ackLine(a)));
          client.on('relayEvent', (e) => emit({ type: e.kind, auditSeq: e.auditSeq, at: e.at, relay: e.relay, ...e.data }, () => relayEventLine(e)));
          client.on('connection', (c) =>
            emit({ type: c.up ? 'connected' : 'disconnected', relay: c.relay, willRetry: c.willRetry, at: Date.now() }, () =>
              c.up ? `connected to ${c.relay}` : `lost ${c.relay}${c.willRetry ? ' — reconnecting…' : ''}`,
            ),
          );
          client.on('warning', (w) => emit({ type: 'warning', ...w }, () => `warning: ${w.message} [${w.code}]`));
          client.on('alarm', (a) => emit({ type: 'alarm', ...a }, () => alarmBlock(a)));
          const profile = client.profile;
          emit({ type: 'connected', relay: 'all', kid: client.identity.kid, state: profile.state, role: profile.role, at: Date.now() }, () =>
            `listening as ${profile.name} (${profile.role} of ${profile.state}); Ctrl-C to stop`,
          );
          await new Promise<void>((resolve) => {
            const stop = () => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
            if (forMs !== null) setTimeout(stop, forMs).unref();
          });
        });
        process.exit(0);
      } catch (e) {
        fail('listen', e, !!opts.json);
      }
    });

  program
    .command('inbox')
    .description('notices received from the other state, newest first, with their acknowledgement state')
    .option('--unacked', 'only those not yet acknowledged')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (opts: { unacked?: boolean; relay?: string; json?: boolean }) => {
      try {
        const { rows, alarms } = await withClient({ relay: opts.relay }, async (client) => {
          await client.drain();
          const own = client.profile.state;
          const rows = client.history
            .list({ kinds: ['notice', 'raise', 'check'] })
            .filter((m) => m.fromState !== own)
            .map((m) => messageJson(client, m))
            .filter((m) => !opts.unacked || !('acked' in m && m.acked));
          // Open alarms first: a missing message or a relay caught lying matters more than any one notice.
          return { rows, alarms: client.history.alarms({ open: true }) };
        });
        const alarmLines = alarms.length ? `${alarms.length} open alarm(s):\n${alarms.map(openAlarmLine).join('\n')}\n\n` : '';
        output(opts, { alarms, notices: rows }, () =>
          alarmLines +
          (rows.length === 0
            ? opts.unacked
              ? 'nothing waiting for acknowledgement'
              : 'inbox is empty'
            : rows
                .map((m) => {
                  const acked = 'acked' in m && m.acked ? `acked by ${m.ackedBy} at ${utc(m.ackedAt ?? null)}` : `NOT ACKED — ${deadlineText(m.ackDeadline ?? null)}`;
                  return `${m.drill ? '[DRILL] ' : ''}${levelTag(m.level)} ${shortId(m.id)} from ${m.fromState} ${utc(m.acceptedAt)}  ${m.subject ?? (m.text ?? '').slice(0, 50)}\n    ${acked}`;
                })
                .join('\n')),
        );
      } catch (e) {
        fail('inbox', e, !!opts.json);
      }
    });

  program
    .command('history')
    .description('everything sent and received on your channels, with times (synced from the relay first)')
    .option('--limit <n>', 'how many, newest first', '100')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (opts: { limit: string; relay?: string; json?: boolean }) => {
      try {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new HotlineError('BAD_INPUT', '--limit takes a positive whole number');
        const rows = await withClient({ relay: opts.relay }, async (client) => {
          await client.drain();
          return client.history.list({ kinds: ['notice', 'reply', 'raise', 'ack', 'check'], limit }).map((m) => messageJson(client, m));
        });
        output(opts, { messages: rows }, () =>
          rows.length === 0
            ? 'no history yet'
            : rows
                .map((m) => {
                  const head = `${m.drill ? '[DRILL] ' : ''}${utc(m.acceptedAt)} ${levelTag(m.level)} ${m.kind.toUpperCase()} ${m.fromState} → ${m.toState} ${shortId(m.id)} by ${m.fromName ?? m.from.slice(0, 10)}`;
                  const body = m.kind === 'ack' ? `    acknowledges ${shortId(m.refs[0] ?? '')}${m.text ? ` — ${m.text}` : ''}` : `    ${m.subject ? `${m.subject}: ` : ''}${(m.text ?? '').split('\n')[0]}`;
                  const ack =
                    'acked' in m
                      ? m.acked
                        ? `    acked by ${m.ackedBy} after ${formatDuration(m.timeToAckMs ?? 0)}${m.late ? ' (LATE)' : ''}`
                        : `    not acknowledged — ${deadlineText(m.ackDeadline)}`
                      : '';
                  return [head, body, ack].filter(Boolean).join('\n');
                })
                .join('\n'),
        );
      } catch (e) {
        fail('history', e, !!opts.json);
      }
    });
}
