// The template catalogue format (hotline-templates/1): schema, parse with line-and-field errors, and the hash a charter binds.
import { z } from 'zod';
import { canonicalHash } from '../canonical.ts';
import { HotlineError } from '../errors.ts';

/** TLP 2.0 labels, in their original form: they are never translated. */
export const tlpLabels = ['TLP:RED', 'TLP:AMBER+STRICT', 'TLP:AMBER', 'TLP:GREEN', 'TLP:CLEAR'] as const;
export const tlpSchema = z.enum(tlpLabels);
export type Tlp = z.infer<typeof tlpSchema>;

export const fieldTypes = ['text', 'enum', 'datetime', 'duration', 'ip', 'domain', 'hash', 'url', 'stix', 'tlp'] as const;
export type FieldType = (typeof fieldTypes)[number];

/** BCP 47 tags the catalogue writes texts in (e.g. en, zh-Hans, ja, ru, fr, es). */
const langSchema = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 language tag such as en or zh-Hans');
const textSchema = z.string().min(1).max(2000);
const perLanguage = z.record(langSchema, textSchema);
const nameSchema = z.string().regex(/^[a-z][a-zA-Z0-9-]{0,63}$/, 'must be a lower-case name (letters, digits, -)');

const fieldSchema = z.strictObject({
  name: nameSchema,
  type: z.enum(fieldTypes),
  required: z.boolean(),
  /** For enum fields: the controlled vocabulary the value comes from. */
  vocabulary: nameSchema.optional(),
  label: perLanguage,
});
export type TemplateField = z.infer<typeof fieldSchema>;

const templateSchema = z.strictObject({
  n: z.number().int().min(1).max(9999),
  id: nameSchema,
  title: perLanguage,
  /** The fixed sentence, per language; field values are listed after it, never spliced into it (word order differs). */
  text: perLanguage,
  fields: z.array(fieldSchema).max(40),
});
export type Template = z.infer<typeof templateSchema>;

const vocabularySchema = z.strictObject({
  source: textSchema,
  values: z.array(z.strictObject({ value: nameSchema, label: perLanguage })).min(1).max(200),
});

export const catalogueSchema = z.strictObject({
  format: z.literal('hotline-templates/1'),
  id: nameSchema,
  version: z.number().int().min(1),
  languages: z.array(langSchema).min(1).max(20),
  /** Who must review the wording before real use. */
  review: textSchema,
  /** TLP given to a notice that names none (the channel's default: the charter binds the catalogue). */
  defaultTlp: tlpSchema,
  /** Interface strings, per language: notTranslated, tlp, fields, indicators ... */
  ui: z.record(nameSchema, perLanguage),
  vocabularies: z.record(nameSchema, vocabularySchema),
  templates: z.array(templateSchema).min(1).max(500),
});
export type Catalogue = z.infer<typeof catalogueSchema>;

const requiredUi = ['notTranslated', 'tlp', 'template', 'indicators'] as const;

/** Line (1-based) of the value at `path` in a JSON text, found by walking the text: for error messages only. */
export function jsonLineOf(source: string, path: readonly (string | number)[]): number | null {
  let i = 0;
  const ws = () => { while (i < source.length && /\s/.test(source[i] as string)) i++; };
  const str = () => { i++; while (i < source.length && source[i] !== '"') i += source[i] === '\\' ? 2 : 1; i++; };
  const skip = (): void => {
    ws();
    const c = source[i];
    if (c === '"') return str();
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      for (;;) { ws(); if (source[i] === close || i >= source.length) { i++; return; } if (source[i] === ',' || source[i] === ':') { i++; continue; } skip(); }
    }
    while (i < source.length && !/[\s,\]}]/.test(source[i] as string)) i++;
  };
  for (const key of path) {
    ws();
    if (source[i] === '{') {
      i++;
      let found = false;
      while (!found) {
        ws();
        if (source[i] !== '"') return null;
        const start = i; str();
        const k = JSON.parse(source.slice(start, i)) as string;
        ws(); i++; // ':'
        if (k === String(key)) { found = true; break; }
        skip(); ws(); if (source[i] === ',') i++; else return null;
      }
    } else if (source[i] === '[') {
      i++;
      for (let n = 0; n < Number(key); n++) { skip(); ws(); if (source[i] === ',') i++; else return null; }
    } else return null;
  }
  ws();
  return source.slice(0, i).split('\n').length;
}

