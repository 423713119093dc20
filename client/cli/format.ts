// Human output for the CLI: levels in capitals, unmistakable DRILL banners, times in UTC, durations a duty officer reads at a glance.
import { templateLines } from '../templates/template-view.ts';
import { fingerprint, formatDuration, type DrillMark } from '../../shared/index.ts';
import type { AckInfo, EscalationInfo, ReceiptInfo } from '../hotline-client.ts';
import type { AlarmRecord, ContactRecord, MessageRecord } from '../history.ts';

const useColour = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, text: string) => (useColour ? `\x1b[${code}m${text}\x1b[0m` : text);

export function utc(ms: number | null): string {
  if (ms === null) return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export function levelTag(level: string | null): string {
  if (!level) return '';
  const tag = `[${level}]`;
  if (level === 'FLASH') return paint('1;41;97', tag);
  if (level === 'IMMEDIATE') return paint('1;31', tag);
  if (level === 'PRIORITY') return paint('1;33', tag);
  return paint('1', tag);
}

export function drillBanner(drill: DrillMark | null): string | null {
  if (!drill) return null;
  const text = `######## DRILL — EXERCISE ONLY — NOT A REAL NOTICE — drill ${drill.drillId}${drill.inject !== null ? ` inject ${drill.inject}` : ''} ########`;
  return paint('1;45;97', text);
}

export function shortId(id: string): string {
  return id.slice(0, 13);
}

export function deadlineText(ackDeadline: number | null, now = Date.now()): string {
  if (ackDeadline === null) return 'no ack deadline';
  const left = ackDeadline - now;
  return left >= 0 ? `ack by ${utc(ackDeadline)} (in ${formatDuration(left)})` : `ack was due ${utc(ackDeadline)} (${formatDuration(-left)} ago)`;
}

/** A received or sent notice as a block of lines. */
export function noticeBlock(m: MessageRecord, names: (kid: string) => string | null, ownState: string | null = null): string {
  const lines: string[] = [];
  const banner = drillBanner(m.drill);
  if (banner) lines.push(banner);
  const kind = m.kind === 'notice' ? 'NOTICE' : m.kind.toUpperCase();
  const who = names(m.from);
  lines.push(`${levelTag(m.level)} ${kind} ${m.fromState} → ${m.toState}  from ${who ?? m.from.slice(0, 10) + '…'}  accepted ${utc(m.acceptedAt)}`);
  lines.push(`  id ${m.id}${m.refs.length ? `  (re ${m.refs.map(shortId).join(', ')})` : ''}`);
  if (m.kind !== 'ack' && m.kind !== 'receipt') lines.push(`  ${deadlineText(m.ackDeadline)}`);
  if (m.subject) lines.push(`  Subject: ${m.subject}`);
  for (const l of templateLines(m)) lines.push(`  ${l}`);
  if (m.text) for (const l of m.text.split('\n')) lines.push(`  ${l}`);
  if (m.direction === 'in' && m.toState === ownState && (m.kind === 'notice' || m.kind === 'raise')) lines.push(`  → acknowledge: hotline ack ${shortId(m.id)}   reply: hotline reply ${shortId(m.id)} "…"`);
  if (banner) lines.push(banner);
  return lines.join('\n');
}

export function ackLine(a: AckInfo): string {
  const timing = a.timeToAckMs === null ? '' : ` after ${formatDuration(a.timeToAckMs)}`;
  const verdict = a.late === null ? '' : a.late ? paint('1;31', ' LATE (deadline missed)') : ' (within deadline)';
  return `${a.drill ? '[DRILL] ' : ''}ACK of ${shortId(a.noticeId)} by ${a.byName ?? a.by.slice(0, 10)} (${a.byState}) at ${utc(a.ackedAt)}${timing}${verdict}${a.note ? ` — note: ${a.note}` : ''}`;
}

export function receiptLine(r: ReceiptInfo): string {
  return `DELIVERED ${shortId(r.noticeId)} to ${r.byName ?? r.by.slice(0, 10)} (${r.byState}) at ${utc(r.deliveredAt)}`;
}

export function relayEventLine(e: EscalationInfo): string {
  const d = e.data;
  const id = typeof d.id === 'string' ? shortId(d.id) : '';
  const level = typeof d.level === 'string' ? `${levelTag(d.level)} ` : '';
  const drill = d.drill ? '[DRILL] ' : '';
  if (e.kind === 'check') {
    const id = typeof d.checkId === 'string' ? d.checkId : '?';
    return paint('1;36', `COMMUNICATION CHECK ${id}: the relay asks whether you are on duty — answer now: hotline ack ${id} (by ${utc(typeof d.deadline === 'number' ? d.deadline : null)})`);
  }
  if (e.kind === 'overdue') return paint('1;31', `${drill}${level}OVERDUE: notice ${id} was not acknowledged by its deadline ${utc(typeof d.deadline === 'number' ? d.deadline : null)} — acknowledge now`);
  const action = typeof d.action === 'string' ? d.action : e.kind;
  if (action === 'notify-sender') return paint('1;31', `${drill}${level}NOT ACKNOWLEDGED: your notice ${id} has had no acknowledgement (deadline ${utc(typeof d.deadline === 'number' ? d.deadline : null)})`);
  if (action === 'page-alternates') return paint('1;31', `${drill}${level}ESCALATION: you are paged as alternate — notice ${id} is overdue and unacknowledged`);
  return `${drill}${level}${e.kind.toUpperCase()} ${action} ${id}`;
}

/** How the contact's current prekey lets senders wrap: both X25519 and ML-KEM-768, X25519 alone, or not known here. */
export type ContactKeyWrap = 'hybrid' | 'x25519' | null;

export function contactLine(c: ContactRecord, keyWrap: ContactKeyWrap = null): string {
  const status = c.status === 'changed' ? paint('1;31', 'KEY CHANGED — not trusted') : c.status === 'verified' ? 'verified' : 'pinned (unverified)';
  const wrap = keyWrap === 'hybrid' ? '  (encryption: X25519 + ML-KEM-768)' : keyWrap === 'x25519' ? '  (encryption: X25519 only: an old client, not post-quantum)' : '';
  return `${c.state.padEnd(5)} ${c.name.padEnd(24)} ${c.role.padEnd(9)} ${fingerprint(c.kid)}  ${status}\n      key ${c.kid}${wrap}`;
}

/** What a duty officer does about an alarm, in one sentence they can act on at 3 a.m. */
export function alarmAdvice(code: string): string {
  switch (code) {
    case 'HYBRID_REQUIRED':
      return 'A message was refused: it was not encrypted the post-quantum way your channel charter requires. Tell the sender to update their client; report it to your authority if it repeats.';
    case 'MISSING':
      return 'A message from the other side never reached you. Call them on a known number and ask what they sent.';
    case 'REORDERED':
      return 'Warning only: the relay delivered messages out of order. Nothing is lost; note it and watch for more.';
    case 'CHAIN_FORK':
      return 'Two different versions of this sender\'s messages exist. Act on neither until you have called the sender and your authority.';
    case 'BAD_RECEIPT':
      return 'The message itself is genuine and shown, but the relay\'s record of it is wrong (kept as evidence). Report it to both authorities.';
    case 'CHAIN_BROKEN':
      return 'The relay\'s record of what you sent differs from yours. Do not send again before calling your authority.';
    case 'WITNESS_MISMATCH':
      return 'The relay\'s history changed after you saw it. Run `hotline witness export` and give the file to your authority.';
    case 'BAD_SIGNATURE':
      return 'Something on the path to the relay sent a fake or altered message; it was dropped. Report it to your authority.';
    default:
      return 'Not shown as genuine. Call the other side and your authority on a known number.';
  }
}

/** An alarm as `hotline listen` prints it: the banner, what happened, what to do. */
export function alarmBlock(a: { code: string; message: string }): string {
  const banner = a.code === 'REORDERED' ? paint('1;33', `WARNING [${a.code}]`) : paint('1;41;97', `!!!!!!!! ALARM [${a.code}]`);
  return `${banner} ${a.message}\n         ${alarmAdvice(a.code)}`;
}

/** A kept, still open alarm, as `hotline inbox` lists it. */
export function openAlarmLine(a: AlarmRecord): string {
  return `${paint('1;31', `ALARM [${a.code}]`)} ${utc(a.at)}  ${a.message}\n    → ${alarmAdvice(a.code)}`;
}
