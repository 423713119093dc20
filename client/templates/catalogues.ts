// The template catalogues this PoC holds: the shipped ones (catalogues/ in the repository) and those in HOTLINE_CATALOGUES, found by hash.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogueHash, HotlineError, parseCatalogue, type Catalogue } from '../../shared/index.ts';

export interface HeldCatalogue {
  readonly hash: string;
  readonly file: string;
  readonly catalogue: Catalogue;
}

let shippedDir: string | null = null;

/** The shipped catalogues' folder: catalogues/ at the repository root (also next to the CLI bundle); looked up once. */
export function shippedCatalogueDir(): string {
  if (shippedDir !== null) return shippedDir;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../catalogues'), resolve(here, '../catalogues'), resolve(here, 'catalogues')];
  shippedDir = candidates.find((c) => existsSync(c)) ?? candidates[0]!;
  return shippedDir;
}

const cache = new Map<string, HeldCatalogue[]>();

/** Every catalogue held: the shipped folder, then each folder or file of HOTLINE_CATALOGUES (colon-separated). */
export function heldCatalogues(env: NodeJS.ProcessEnv = process.env): HeldCatalogue[] {
  const key = `${shippedCatalogueDir()}:${env.HOTLINE_CATALOGUES ?? ''}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const files: string[] = [];
  for (const entry of key.split(':').filter(Boolean)) {
    if (!existsSync(entry)) continue;
    if (entry.endsWith('.json')) files.push(entry);
    else for (const f of readdirSync(entry).sort()) if (f.endsWith('.json')) files.push(join(entry, f));
  }
  const held: HeldCatalogue[] = [];
  for (const file of files) {
    let catalogue: Catalogue;
    try {
      catalogue = parseCatalogue(readFileSync(file, 'utf8'));
    } catch (cause) {
      const e = cause instanceof HotlineError ? cause : new HotlineError('BAD_CATALOGUE', String(cause));
      throw new HotlineError('BAD_CATALOGUE', `${file}: ${e.message}`, { cause, detail: e.detail as Record<string, unknown> });
    }
    const hash = catalogueHash(catalogue);
    if (!held.some((h) => h.hash === hash)) held.push({ hash, file, catalogue });
  }
  cache.set(key, held);
  return held;
}

export function catalogueByHash(hash: string | null, env: NodeJS.ProcessEnv = process.env): Catalogue | null {
  if (hash === null) return null;
  return heldCatalogues(env).find((h) => h.hash === hash)?.catalogue ?? null;
}
