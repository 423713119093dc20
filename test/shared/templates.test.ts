// Templates and languages: every shipped template in every language, cross-language reading, STIX refusals, TLP:RED alert view.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  alertSafeView, buildTemplateRef, catalogueHash, checkIncomingTemplate, contentSchema, formSpec, HotlineError, parseCatalogue,
  initCrypto, previewNotice, renderedLines, renderTemplateNotice, validateStixBundle, type Catalogue, type TemplateField,
} from '../../shared/index.ts';

const source = readFileSync(new URL('../../catalogues/default.json', import.meta.url), 'utf8');
const catalogue = parseCatalogue(source);
await initCrypto();
const hash = catalogueHash(catalogue);

const stix = JSON.stringify({
  type: 'bundle', id: 'bundle--5d0092c5-5f74-4287-9642-33f4c354e56d',
  objects: [{
    type: 'indicator', spec_version: '2.1', id: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',
    created: '2026-12-03T10:00:00Z', modified: '2026-12-03T10:00:00Z', name: 'C2 server',
    pattern: "[ipv4-addr:value = '198.51.100.7']", pattern_type: 'stix', valid_from: '2026-12-03T10:00:00Z',
  }],
});

/** A valid sample value for each field type. */
function sample(c: Catalogue, f: TemplateField): string {
  switch (f.type) {
    case 'text': return `Free text for ${f.name}: 停电 / отключение`;
    case 'enum': return c.vocabularies[f.vocabulary as string]!.values[0]!.value;
    case 'datetime': return '2026-12-03T10:15Z';
    case 'duration': return 'PT2H30M';
    case 'ip': return '198.51.100.0/24';
    case 'domain': return 'update-check.example.net';
    case 'hash': return 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    case 'url': return 'https://update-check.example.net/a.bin';
    case 'stix': return stix;
    case 'tlp': return 'TLP:GREEN';
  }
}

function err(f: () => unknown): HotlineError {
  try { f(); } catch (e) { if (e instanceof HotlineError) return e; throw e; }
  throw new Error('did not throw');
}

