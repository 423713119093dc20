// The authority's own record of what it signed, as plain JSON under HOTLINE_HOME/authority/: every version of its
// state's roster, and every version of each channel's charter (half signed while the other authority has not signed).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  charterHash,
  HotlineError,
  missingCharterSignatures,
  signedCharterSchema,
  signedRosterSchema,
  rosterHash,
  verifyCharter,
  verifyCharterChain,
  verifyRosterChain,
  type SignedCharter,
  type SignedRoster,
} from '../../shared/index.ts';
import { ensurePrivateDir, errnoCode, ioError, writeFileAtomic } from './atomic-file.ts';

/** HOTLINE_HOME/authority: the folder of the authority's records. */
export function authorityDocsDir(home: string): string {
  return path.join(home, 'authority');
}

/** Where version `version` of `state`'s roster is kept: authority/rosters/<STATE>-v<N>.json. */
export function rosterFile(home: string, state: string, version: number): string {
  return path.join(authorityDocsDir(home), 'rosters', `${state}-v${version}.json`);
}

/** Where version `version` of `channel`'s charter is kept: authority/charters/<A-B>-v<N>.json. */
export function charterFile(home: string, channel: string, version: number): string {
  return path.join(authorityDocsDir(home), 'charters', `${channel}-v${version}.json`);
}

/** Keeps a roster version this authority signed; a version once kept is never replaced (CONFLICT). Returns its path. */
export function saveRoster(home: string, doc: SignedRoster): string {
  const file = rosterFile(home, doc.roster.state, doc.roster.version);
  ensurePrivateDir(path.dirname(file));
  try {
    writeFileAtomic(file, documentText(doc), 'create');
  } catch (cause) {
    if (cause instanceof HotlineError && cause.code === 'CONFLICT') {
      throw new HotlineError('CONFLICT', `roster ${doc.roster.state} v${doc.roster.version} is already on record in ${file}; a signed version is never replaced`);
    }
    throw cause;
  }
  return file;
}

/**
 * Every roster version of `state` on record, oldest first, each verified against `authority` and checked to extend
 * the one before (a record someone altered is refused with TRUST_INVALID or TRUST_FORK, never used).
 */
export function rosterHistory(home: string, state: string, authority: string): SignedRoster[] {
  const docs = versionsIn(path.join(authorityDocsDir(home), 'rosters'), state).map(({ file }) => readDocument(file));
  try {
    const chain = verifyRosterChain(null, docs, authority);
    const stray = chain.find((d) => d.roster.state !== state);
    if (stray) throw new HotlineError('TRUST_INVALID', `a roster of ${stray.roster.state} is filed under ${state}`);
    return chain;
  } catch (cause) {
    if (cause instanceof HotlineError) {
      throw new HotlineError(cause.code, `the roster record in ${authorityDocsDir(home)} does not check out: ${cause.message}`, { cause });
    }
    throw cause;
  }
}

/** The newest roster version of `state` on record (verified as in rosterHistory), or null before the first. */
export function newestRoster(home: string, state: string, authority: string): SignedRoster | null {
  return rosterHistory(home, state, authority).at(-1) ?? null;
}

/**
 * Keeps a charter version. A half-signed version (a proposal) may be replaced, by a new proposal of that version or
 * by the fully signed charter; a fully signed one never is, except by itself (CONFLICT). Returns its path.
 */
export function saveCharter(home: string, doc: SignedCharter): string {
  const file = charterFile(home, doc.charter.channel, doc.charter.version);
  ensurePrivateDir(path.dirname(file));
  const held = readCharterFile(file);
  if (held && missingCharterSignatures(held).length === 0) {
    if (charterHash(held.charter) === charterHash(doc.charter)) return file;
    throw new HotlineError('CONFLICT', `${doc.charter.channel} v${doc.charter.version} is already on record, signed by both authorities, with other terms (${file})`);
  }
  writeFileAtomic(file, documentText(doc), 'replace');
  return file;
}

/** Every charter version of `channel` on record, oldest first, as kept (half-signed ones included; not verified). */
export function charterVersions(home: string, channel: string): SignedCharter[] {
  return versionsIn(path.join(authorityDocsDir(home), 'charters'), channel).map(({ file }) => parseCharter(file, readDocument(file)));
}

