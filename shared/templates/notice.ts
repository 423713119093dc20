// A template notice: its fields checked by type against the channel's catalogue, rendered in a reader's language, and the alert-safe view (TLP).
import { z } from 'zod';
import { HotlineError } from '../errors.ts';
import { templateById, tlpSchema, type Catalogue, type Template, type TemplateField, type Tlp } from './catalogue.ts';
import { validateStixBundle, type StixIndicatorRow } from './stix.ts';

/** What a template notice carries inside the encrypted body (never in the clear header). */
export const templateRefSchema = z.strictObject({
  /** catalogueHash of the catalogue the sender used: the charter's `templates`. */
  catalogue: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  id: z.string().regex(/^[a-z][a-zA-Z0-9-]{0,63}$/),
  n: z.number().int().min(1).max(9999),
  fields: z.record(z.string().regex(/^[a-z][a-zA-Z0-9-]{0,63}$/), z.string().max(60_000)),
});
export type TemplateRef = z.infer<typeof templateRefSchema>;
export { tlpSchema };

const datetime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/;
const duration = /^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
const domain = /^(?=.{1,253}$)(?!-)([a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]{0,62}(?<!-)$/i;
const hashes: Record<number, string> = { 32: 'MD5', 40: 'SHA-1', 64: 'SHA-256', 128: 'SHA-512' };

function ipv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((x) => /^(0|[1-9]\d{0,2})$/.test(x) && Number(x) <= 255);
}
function ipv6(s: string): boolean {
  if (!/^[0-9a-f:.]+$/i.test(s) || (s.match(/::/g) ?? []).length > 1) return false;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
  const parts = (x: string | null | undefined) => (x ? x.split(':') : []);
  const all = [...parts(head), ...parts(tail)];
  const last = all[all.length - 1] ?? '';
  const v4 = last.includes('.') ? (ipv4(last) ? 2 : -99) : 0;
  const groups = all.length - (v4 ? 1 : 0) + v4;
  if (v4 < 0 || !all.slice(0, v4 ? -1 : undefined).every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return false;
  return tail === null ? groups === 8 : groups < 8;
}

/** Parses TLP as written on a command line: "AMBER", "amber+strict", "TLP:RED". */
export function parseTlp(input: string): Tlp {
  const s = input.trim().toUpperCase();
  const r = tlpSchema.safeParse(s.startsWith('TLP:') ? s : `TLP:${s}`);
  if (!r.success) throw new HotlineError('BAD_TEMPLATE_FIELD', `"${input}" is not a TLP 2.0 label (TLP:RED, TLP:AMBER+STRICT, TLP:AMBER, TLP:GREEN, TLP:CLEAR)`, { detail: { field: 'tlp' } });
  return r.data;
}

/** Checks one field value against its type; returns the value in its one canonical form. */
export function checkFieldValue(c: Catalogue, f: TemplateField, raw: string): string {
  const v = f.type === 'text' || f.type === 'stix' ? raw : raw.trim();
  const bad = (why: string): never => { throw new HotlineError('BAD_TEMPLATE_FIELD', `field ${f.name} (${f.type}): ${why}`, { detail: { field: f.name } }); };
  switch (f.type) {
    case 'text':
      if (v.trim().length === 0) bad('empty');
      return v;
    case 'enum': {
      const vocab = c.vocabularies[f.vocabulary ?? ''];
      if (!vocab?.values.some((x) => x.value === v)) bad(`"${v}" is not in the ${f.vocabulary} vocabulary (${vocab?.values.map((x) => x.value).join(', ')})`);
      return v;
    }
    case 'datetime':
      if (!datetime.test(v) || Number.isNaN(Date.parse(v))) bad('must be a UTC date-time such as 2026-12-03T11:00Z');
      return v;
    case 'duration':
      if (!duration.test(v)) bad('must be an ISO 8601 duration such as PT2H or P1DT6H');
      return v;
    case 'ip': {
      const [addr = '', prefix, extra] = v.split('/');
      const four = ipv4(addr);
      if (extra !== undefined || !(four || ipv6(addr))) bad('must be an IPv4 or IPv6 address, optionally /prefix');
      if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (four ? 32 : 128))) bad(`the prefix must be 0–${four ? 32 : 128}`);
      return four ? v : v.toLowerCase();
    }
    case 'domain':
      if (!domain.test(v)) bad('must be a domain name such as example.org');
      return v.toLowerCase();
    case 'hash': {
      const hex = v.replace(/^(md5|sha-?1|sha-?256|sha-?512):/i, '');
      if (!/^[0-9a-f]+$/i.test(hex) || !hashes[hex.length]) bad('must be an MD5, SHA-1, SHA-256 or SHA-512 hash in hex');
      return hex.toLowerCase();
    }
    case 'url': {
      let u: URL;
      try { u = new URL(v); } catch { return bad('must be an absolute URL'); }
      if (!['http:', 'https:', 'ftp:'].includes(u.protocol)) bad('must be an http, https or ftp URL');
      return v;
    }
    case 'stix':
      validateStixBundle(v);
      return v;
    case 'tlp':
      return parseTlp(v);
  }
}

