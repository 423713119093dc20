// The client's two template checks: building a notice's content against the channel's bound catalogue, and refusing an incoming one outside it.
import { buildTemplateRef, checkIncomingTemplate, HotlineError, type Content, type Tlp } from '../../shared/index.ts';
import { catalogueByHash } from './catalogues.ts';

/** The encrypted content of a notice: subject, text, TLP (the channel's default when none is given) and the template part. */
export function templateContent(
  bound: string | null,
  input: { readonly subject?: string | null; readonly text: string; readonly tlp?: Tlp; readonly template?: { readonly id: string; readonly fields: Readonly<Record<string, string>> } },
): Content {
  const catalogue = catalogueByHash(bound);
  const tlp = input.tlp ?? catalogue?.defaultTlp ?? 'TLP:AMBER';
  if (!input.template) return { subject: input.subject ?? null, text: input.text, tlp };
  if (bound === null) throw new HotlineError('TEMPLATE_REFUSED', 'the charter of this channel binds no template catalogue: both authorities must bind one (`hotline charter propose --templates FILE`) before template notices');
  if (!catalogue) throw new HotlineError('TEMPLATE_REFUSED', `the charter binds catalogue ${bound.slice(0, 12)}…, which this PoC does not hold: put its file in HOTLINE_CATALOGUES`);
  return { subject: input.subject ?? null, text: input.text, tlp, template: buildTemplateRef(catalogue, bound, input.template.id, input.template.fields) };
}

/** Throws TEMPLATE_REFUSED or BAD_TEMPLATE_FIELD when an incoming notice's template is not one the charter's catalogue holds. */
export function checkIncomingContent(bound: string | null, content: Content): void {
  if (!content.template) return;
  checkIncomingTemplate({ hash: bound, catalogue: catalogueByHash(bound) }, content.template);
}
