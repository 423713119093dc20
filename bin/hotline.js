#!/usr/bin/env node
// The `hotline` command: registers the TypeScript loader, then hands `relay` to server/ and everything else to client/.
import { register } from 'tsx/esm/api';

register();
const [command] = process.argv.slice(2);
if (command === 'relay') {
  await import('../server/relay-command.ts');
} else {
  await import('../client/cli/main.ts');
}
