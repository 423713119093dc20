#!/usr/bin/env node
// The `hotline` command. `relay` runs server/ under the TypeScript loader (tsx). Every other command runs client/cli
// from one ES module esbuild bundles from client/ and shared/ (kept in node_modules/.hotline-cli, rebuilt whenever a
// source file changes): a duty officer's `hotline ack` starts in about a third of the time tsx takes to load the
// same files one by one. If the bundle cannot be made (a read-only install, say), the sources run under tsx.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time and the number of the .ts files under client/ and shared/: what the bundle is made of. */
function sourceStamp() {
  let newest = 0;
  let count = 0;
  for (const dir of ['client', 'shared']) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      count += 1;
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return `${newest} ${count}`;
}

/** The bundle's file URL, made first if the sources changed since; null when it cannot be made. */
async function cliBundle() {
  try {
    // Two levels below the root, as client/cli/main.ts is: its relative paths (../../package.json) hold in the bundle.
    const dir = join(root, 'node_modules', '.hotline-cli');
    const bundle = join(dir, 'cli.mjs');
    const stampFile = join(dir, 'cli.stamp');
    const stamp = sourceStamp();
    let built = null;
    try {
      built = readFileSync(stampFile, 'utf8');
    } catch {
      // not built yet
    }
    if (built !== stamp) {
      const { build } = await import('esbuild');
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `cli.${process.pid}.mjs`);
      await build({
        entryPoints: [join(root, 'client', 'cli', 'main.ts')],
        outfile: tmp,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        logLevel: 'silent',
      });
      // Another process may build at the same time: each renames a complete file into place.
      renameSync(tmp, bundle);
      writeFileSync(join(dir, `cli.${process.pid}.stamp`), stamp);
      renameSync(join(dir, `cli.${process.pid}.stamp`), stampFile);
    }
    return pathToFileURL(bundle).href;
  } catch {
    return null;
  }
}

const [command] = process.argv.slice(2);
const bundle = command === 'relay' || process.env.HOTLINE_NO_BUNDLE ? null : await cliBundle();
if (bundle) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(command === 'relay' ? '../server/relay-command.ts' : '../client/cli/main.ts');
}
