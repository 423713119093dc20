// `hotline verify BUNDLE [BUNDLE2]`: the offline verdict on export bundles (good, bad, not verifiable), witness statements compared, and two relays' bundles cross-checked.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  assessBundle,
  bundleStatusExit,
  compareBundles,
  comparisonLines,
  HotlineError,
  initCrypto,
  keyIdSchema,
  parseReviewBundle,
  toHotlineError,
  type BundleAssessment,
  type BundleStatus,
  type WitnessStatement,
} from '../../shared/index.ts';
import { readProfile } from '../profile.ts';
import { parseWitnessFile, readWitnessStatements } from '../evidence/witness-file.ts';
import { fail, hotlineHome } from './context.ts';

interface VerifyOptions {
  relayKey: string[];
  authority: string[];
  witness: string[];
  json?: boolean;
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new HotlineError('NOT_FOUND', `cannot read ${file}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HotlineError('BAD_SCHEMA', `${file} is not JSON: the ${what} is damaged`, { cause });
  }
}

/** Witness statements from a file written by `hotline witness export`, or from a PoC's HOTLINE_HOME directly. */
function loadWitnesses(paths: readonly string[]): WitnessStatement[] {
  const out: WitnessStatement[] = [];
  for (const path of paths) {
    if (!existsSync(path)) throw new HotlineError('NOT_FOUND', `--witness ${path}: no such file or directory`);
    if (statSync(path).isDirectory()) {
      out.push(...readWitnessStatements(path));
      continue;
    }
    try {
      out.push(...parseWitnessFile(readJson(path, 'witness file')));
    } catch (cause) {
      throw new HotlineError('BAD_INPUT', `--witness ${path}: ${toHotlineError(cause).message} (hotline witness export writes one)`, { cause });
    }
  }
  return out;
}

function parseAuthorities(pins: readonly string[]): Record<string, string> {
  const authorities: Record<string, string> = {};
  for (const pin of pins) {
    const m = /^([A-Z][A-Z0-9]{1,7})=(.+)$/.exec(pin.trim());
    if (!m) throw new HotlineError('BAD_INPUT', `--authority "${pin}": use STATE=FINGERPRINT, e.g. US="04521 88713 20974 55102 73321 09846"`);
    authorities[m[1] as string] = (m[2] as string).trim();
  }
  return authorities;
}

/** The relay keys the caller trusts: --relay-key, else those pinned in this PoC's profile (at join). */
function trustedRelayKeys(flags: readonly string[]): { keys: Set<string>; source: string } {
  for (const k of flags) if (!keyIdSchema.safeParse(k.trim()).success) throw new HotlineError('BAD_INPUT', `--relay-key ${k}: must be a key id (43 base64url characters)`);
  if (flags.length > 0) return { keys: new Set(flags.map((k) => k.trim())), source: '--relay-key' };
  let profile = null;
  try {
    profile = readProfile(hotlineHome());
  } catch {
    profile = null;
  }
  return { keys: new Set(profile?.relays.map((r) => r.kid) ?? []), source: 'the profile in HOTLINE_HOME' };
}

function worst(statuses: readonly BundleStatus[]): BundleStatus {
  return statuses.includes('bad') ? 'bad' : statuses.includes('unverifiable') ? 'unverifiable' : 'good';
}

const VERDICT: Readonly<Record<BundleStatus, string>> = { good: 'GOOD', bad: 'BAD', unverifiable: 'NOT VERIFIABLE' };

function humanLines(file: string, a: BundleAssessment, pinnedBy: string | null): string[] {
  const relay = a.summary?.relay;
  const lines = [`${VERDICT[a.status]} ${file}`];
  if (relay) lines.push(`  relay ${relay}${pinnedBy ? ` (pinned by ${pinnedBy})` : ' (NOT pinned)'}`);
  for (const p of a.problems) lines.push(`  ✗ ${p}`);
  for (const m of a.missing) lines.push(`  ? ${m}`);
  for (const c of a.checked) lines.push(`  ✓ ${c}`);
  return lines;
}

/** As `fail`, with the exit code of NOT VERIFIABLE. */
function failUnverifiable(cause: unknown, json: boolean): never {
  const error = toHotlineError(cause);
  if (json) process.stderr.write(JSON.stringify({ status: 'unverifiable', error: { code: error.code, message: error.message } }) + '\n');
  else process.stderr.write(`hotline verify: NOT VERIFIABLE: ${error.message} [${error.code}]\n`);
  process.exit(bundleStatusExit.unverifiable);
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'check export bundles offline: signatures, receipts, the audit chain and manifest, completeness, times, names and every timing figure. ' +
        'Exit 0: good; 1: bad (something contradicts the signed data); 2: not verifiable (no pinned relay key, or no manifest). ' +
        'Two bundles of one channel from two relays are also cross-checked.',
    )
    .argument('<bundle>', 'the bundle written by hotline review export')
    .argument('[bundle2]', "a second relay's bundle for the same channel: the two are cross-checked")
    .option('--relay-key <kid>', "the relay key you trust (repeatable, one per relay); default: the relays pinned in HOTLINE_HOME's profile", (v: string, p: string[]) => [...p, v], [] as string[])
    .option(
      '--authority <STATE=FINGERPRINT>',
      "pin a state authority (repeatable): the bundle's charters must name it, and every signer is checked against the rosters it signed",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--witness <file|home>', 'witness statements a PoC kept (hotline witness export, or its HOTLINE_HOME): the chain must agree with them (repeatable)', (v: string, p: string[]) => [...p, v], [] as string[])
    .option('--json', 'machine-readable output')
    .action(async (file: string, file2: string | undefined, opts: VerifyOptions) => {
      let status: BundleStatus;
      try {
        await initCrypto();
        const authorities = parseAuthorities(opts.authority);
        const witnesses = loadWitnesses(opts.witness);
        const trusted = trustedRelayKeys(opts.relayKey);
        const files = file2 === undefined ? [file] : [file, file2];
        const results = files.map((f) => {
          const value = readJson(f, 'bundle');
          const named = typeof value === 'object' && value !== null && 'relay' in value ? String(value.relay) : '';
          const relayKid = trusted.keys.has(named) ? named : undefined;
          if (relayKid === undefined && opts.relayKey.length === 1 && files.length === 1) {
            // One key given: the bundle must be from that relay (verifyReviewBundle says so when it is not).
            return { file: f, value, assessment: assessBundle(value, { relayKid: opts.relayKey[0]?.trim(), authorities, witnesses }), pinnedBy: trusted.source };
          }
          return { file: f, value, assessment: assessBundle(value, { ...(relayKid ? { relayKid } : {}), authorities, witnesses }), pinnedBy: relayKid ? trusted.source : null };
        });
        let comparison = null;
        if (results.length === 2 && results.every((r) => r.assessment.summary !== null)) {
          const [a, b] = results as [(typeof results)[0], (typeof results)[0]];
          comparison = compareBundles(parseReviewBundle(a.value), parseReviewBundle(b.value));
        }
        // Two bundles of one relay are not two witnesses: nothing is contradicted, but nothing is cross-checked either.
        const sameRelay = comparison?.differences.some((d) => d.code === 'SAME_RELAY') ?? false;
        const differs = comparison !== null && !sameRelay && comparison.differences.length > 0;
        status = worst([...results.map((r) => r.assessment.status), ...(differs ? (['bad'] as const) : []), ...(sameRelay ? (['unverifiable'] as const) : [])]);
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({
              status,
              bundles: results.map((r) => ({ file: r.file, pinnedBy: r.pinnedBy, ...r.assessment })),
              ...(comparison ? { comparison } : {}),
            }) + '\n',
          );
        } else {
          const lines = results.flatMap((r) => humanLines(r.file, r.assessment, r.pinnedBy));
          if (comparison) {
            const head = sameRelay ? 'NOT CROSS-CHECKED: both bundles come from the same relay' : `${differs ? 'DIFFER' : 'AGREE'}: the two relays' bundles`;
            lines.push(head, ...comparisonLines(comparison).map((l) => `  ${l}`));
          }
          if (results.length === 2 || differs) lines.push(`verdict: ${VERDICT[status]}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
      } catch (e) {
        // A file that cannot be read, or a witness file that is not one: there is nothing to judge (exit 2, not 1).
        const code = toHotlineError(e).code;
        if (code === 'NOT_FOUND' || code === 'BAD_INPUT' || code === 'NO_IDENTITY') failUnverifiable(e, !!opts.json);
        fail('verify', e, !!opts.json);
      }
      process.exit(bundleStatusExit[status]);
    });
}