function fail(source: string | null, path: readonly (string | number)[], message: string): never {
  const line = source ? jsonLineOf(source, path) : null;
  const where = path.length ? path.join('.') : '(top)';
  throw new HotlineError('BAD_CATALOGUE', `${line !== null ? `line ${line}, ` : ''}field ${where}: ${message}`, { detail: { line, field: where } });
}

/** Checks what zod cannot: every language present, vocabularies named, numbers and ids unique. */
function checkCatalogue(c: Catalogue, source: string | null): Catalogue {
  const langs = c.languages;
  const full = (rec: Record<string, string>, path: (string | number)[]) => {
    for (const l of langs) if (!(l in rec)) fail(source, path, `no text in ${l}`);
    for (const l of Object.keys(rec)) if (!langs.includes(l)) fail(source, [...path, l], `${l} is not one of the catalogue's languages`);
  };
  for (const u of requiredUi) if (!c.ui[u]) fail(source, ['ui'], `the interface string ${u} is missing`);
  for (const [k, v] of Object.entries(c.ui)) full(v, ['ui', k]);
  for (const [k, v] of Object.entries(c.vocabularies)) {
    const seen = new Set<string>();
    v.values.forEach((x, i) => {
      if (seen.has(x.value)) fail(source, ['vocabularies', k, 'values', i, 'value'], `${x.value} is listed twice`);
      seen.add(x.value);
      full(x.label, ['vocabularies', k, 'values', i, 'label']);
    });
  }
  const ns = new Set<number>();
  const ids = new Set<string>();
  c.templates.forEach((t, i) => {
    if (ns.has(t.n)) fail(source, ['templates', i, 'n'], `template number ${t.n} is used twice`);
    if (ids.has(t.id)) fail(source, ['templates', i, 'id'], `template id ${t.id} is used twice`);
    ns.add(t.n); ids.add(t.id);
    full(t.title, ['templates', i, 'title']);
    full(t.text, ['templates', i, 'text']);
    const names = new Set<string>();
    t.fields.forEach((f, j) => {
      const p = ['templates', i, 'fields', j];
      if (names.has(f.name) || f.name === 'tlp') fail(source, [...p, 'name'], f.name === 'tlp' ? 'tlp is the notice\'s own label, not a field' : `field ${f.name} is listed twice`);
      names.add(f.name);
      if (f.type === 'enum' && (!f.vocabulary || !c.vocabularies[f.vocabulary])) fail(source, [...p, 'vocabulary'], `an enum field names one of the vocabularies (${Object.keys(c.vocabularies).join(', ')})`);
      if (f.type !== 'enum' && f.vocabulary !== undefined) fail(source, [...p, 'vocabulary'], 'only enum fields take a vocabulary');
      full(f.label, [...p, 'label']);
    });
  });
  return c;
}

/** Parses a catalogue from its JSON text; BAD_CATALOGUE names the line and the field of the first problem. */
export function parseCatalogue(source: string): Catalogue {
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (cause) {
    throw new HotlineError('BAD_CATALOGUE', `not JSON: ${(cause as Error).message}`, { cause });
  }
  return validated(value, source);
}

/** Checks a catalogue already parsed (e.g. from a bundle): same rules, without line numbers. */
export function checkCatalogueValue(value: unknown): Catalogue {
  return validated(value, null);
}

/** Schema, then the rules across templates; errors name the field, and its line when `source` (the JSON text) is known. */
function validated(value: unknown, source: string | null): Catalogue {
  const r = catalogueSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    fail(source, issue?.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) ?? [], issue?.message ?? 'invalid');
  }
  return checkCatalogue(r.data, source);
}

/** The hash a charter's `templates` field holds: over the canonical JSON (RFC 8785), so formatting does not count. */
export function catalogueHash(c: Catalogue): string {
  return canonicalHash({ ctx: 'hotline-templates-v1', catalogue: c });
}

export function templateById(c: Catalogue, id: string): Template | undefined {
  return c.templates.find((t) => t.id === id);
}
