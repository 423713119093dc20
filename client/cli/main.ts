// The `hotline` command line (every command but `relay`, which bin/hotline.js hands to server/).
import { Command } from 'commander';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { registerAdminCommands } from './admin-commands.ts';
import { keyIdsAsOperands } from './argv.ts';
import { registerAuthorityCommands } from './authority-commands.ts';
import { registerCheckCommands } from './check-commands.ts';
import { takePassphrases } from './context.ts';
import { registerDrillCommands } from './drill-commands.ts';
import { registerIdentityCommands } from './identity-commands.ts';
import { registerMessageCommands } from './message-commands.ts';
import { registerReviewCommands } from './review-commands.ts';
import { registerTemplateCommands } from './template-commands.ts';
import { registerWitnessCommands } from './witness-commands.ts';

// Everything this process writes under HOTLINE_HOME (history with plaintext, profile) is for this user only.
process.umask(0o077);
// Passphrases leave the environment before anything runs: no child process inherits them (kept in memory, read once).
takePassphrases();

/** The version in package.json, which `hotline --version` prints. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

const program = new Command('hotline')
  .description('Hotline: end-to-end encrypted, signed notices between states, with acknowledgement deadlines.')
  .version(packageVersion(), '-V, --version', 'print the version of hotline')
  .showHelpAfterError('(run with --help for usage)')
  .option('--ca <file>', 'trust the CA certificate(s) in this PEM file for wss:// and https:// relays (a private CA); same as HOTLINE_CA')
  .addHelpText(
    'after',
    `
Environment:
  HOTLINE_HOME        this PoC's state dir (default ~/.hotline)
  HOTLINE_PASSPHRASE  unlocks the keyfile (or HOTLINE_PASSPHRASE_FILE naming a file; asked on a terminal when unset)
  HOTLINE_RELAY       relay URL, e.g. ws://127.0.0.1:7300 or wss://relay.example:7300 (several, comma-separated)
  HOTLINE_CA          PEM file of a private CA that signed a relay's TLS certificate (as --ca)
  HOTLINE_ADMIN_TOKEN admin token for \`hotline admin\`
  HOTLINE_DATA        relay data dir (default ./.hotline-relay)

Relay: hotline relay [--host H] [--port P] [--data DIR]   (see hotline relay --help)`,
  );
// --ca goes where every relay call (relay-http.ts relayTls) reads it, before any command runs.
program.hook('preAction', () => {
  const ca = program.opts<{ ca?: string }>().ca;
  if (ca !== undefined) process.env.HOTLINE_CA = resolve(ca);
});
program.command('relay').description('run the relay (WebSocket + HTTP on one port); see hotline relay --help');

registerIdentityCommands(program);
registerMessageCommands(program);
registerAdminCommands(program);
registerReviewCommands(program);
registerCheckCommands(program);
registerDrillCommands(program);
registerAuthorityCommands(program);
registerWitnessCommands(program);
registerTemplateCommands(program);

// A key id that starts with "-" is an operand, not an option (argv.ts).
await program.parseAsync(keyIdsAsOperands(process.argv, program));
