// What a new keyfile's passphrase must be (PoC, authority, relay key): long enough and, by the zxcvbn-ts estimate, too many guesses for an offline attack on a stolen file. Pure; unlocking an existing keyfile never applies it.
import { createRequire } from 'node:module';
import type * as ZxcvbnCore from '@zxcvbn-ts/core';
import type * as ZxcvbnCommon from '@zxcvbn-ts/language-common';
import type * as ZxcvbnEn from '@zxcvbn-ts/language-en';
import { HotlineError } from './errors.ts';

/** Fewer characters than this is refused whatever the estimate says. */
export const MIN_PASSPHRASE_CHARS = 12;

/**
 * The fewest guesses (zxcvbn-ts estimate) a new passphrase must need: 10^10, zxcvbn's top score. A stolen keyfile is
 * attacked offline; at scrypt's cost an attacker with a few GPUs tries in the order of 10^4 to 10^5 a second, so 10^10
 * is days to months of hardware, not minutes. A nation-state adversary is the threat model here, hence the top score.
 */
export const MIN_PASSPHRASE_GUESSES_LOG10 = 10;

/**
 * Passphrases published as examples of good ones, which every cracking list now holds and zxcvbn's dictionaries do
 * not: counted as known words, so they and their variants are refused.
 */
const PUBLISHED_EXAMPLES = ['correct horse battery staple', 'correcthorsebatterystaple', 'Tr0ub4dor&3'];

/** How the advice reads wherever a passphrase is refused. */
export const PASSPHRASE_ADVICE = `use 4 or more unrelated words, at least ${MIN_PASSPHRASE_CHARS} characters`;

/** The verdict on a new passphrase. `seconds` is zxcvbn's offline slow-hash time (10^4 guesses a second). */
export type PassphraseVerdict =
  | { readonly ok: true; readonly guessesLog10: number }
  | { readonly ok: false; readonly reason: 'empty' | 'too-short' | 'too-weak'; readonly guessesLog10: number; readonly crackTime: string; readonly warning: string | null; readonly message: string };

let estimator: ZxcvbnCore.ZxcvbnFactory | null = null;

/**
 * zxcvbn-ts with its common and English dictionaries, loaded and built on first use: loading and ranking the
 * dictionaries takes about a second here, which every command that only unlocks a keyfile must not pay (hence a
 * synchronous require of their CommonJS builds in place of a static import).
 */
function estimate(passphrase: string, userInputs: readonly string[]): ZxcvbnCore.ZxcvbnResult {
  if (estimator === null) {
    const load = createRequire(import.meta.url);
    const { ZxcvbnFactory } = load('@zxcvbn-ts/core') as typeof ZxcvbnCore;
    const common = load('@zxcvbn-ts/language-common') as typeof ZxcvbnCommon;
    const en = load('@zxcvbn-ts/language-en') as typeof ZxcvbnEn;
    estimator = new ZxcvbnFactory({
      dictionary: { ...common.dictionary, ...en.dictionary },
      graphs: common.adjacencyGraphs,
      translations: en.translations,
    });
  }
  return estimator.check(passphrase, [...userInputs]);
}

/**
 * Judges a passphrase for a new keyfile. `userInputs` are words an attacker would try first (the name, the state
 * code, "hotline"); the estimate counts them as known.
 * @example checkNewPassphrase('42').ok === false
 */
export function checkNewPassphrase(passphrase: string, userInputs: readonly string[] = []): PassphraseVerdict {
  if (passphrase === '') {
    return { ok: false, reason: 'empty', guessesLog10: 0, crackTime: 'no time', warning: null, message: `the passphrase is empty; ${PASSPHRASE_ADVICE}` };
  }
  // Whole inputs and each of their words: "US CERT duty officer" makes "duty officer us" cheap to guess too.
  const inputs = ['hotline', ...PUBLISHED_EXAMPLES, ...userInputs];
  const known = [...inputs, ...inputs.flatMap((input) => input.split(/[^\p{L}\p{N}]+/u))].filter((w) => w.length > 0);
  const result = estimate(passphrase, known);
  const crackTime = result.crackTimes.offlineSlowHashingXPerSecond.display;
  const warning = result.feedback.warning;
  const shown = quoted(passphrase);
  const chars = [...passphrase].length;
  if (chars < MIN_PASSPHRASE_CHARS) {
    return {
      ok: false,
      reason: 'too-short',
      guessesLog10: result.guessesLog10,
      crackTime,
      warning,
      message: `passphrase too short (${chars} characters, at least ${MIN_PASSPHRASE_CHARS}): it would be guessed in ${crackTime} offline; ${PASSPHRASE_ADVICE}`,
    };
  }
  if (result.guessesLog10 < MIN_PASSPHRASE_GUESSES_LOG10) {
    return {
      ok: false,
      reason: 'too-weak',
      guessesLog10: result.guessesLog10,
      crackTime,
      warning,
      message: `passphrase too weak: ${shown} would be guessed in ${crackTime} offline${warning ? ` (${warning.replace(/\.$/, '')})` : ''}; ${PASSPHRASE_ADVICE}`,
    };
  }
  return { ok: true, guessesLog10: result.guessesLog10 };
}

/** Throws WEAK_PASSPHRASE with the verdict's message unless `passphrase` may seal a new keyfile. */
export function requireStrongPassphrase(passphrase: string, userInputs: readonly string[] = []): void {
  const verdict = checkNewPassphrase(passphrase, userInputs);
  if (!verdict.ok) throw new HotlineError('WEAK_PASSPHRASE', verdict.message, { detail: { reason: verdict.reason, guessesLog10: verdict.guessesLog10 } });
}

/** The passphrase as the message shows it: only its first and last characters, so a log of the refusal does not keep it. */
function quoted(passphrase: string): string {
  const chars = [...passphrase];
  if (chars.length <= 4) return `"${passphrase}"`;
  return `"${chars[0]}${'…'}${chars[chars.length - 1]}" (${chars.length} characters)`;
}