/** Builds the body part of a template notice from a sender's fields; refuses unknown, missing or ill-formed ones. */
export function buildTemplateRef(c: Catalogue, hash: string, templateId: string, fields: Readonly<Record<string, string>>): TemplateRef {
  const t = templateById(c, templateId);
  if (!t) throw new HotlineError('TEMPLATE_REFUSED', `the catalogue ${c.id} v${c.version} has no template "${templateId}" (it has ${c.templates.map((x) => x.id).join(', ')})`);
  return { catalogue: hash, id: t.id, n: t.n, fields: checkFields(c, t, fields) };
}

function checkFields(c: Catalogue, t: Template, fields: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(fields)) {
    if (!t.fields.some((f) => f.name === k)) throw new HotlineError('BAD_TEMPLATE_FIELD', `template ${t.id} has no field ${k} (it has ${t.fields.map((f) => f.name).join(', ')})`, { detail: { field: k } });
  }
  for (const f of t.fields) {
    const raw = fields[f.name];
    if (raw === undefined || raw === '') {
      if (f.required) throw new HotlineError('BAD_TEMPLATE_FIELD', `template ${t.id} requires the field ${f.name} (${f.type})`, { detail: { field: f.name } });
      continue;
    }
    out[f.name] = checkFieldValue(c, f, raw);
  }
  return out;
}

/**
 * What a RECEIVING client checks: the notice names the channel's bound catalogue, a template in it under its number,
 * and fields of the right types. Throws TEMPLATE_REFUSED (with the reason) or BAD_TEMPLATE_FIELD.
 */
export function checkIncomingTemplate(bound: { hash: string | null; catalogue: Catalogue | null }, ref: TemplateRef): Template {
  if (bound.hash === null) throw new HotlineError('TEMPLATE_REFUSED', `the notice names template "${ref.id}", but this channel's charter binds no template catalogue`);
  if (ref.catalogue !== bound.hash) throw new HotlineError('TEMPLATE_REFUSED', `the notice names template "${ref.id}" of catalogue ${ref.catalogue.slice(0, 12)}…, not the catalogue the charter binds (${bound.hash.slice(0, 12)}…)`);
  if (!bound.catalogue) throw new HotlineError('TEMPLATE_REFUSED', `the charter binds catalogue ${bound.hash.slice(0, 12)}…, which this PoC does not hold: put it in HOTLINE_CATALOGUES`);
  const t = templateById(bound.catalogue, ref.id);
  if (!t) throw new HotlineError('TEMPLATE_REFUSED', `template "${ref.id}" is not in the channel's catalogue ${bound.catalogue.id} v${bound.catalogue.version}`);
  if (t.n !== ref.n) throw new HotlineError('TEMPLATE_REFUSED', `template "${ref.id}" is number ${t.n} in the channel's catalogue, the notice says ${ref.n}`);
  checkFields(bound.catalogue, t, ref.fields);
  return t;
}

export interface RenderedField {
  readonly name: string;
  readonly type: string;
  readonly label: string;
  /** The value as carried (canonical form): identical on every side. */
  readonly value: string;
  /** The value shown in the reader's language: a vocabulary label, a formatted date, or free text as written. */
  readonly display: string;
  /** Free text: shown as written, never translated. */
  readonly translated: boolean;
  readonly indicators?: readonly StixIndicatorRow[];
}

export interface RenderedNotice {
  readonly lang: string;
  readonly template: { readonly id: string; readonly n: number; readonly title: string };
  readonly sentence: string;
  /** In its original form: TLP labels are never translated. */
  readonly tlp: Tlp;
  readonly fields: readonly RenderedField[];
  readonly notTranslated: string;
}

/** The language to read in: the asked one if the catalogue has it, else its base (zh-Hans-CN → zh-Hans → zh), else English, else the first. */
export function pickLanguage(c: Catalogue, wanted: string | null | undefined): string {
  const w = (wanted ?? '').replace(/[._].*$/, '').replace('_', '-');
  const lower = c.languages.map((l) => l.toLowerCase());
  const parts = w.split('-');
  for (let n = parts.length; n > 0; n--) {
    const i = lower.indexOf(parts.slice(0, n).join('-').toLowerCase());
    if (i >= 0) return c.languages[i] as string;
  }
  if (parts[0]?.toLowerCase() === 'zh') { const z = c.languages.find((l) => l.startsWith('zh')); if (z) return z; }
  return c.languages.includes('en') ? 'en' : (c.languages[0] as string);
}

function formatDuration(v: string): string {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(v);
  if (!m) return v;
  return [m[1] && `${m[1]} d`, m[2] && `${m[2]} h`, m[3] && `${m[3]} min`, m[4] && `${m[4]} s`].filter(Boolean).join(' ');
}