/** The newest charter of `channel` on record that both authorities signed, verified; null when there is none. */
export function newestSignedCharter(home: string, channel: string): SignedCharter | null {
  const signed = charterVersions(home, channel).filter((d) => missingCharterSignatures(d).length === 0);
  const newest = signed.at(-1);
  if (!newest) return null;
  try {
    return verifyCharter(newest);
  } catch (cause) {
    if (cause instanceof HotlineError) {
      throw new HotlineError(cause.code, `the charter record ${charterFile(home, channel, newest.charter.version)} does not check out: ${cause.message}`, { cause });
    }
    throw cause;
  }
}

/**
 * The roster versions on record up to `doc` (it last), verified as a chain, for a relay that missed some of them;
 * just [doc] when the record in `home` does not hold it.
 */
export function rosterChainTo(home: string, doc: SignedRoster): SignedRoster[] {
  let history: SignedRoster[];
  try {
    history = rosterHistory(home, doc.roster.state, doc.roster.authority);
  } catch {
    return [doc];
  }
  const at = history.findIndex((d) => d.roster.version === doc.roster.version);
  const held = history[at];
  if (!held || rosterHash(held.roster) !== rosterHash(doc.roster)) return [doc];
  return history.slice(0, at + 1);
}

/** As rosterChainTo, for the charter versions both authorities signed. */
export function charterChainTo(home: string, doc: SignedCharter): SignedCharter[] {
  let chain: SignedCharter[];
  try {
    const signed = charterVersions(home, doc.charter.channel).filter((d) => missingCharterSignatures(d).length === 0 && d.charter.version <= doc.charter.version);
    chain = verifyCharterChain(null, signed);
  } catch {
    return [doc];
  }
  const last = chain.at(-1);
  if (!last || last.charter.version !== doc.charter.version || charterHash(last.charter) !== charterHash(doc.charter)) return [doc];
  return chain;
}

/** The channels this authority holds a charter (or a proposal) of. */
export function recordedChannels(home: string): string[] {
  const dir = path.join(authorityDocsDir(home), 'charters');
  return [...new Set(listDir(dir).map((name) => /^([A-Z0-9]+-[A-Z0-9]+)-v\d+\.json$/.exec(name)?.[1]).filter((c): c is string => c !== undefined))].sort();
}

/** Reads and parses a JSON file a person names (a proposal, a signed charter or roster). */
export function readDocument(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') throw new HotlineError('NOT_FOUND', `no file ${file}`);
    throw ioError(`cannot read ${file}`, cause);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HotlineError('BAD_INPUT', `${file} is not JSON`);
  }
}

/** Parses a (possibly half-signed) charter file; TRUST_INVALID naming the file and the first problem. */
export function parseCharter(file: string, value: unknown): SignedCharter {
  const parsed = signedCharterSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HotlineError('TRUST_INVALID', `${file} is not a charter (${issue ? `${issue.path.join('.') || 'document'}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data;
}

/** Parses a roster file without checking whose signature it carries; TRUST_INVALID naming the file. */
export function parseRoster(file: string, value: unknown): SignedRoster {
  const parsed = signedRosterSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HotlineError('TRUST_INVALID', `${file} is not a signed roster (${issue ? `${issue.path.join('.') || 'document'}: ${issue.message}` : 'invalid'})`);
  }
  return parsed.data;
}

/** Writes a document a person asked for (--out, a proposal file) atomically, replacing what is there. */
export function writeDocument(file: string, doc: unknown, mode: 'create' | 'replace' = 'replace'): void {
  writeFileAtomic(file, documentText(doc), mode);
}

function documentText(doc: unknown): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function readCharterFile(file: string): SignedCharter | null {
  if (!fs.existsSync(file)) return null;
  return parseCharter(file, readDocument(file));
}

function versionsIn(dir: string, subject: string): { version: number; file: string }[] {
  const prefix = `${subject}-v`;
  return listDir(dir)
    .filter((name) => name.startsWith(prefix) && name.endsWith('.json'))
    .map((name) => ({ version: Number(name.slice(prefix.length, -'.json'.length)), file: path.join(dir, name) }))
    .filter(({ version }) => Number.isSafeInteger(version) && version >= 1)
    .sort((a, b) => a.version - b.version);
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (cause) {
    if (errnoCode(cause) === 'ENOENT') return [];
    throw ioError(`cannot read ${dir}`, cause);
  }
}
