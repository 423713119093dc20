// `hotline templates list | show`, and the --template/--field/--tlp options `hotline send` takes.
import type { Command } from 'commander';
import { formSpec, HotlineError, initCrypto, parseTlp, type Tlp } from '../../shared/index.ts';
import { heldCatalogues } from '../templates/catalogues.ts';
import { readerLanguage } from '../templates/template-view.ts';
import { fail, output } from './context.ts';

/** `--field k=v` (repeatable) into a record; `tlp=…` is the notice's own label. */
export function parseFields(pairs: readonly string[], tlpOption: string | undefined): { fields: Record<string, string>; tlp: Tlp | undefined } {
  const fields: Record<string, string> = {};
  let tlp = tlpOption === undefined ? undefined : parseTlp(tlpOption);
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new HotlineError('BAD_INPUT', `--field "${p}" is not NAME=VALUE`);
    const [k, v] = [p.slice(0, eq).trim(), p.slice(eq + 1)];
    if (k === 'tlp') tlp = parseTlp(v);
    else if (k in fields) throw new HotlineError('BAD_INPUT', `--field ${k} is given twice`);
    else fields[k] = v;
  }
  return { fields, tlp };
}

export function registerTemplateCommands(program: Command): void {
  const templates = program.command('templates').description('the template catalogues held here (shipped ones and HOTLINE_CATALOGUES), read in HOTLINE_LANG');
  templates
    .command('list')
    .description('each catalogue with its hash (what a charter binds) and its numbered templates')
    .option('--lang <tag>', 'language to show titles in (default HOTLINE_LANG)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { lang?: string; json?: boolean }) => {
      try {
        await initCrypto();
        const lang = opts.lang ?? readerLanguage();
        const held = heldCatalogues();
        const rows = held.map((h) => ({
          id: h.catalogue.id, version: h.catalogue.version, hash: h.hash, file: h.file, languages: h.catalogue.languages, defaultTlp: h.catalogue.defaultTlp,
          templates: h.catalogue.templates.map((t) => ({ n: t.n, id: t.id, title: formSpec(h.catalogue, t.id, lang).title })),
        }));
        output(opts, rows, () => rows.map((r) => [
          `${r.id} v${r.version}  hash ${r.hash}  (${r.languages.join(', ')}; default ${r.defaultTlp})`,
          ...r.templates.map((t) => `  ${String(t.n).padStart(3)}  ${t.id.padEnd(28)} ${t.title}`),
        ].join('\n')).join('\n') || 'no template catalogue held');
      } catch (e) {
        fail('templates list', e, !!opts.json);
      }
    });
  templates
    .command('show')
    .description('a template\'s fixed text and fields (type, required, choices) in a language')
    .argument('<id>', 'template id, e.g. incident-notification')
    .option('--lang <tag>', 'language (default HOTLINE_LANG)')
    .option('--json', 'machine-readable output (the form spec the console builds its compose form from)')
    .action(async (id: string, opts: { lang?: string; json?: boolean }) => {
      try {
        await initCrypto();
        const h = heldCatalogues().find((x) => x.catalogue.templates.some((t) => t.id === id));
        if (!h) throw new HotlineError('TEMPLATE_REFUSED', `no catalogue held here has a template "${id}": see \`hotline templates list\``);
        const spec = formSpec(h.catalogue, id, opts.lang ?? readerLanguage());
        output(opts, { catalogue: h.hash, ...spec }, () => [
          `[${spec.n}] ${spec.title}  (${spec.id}, ${spec.lang}; TLP default ${spec.tlp.default})`,
          `  ${spec.sentence}`,
          ...spec.fields.map((f) => `  --field ${f.name}=…  ${f.type}${f.required ? ', required' : ''}  ${f.label}${f.choices ? `\n      ${f.choices.map((c) => `${c.value} (${c.label})`).join(', ')}` : ''}`),
          '  --field tlp=RED|AMBER+STRICT|AMBER|GREEN|CLEAR',
        ].join('\n'));
      } catch (e) {
        fail('templates show', e, !!opts.json);
      }
    });
}