/** Renders a checked template notice in one language. Values are the same on every side; only labels change. */
export function renderTemplateNotice(c: Catalogue, ref: TemplateRef, tlp: Tlp, wanted: string | null | undefined): RenderedNotice {
  const t = templateById(c, ref.id);
  if (!t) throw new HotlineError('TEMPLATE_REFUSED', `template "${ref.id}" is not in catalogue ${c.id}`);
  const lang = pickLanguage(c, wanted);
  const fields: RenderedField[] = [];
  for (const f of t.fields) {
    const value = ref.fields[f.name];
    if (value === undefined) continue;
    const label = f.label[lang] ?? f.name;
    switch (f.type) {
      case 'enum': {
        const entry = c.vocabularies[f.vocabulary ?? '']?.values.find((x) => x.value === value);
        fields.push({ name: f.name, type: f.type, label, value, display: entry?.label[lang] ?? value, translated: true });
        break;
      }
      case 'datetime':
        fields.push({ name: f.name, type: f.type, label, value, display: `${value.replace('T', ' ').replace(/Z$/, '')} UTC`, translated: true });
        break;
      case 'duration':
        fields.push({ name: f.name, type: f.type, label, value, display: formatDuration(value), translated: true });
        break;
      case 'text':
        fields.push({ name: f.name, type: f.type, label, value, display: value, translated: false });
        break;
      case 'stix': {
        const { indicators } = validateStixBundle(value);
        fields.push({ name: f.name, type: f.type, label, value, display: `${indicators.length} ${c.ui.indicators?.[lang] ?? 'indicators'}`, translated: true, indicators });
        break;
      }
      default:
        fields.push({ name: f.name, type: f.type, label, value, display: value, translated: true });
    }
  }
  return { lang, template: { id: t.id, n: t.n, title: t.title[lang] ?? t.id }, sentence: t.text[lang] ?? '', tlp, fields, notTranslated: c.ui.notTranslated?.[lang] ?? 'not translated' };
}

/** Plain-text lines of a rendered notice (the CLI and any text view): free text marked "not translated". */
export function renderedLines(r: RenderedNotice): string[] {
  const lines = [`${r.tlp}  [${r.template.n}] ${r.template.title}`, r.sentence];
  for (const f of r.fields) {
    if (f.type === 'text') {
      lines.push(`${f.label} [${r.notTranslated}]:`);
      for (const l of f.display.split('\n')) lines.push(`    ${l}`);
    } else lines.push(`${f.label}: ${f.display}`);
    for (const i of f.indicators ?? []) lines.push(`    ${i.patternType}  ${i.pattern}  ${i.validFrom}${i.name ? `  ${i.name}` : ''}`);
  }
  return lines;
}

/** A compose form built from a template (for the console): fields with their types, labels, choices, required marks. */
export function formSpec(c: Catalogue, templateId: string, lang: string | null | undefined) {
  const t = templateById(c, templateId);
  if (!t) throw new HotlineError('TEMPLATE_REFUSED', `no template "${templateId}" in catalogue ${c.id}`);
  const l = pickLanguage(c, lang);
  return {
    id: t.id,
    n: t.n,
    lang: l,
    title: t.title[l] as string,
    sentence: t.text[l] as string,
    tlp: { default: c.defaultTlp, choices: ['TLP:RED', 'TLP:AMBER+STRICT', 'TLP:AMBER', 'TLP:GREEN', 'TLP:CLEAR'] as const },
    fields: t.fields.map((f) => ({
      name: f.name,
      type: f.type,
      required: f.required,
      label: f.label[l] as string,
      choices: f.type === 'enum' ? (c.vocabularies[f.vocabulary ?? '']?.values ?? []).map((v) => ({ value: v.value, label: v.label[l] as string })) : null,
    })),
  };
}

/** The two-language preview a sender sees before sending: its own language and the other side's. */
export function previewNotice(c: Catalogue, hash: string, templateId: string, fields: Readonly<Record<string, string>>, tlp: Tlp, langs: readonly [string, string]) {
  const ref = buildTemplateRef(c, hash, templateId, fields);
  return { ref, views: langs.map((l) => renderTemplateNotice(c, ref, tlp, l)) };
}

/** What may leave the recipients' own history for an alert hook or an e-mail: with TLP:RED, no text and no fields at all. */
export interface AlertSafeInput {
  readonly tlp?: Tlp | null;
  readonly subject: string | null;
  readonly text: string | null;
  readonly template?: TemplateRef | null;
}
export function alertSafeView<T extends AlertSafeInput>(notice: T): Omit<T, 'subject' | 'text' | 'template'> & { subject: string | null; text: string | null; template: { id: string; n: number } | null; tlp: Tlp; withheld: boolean } {
  const tlp = notice.tlp ?? 'TLP:AMBER';
  if (tlp === 'TLP:RED') return { ...notice, tlp, subject: null, text: null, template: null, withheld: true };
  return { ...notice, tlp, subject: notice.subject, text: notice.text, template: notice.template ? { id: notice.template.id, n: notice.template.n } : null, withheld: false };
}
