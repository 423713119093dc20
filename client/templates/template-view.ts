// How a PoC reads a notice's template and TLP: in HOTLINE_LANG, from the catalogue it names (held here by hash).
import { renderedLines, renderTemplateNotice, type RenderedNotice, type TemplateRef, type Tlp } from '../../shared/index.ts';
import { catalogueByHash } from './catalogues.ts';

/** The reader's language: HOTLINE_LANG, else LANG (e.g. ja_JP.UTF-8), else English. */
export function readerLanguage(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOTLINE_LANG ?? env.LANG ?? 'en';
}

export function renderHeld(m: { readonly template?: TemplateRef | null; readonly tlp?: Tlp | null }, lang = readerLanguage()): RenderedNotice | null {
  if (!m.template) return null;
  const c = catalogueByHash(m.template.catalogue);
  return c ? renderTemplateNotice(c, m.template, m.tlp ?? 'TLP:AMBER', lang) : null;
}

/** The lines a text view prints for a notice's TLP and template (free text marked "not translated"). */
export function templateLines(m: { readonly template?: TemplateRef | null; readonly tlp?: Tlp | null }, lang = readerLanguage()): string[] {
  if (!m.template) return m.tlp ? [m.tlp] : [];
  const r = renderHeld(m, lang);
  if (!r) return [`${m.tlp ?? 'TLP:AMBER'}  template ${m.template.id} (catalogue ${m.template.catalogue.slice(0, 12)}… not held here)`];
  return renderedLines(r);
}
