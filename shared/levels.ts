// Escalation levels, the default acknowledgement deadlines and duration parsing.
import { HotlineError } from './errors.ts';

export const levels = ['ROUTINE', 'PRIORITY', 'IMMEDIATE', 'FLASH'] as const;
export type Level = (typeof levels)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Default acknowledgement deadline per level in milliseconds (DESIGN.md table). */
export const defaultAckDeadlines: Readonly<Record<Level, number>> = Object.freeze({
  ROUTINE: 24 * HOUR,
  PRIORITY: 4 * HOUR,
  IMMEDIATE: 30 * MINUTE,
  FLASH: 5 * MINUTE,
});

export type DeadlineTable = Readonly<Record<Level, number>>;

/** 0 for ROUTINE up to 3 for FLASH: a raise must go up. */
export function levelRank(level: Level): number {
  return levels.indexOf(level);
}

/** Case-insensitive level from user input; throws UNKNOWN_LEVEL. */
export function parseLevel(input: string): Level {
  const upper = input.trim().toUpperCase();
  const found = levels.find((l) => l === upper);
  if (!found) throw new HotlineError('UNKNOWN_LEVEL', `unknown level "${input}": use ROUTINE, PRIORITY, IMMEDIATE or FLASH`);
  return found;
}

const unitMs = { ms: 1, s: 1000, m: MINUTE, h: HOUR, d: 24 * HOUR } as const;

/**
 * Parses durations such as `250ms`, `90s`, `5m`, `4h`, `1d` or `1h30m` into milliseconds.
 * @example parseDuration('2m') === 120000
 */
export function parseDuration(input: string): number {
  const text = input.trim().toLowerCase();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const unit = m[2] as keyof typeof unitMs;
    total += Number(m[1]) * unitMs[unit];
    matched = re.lastIndex;
  }
  if (text.length === 0 || matched !== text.length || !Number.isFinite(total) || total <= 0) {
    throw new HotlineError('BAD_INPUT', `invalid duration "${input}": use forms like 90s, 5m, 4h, 1d`);
  }
  return Math.round(total);
}

/** Short human form of a duration: `4h`, `5m`, `1m30s`, `850ms`. */
export function formatDuration(ms: number): string {
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/** Parses `LEVEL=DURATION` overrides into a full table on top of the defaults. */
export function deadlineTable(overrides: Partial<Record<Level, number>> = {}): DeadlineTable {
  return Object.freeze({ ...defaultAckDeadlines, ...overrides });
}

/** `FLASH=2m` → ['FLASH', 120000]. */
export function parseDeadlineOverride(input: string): [Level, number] {
  const eq = input.indexOf('=');
  if (eq < 0) throw new HotlineError('BAD_INPUT', `invalid deadline "${input}": use LEVEL=DURATION, e.g. FLASH=2m`);
  return [parseLevel(input.slice(0, eq)), parseDuration(input.slice(eq + 1))];
}