describe('the default catalogue', () => {
  it('has the six templates the issue asks for, in six languages, with ENISA incident classes', () => {
    expect(catalogue.templates.map((t) => t.id)).toEqual(['incident-notification', 'request-for-assistance', 'request-for-information', 'status-update', 'stand-down', 'communication-check-answer']);
    expect(catalogue.languages).toEqual(['en', 'zh-Hans', 'ja', 'ru', 'fr', 'es']);
    expect(catalogue.vocabularies['incident-type']!.source).toMatch(/ENISA Reference Incident Classification Taxonomy/);
    expect(catalogue.review).toMatch(/reviewed by its foreign-ministry translation service/);
  });

  it('round-trips every template in every language: fields identical after the encrypted-body schema, text per language', () => {
    for (const t of catalogue.templates) {
      const fields = Object.fromEntries(t.fields.map((f) => [f.name, sample(catalogue, f)]));
      const ref = buildTemplateRef(catalogue, hash, t.id, fields);
      // What travels: JSON inside the content, parsed back by the reader.
      const wire = contentSchema.parse(JSON.parse(JSON.stringify({ subject: null, text: '', tlp: 'TLP:AMBER', template: ref })));
      expect(checkIncomingTemplate({ hash, catalogue }, wire.template!)).toBe(t);
      const seen = new Set<string>();
      for (const lang of catalogue.languages) {
        const r = renderTemplateNotice(catalogue, wire.template!, 'TLP:AMBER', lang);
        expect(r.lang).toBe(lang);
        expect(r.template.title).toBe(t.title[lang]);
        expect(r.sentence).toBe(t.text[lang]);
        expect(r.fields.map((f) => [f.name, f.value])).toEqual(t.fields.map((f) => [f.name, ref.fields[f.name]]));
        expect(r.fields.map((f) => f.label)).toEqual(t.fields.map((f) => f.label[lang]));
        const lines = renderedLines(r).join('\n');
        expect(lines).toContain('TLP:AMBER');
        seen.add(r.sentence);
      }
      expect(seen.size).toBe(6);
    }
  });

  it('a US PoC (en) notice reads in Chinese and Japanese with identical fields; free text marked not translated; TLP in original form', () => {
    const ref = buildTemplateRef(catalogue, hash, 'incident-notification', {
      type: 'malicious-code', sector: 'energy', detectedAt: '2026-12-03T09:40Z', summary: 'Wiper found on two substations', indicators: stix,
    });
    const { views } = previewNotice(catalogue, hash, 'incident-notification', ref.fields, 'TLP:AMBER+STRICT', ['en', 'zh-Hans']);
    const zh = renderTemplateNotice(catalogue, ref, 'TLP:AMBER+STRICT', 'zh-Hans');
    const ja = renderTemplateNotice(catalogue, ref, 'TLP:AMBER+STRICT', 'ja_JP.UTF-8');
    expect(views[1]).toEqual(zh);
    expect(ja.lang).toBe('ja');
    expect(zh.fields.map((f) => f.value)).toEqual(ja.fields.map((f) => f.value));
    expect(zh.fields.map((f) => f.value)).toEqual(views[0]!.fields.map((f) => f.value));
    expect(zh.template.title).toBe('事件通报');
    expect(ja.template.title).toBe('インシデント通知');
    expect(zh.fields.find((f) => f.name === 'type')!.display).toBe('恶意代码');
    expect(ja.fields.find((f) => f.name === 'sector')!.display).toBe('エネルギー');
    const zhText = renderedLines(zh).join('\n');
    expect(zhText).toContain('概述 [未翻译]:');
    expect(zhText).toContain('Wiper found on two substations');
    expect(zhText).toContain('TLP:AMBER+STRICT');
    expect(renderedLines(ja).join('\n')).toContain("[ipv4-addr:value = '198.51.100.7']");
  });

  it('the form spec lists fields, types, labels and choices in the reader\'s language', () => {
    const f = formSpec(catalogue, 'status-update', 'ru');
    expect(f.title).toBe('Сообщение о текущем положении');
    expect(f.fields[0]).toMatchObject({ name: 'status', type: 'enum', required: true, label: 'Состояние' });
    expect(f.fields[0]!.choices!.map((c) => c.value)).toContain('resolved');
    expect(f.tlp.default).toBe('TLP:AMBER');
  });
});

