// `hotline witness export`: the witness statements this PoC signed about the relays' audit heads, as a file a verifier checks bundles against.
import type { Command } from 'commander';
import { witnessFileOf, writeWitnessFile } from '../evidence/witness-file.ts';
import { fail, hotlineHome, output } from './context.ts';

export function registerWitnessCommands(program: Command): void {
  const witness = program.command('witness').description('witness statements: the relay audit heads this PoC signed that it saw');
  witness
    .command('export')
    .description('write every witness statement of this PoC as a hotline-witness-v1 file (for `hotline verify BUNDLE --witness FILE`)')
    .option('--out <file>', 'write the file here (default: print it on stdout)')
    .option('--json', 'with --out, print {out, kid, state, statements} instead of a sentence')
    .action((opts: { out?: string; json?: boolean }) => {
      try {
        // No passphrase needed: the statements are public and signed already; they are read from the history only.
        const file = witnessFileOf(hotlineHome());
        const text = JSON.stringify(file, null, 2) + '\n';
        if (opts.out === undefined) {
          process.stdout.write(text);
          return;
        }
        writeWitnessFile(opts.out, file);
        const relays = new Set(file.statements.map((s) => s.relay)).size;
        output(opts, { out: opts.out, kid: file.kid, state: file.state, statements: file.statements.length }, () =>
          `wrote ${opts.out}: ${file.statements.length} witness statement(s) of ${file.kid.slice(0, 10)}… (${file.state}) about ${relays} relay(s)`,
        );
      } catch (e) {
        fail('witness export', e, !!opts.json);
      }
    });
}
