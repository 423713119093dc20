// Drill scenario files (YAML or JSON): parsing and validation with errors that name the line and the field.
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { HotlineError, levelSchema, parseDuration, stateCodeSchema, tlpSchema, type Level, type Tlp } from '../../shared/index.ts';

const durationSchema = z.string().or(z.number()).transform((value, ctx) => {
  if (typeof value === 'number') {
    if (value >= 0 && Number.isFinite(value)) return value * 1000;
    ctx.addIssue({ code: 'custom', message: 'a duration must be a positive number of seconds or text like 90s, 5m' });
    return z.NEVER;
  }
  if (value.trim() === '0' || value.trim() === '0s') return 0;
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (use forms like 20s, 5m, 1h)` });
    return z.NEVER;
  }
});

const levelInput = z.string().transform((v, ctx) => {
  const upper = v.trim().toUpperCase();
  const parsed = levelSchema.safeParse(upper);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: `unknown level "${v}": use ROUTINE, PRIORITY, IMMEDIATE or FLASH` });
    return z.NEVER;
  }
  return parsed.data;
});

const injectSchema = z.strictObject({
  at: durationSchema,
  to: stateCodeSchema,
  level: levelInput,
  subject: z.string().max(200).optional(),
  text: z.string().max(64 * 1024).default(''),
  /** A template of the catalogue the channel's charter binds, with its fields (checked when the inject is sent). */
  template: z.strictObject({ id: z.string().min(1).max(64), fields: z.record(z.string(), z.string()) }).optional(),
  tlp: tlpSchema.optional(),
}).refine((i) => i.template !== undefined || i.text.trim().length > 0, { message: 'inject text must not be empty (or give a template)', path: ['text'] });

export const scenarioSchema = z
  .strictObject({
    drill: z.string().min(1, 'the drill needs a name').max(120),
    participants: z.array(stateCodeSchema).min(2, 'a drill needs two participant states').max(2, 'a drill is bilateral: two participant states'),
    timeScale: z.number().positive().max(3600).default(1),
    deadlines: z.record(z.string(), durationSchema).default({}),
    injects: z.array(injectSchema).min(1, 'a drill needs at least one inject'),
  })
  .superRefine((s, ctx) => {
    if (s.participants[0] === s.participants[1]) ctx.addIssue({ code: 'custom', path: ['participants', 1], message: 'the two participants must differ' });
    for (const key of Object.keys(s.deadlines)) {
      if (!levelSchema.safeParse(key.toUpperCase()).success) ctx.addIssue({ code: 'custom', path: ['deadlines', key], message: `unknown level "${key}"` });
    }
    s.injects.forEach((inject, i) => {
      if (!s.participants.includes(inject.to)) {
        ctx.addIssue({ code: 'custom', path: ['injects', i, 'to'], message: `"${inject.to}" is not a participant (${s.participants.join(', ')})` });
      }
    });
  });

export interface DrillInject {
  readonly index: number;
  /** Offset from drill start in scenario time (ms); divide by timeScale for wall-clock. */
  readonly atMs: number;
  readonly to: string;
  readonly level: Level;
  readonly subject: string | null;
  readonly text: string;
  readonly template?: { readonly id: string; readonly fields: Readonly<Record<string, string>> };
  readonly tlp?: Tlp;
}

export interface DrillScenario {
  readonly name: string;
  readonly participants: readonly [string, string];
  readonly timeScale: number;
  /** The scenario's deadline overrides in wall-clock milliseconds (already divided by timeScale); the runner scales the charter's for the other levels (drillDeadlines). */
  readonly deadlines: Partial<Record<Level, number>>;
  readonly injects: readonly DrillInject[];
}

/**
 * Parses a scenario (YAML, of which JSON is a subset); throws BAD_INPUT naming the file, line and field.
 * @example parseScenario('drill: "Grid"\nparticipants: [US, CN]\ninjects: [{at: 0s, to: CN, level: FLASH, text: "x"}]', 'grid.yaml')
 */
export function parseScenario(text: string, fileName: string): DrillScenario {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError) {
    const pos = lineCounter.linePos(firstError.pos[0]);
    throw new HotlineError('BAD_INPUT', `${fileName}:${pos.line}: not valid YAML/JSON: ${firstError.message.split('\n')[0]}`);
  }
  const parsed = scenarioSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).filter((p): p is string | number => typeof p === 'string' || typeof p === 'number');
    let node: unknown = path.length ? doc.getIn(path, true) : doc.contents;
    for (let i = path.length; !isNode(node) && i > 0; i--) node = doc.getIn(path.slice(0, i - 1), true);
    const offset = isNode(node) && node.range ? node.range[0] : 0;
    const line = lineCounter.linePos(offset).line;
    const field = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') || '(top level)';
    throw new HotlineError('BAD_INPUT', `${fileName}:${line}: ${field}: ${issue?.message ?? 'invalid'}`);
  }
  const s = parsed.data;
  const deadlines: Partial<Record<Level, number>> = {};
  for (const [k, v] of Object.entries(s.deadlines)) deadlines[k.toUpperCase() as Level] = Math.max(100, Math.round(v / s.timeScale));
  return {
    name: s.drill,
    participants: [s.participants[0] as string, s.participants[1] as string],
    timeScale: s.timeScale,
    deadlines,
    injects: s.injects
      .map((inj, index) => ({ index, atMs: inj.at, to: inj.to, level: inj.level, subject: inj.subject ?? null, text: inj.text, ...(inj.template ? { template: inj.template } : {}), ...(inj.tlp ? { tlp: inj.tlp } : {}) }))
      .sort((a, b) => a.atMs - b.atMs || a.index - b.index),
  };
}