describe('refusals', () => {
  it('a template outside the catalogue, another catalogue, a wrong number or an unknown field is refused with the reason', () => {
    const ok = buildTemplateRef(catalogue, hash, 'stand-down', { effectiveAt: '2026-12-03T12:00Z' });
    expect(err(() => checkIncomingTemplate({ hash, catalogue }, { ...ok, id: 'ultimatum' })).message).toMatch(/"ultimatum" is not in the channel's catalogue/);
    expect(err(() => checkIncomingTemplate({ hash, catalogue }, { ...ok, catalogue: 'A'.repeat(43) })).message).toMatch(/not the catalogue the charter binds/);
    expect(err(() => checkIncomingTemplate({ hash: null, catalogue: null }, ok)).message).toMatch(/binds no template catalogue/);
    expect(err(() => checkIncomingTemplate({ hash, catalogue }, { ...ok, n: 1 })).code).toBe('TEMPLATE_REFUSED');
    expect(err(() => checkIncomingTemplate({ hash, catalogue }, { ...ok, fields: { ...ok.fields, threat: 'x' } })).code).toBe('BAD_TEMPLATE_FIELD');
    expect(err(() => buildTemplateRef(catalogue, hash, 'stand-down', {})).message).toMatch(/requires the field effectiveAt/);
  });

  it('typed fields are checked: enum vocabulary, date-time, duration, IP/CIDR, domain, hash, URL', () => {
    const base = { type: 'fraud', detectedAt: '2026-12-03T10:00Z', summary: 's' };
    const bad = (k: string, v: string) => err(() => buildTemplateRef(catalogue, hash, 'incident-notification', { ...base, [k]: v })).detail.field;
    expect(bad('type', 'cyberwar')).toBe('type');
    expect(bad('detectedAt', 'yesterday')).toBe('detectedAt');
    expect(bad('address', '300.1.1.1')).toBe('address');
    expect(bad('address', '10.0.0.0/33')).toBe('address');
    expect(bad('domain', '-bad-.example')).toBe('domain');
    expect(bad('fileHash', 'abc123')).toBe('fileHash');
    expect(bad('url', 'javascript:alert(1)')).toBe('url');
    expect(buildTemplateRef(catalogue, hash, 'incident-notification', { ...base, address: '2001:DB8::/32' }).fields.address).toBe('2001:db8::/32');
    expect(err(() => buildTemplateRef(catalogue, hash, 'status-update', { status: 'resolved', nextUpdateIn: '2 hours' })).detail.field).toBe('nextUpdateIn');
  });

  it('a malformed STIX bundle is refused with the field named', () => {
    const b = JSON.parse(stix) as { id: string; objects: Record<string, unknown>[] };
    const named = (mutate: (x: typeof b) => void) => {
      const copy = JSON.parse(stix) as typeof b;
      mutate(copy);
      return err(() => validateStixBundle(JSON.stringify(copy))).message;
    };
    expect(named((x) => { x.id = 'bundle--nope'; })).toMatch(/STIX bundle: id:/);
    expect(named((x) => { delete x.objects[0]!.pattern; })).toMatch(/objects\[0\]\.pattern: required for indicator/);
    expect(named((x) => { x.objects[0]!.id = 'malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f'; })).toMatch(/objects\[0\]\.id: the id's type prefix/);
    expect(named((x) => { x.objects[0]!.type = 'weapon'; })).toMatch(/objects\[0\]\.type/);
    expect(named((x) => { x.objects[0]!.valid_from = 'today'; })).toMatch(/objects\[0\]\.valid_from/);
    expect(named((x) => { x.objects[0]!.spec_version = '2.0'; })).toMatch(/objects\[0\]\.spec_version/);
    expect(err(() => buildTemplateRef(catalogue, hash, 'status-update', { status: 'resolved', indicators: '{"type":"bundle"}' })).message).toMatch(/STIX bundle: id/);
    expect(validateStixBundle(stix).indicators).toHaveLength(1);
    expect(b.objects).toHaveLength(1);
  });

  it('a catalogue with a mistake is refused with its line and field', () => {
    const broken = source.replace('"type": "datetime"', '"type": "date"');
    const e = err(() => parseCatalogue(broken));
    expect(e.code).toBe('BAD_CATALOGUE');
    const line = broken.split('\n').findIndex((l) => l.includes('"type": "date"')) + 1;
    expect(e.message).toMatch(new RegExp(`^line ${line}, field templates\\.0\\.fields\\.2\\.type`));
    const missing = JSON.parse(source) as Catalogue;
    delete (missing.templates[3]!.text as Record<string, string>).ja;
    expect(err(() => parseCatalogue(JSON.stringify(missing, null, 2))).message).toMatch(/field templates\.3\.text: no text in ja/);
  });
});

describe('TLP', () => {
  it('alertSafeView strips text, subject and template of a TLP:RED notice, keeps them otherwise', () => {
    const ref = buildTemplateRef(catalogue, hash, 'request-for-information', { question: 'Who holds 198.51.100.7?' });
    const red = alertSafeView({ id: 'x', level: 'FLASH', tlp: 'TLP:RED' as const, subject: 'secret subject', text: 'secret text', template: ref });
    expect(red).toMatchObject({ id: 'x', level: 'FLASH', tlp: 'TLP:RED', subject: null, text: null, template: null, withheld: true });
    expect(JSON.stringify(red)).not.toMatch(/secret|198\.51/);
    const amber = alertSafeView({ id: 'y', subject: 's', text: 't', template: ref });
    expect(amber).toMatchObject({ tlp: 'TLP:AMBER', text: 't', template: { id: 'request-for-information', n: 3 }, withheld: false });
    expect(JSON.stringify(amber)).not.toContain('198.51');
  });
});
