// The verdict on an export bundle: good (every check passed against a pinned relay key and a signed manifest), bad (something contradicts the signed data), or not verifiable (nothing is wrong, but what is needed to call it good is missing).
import { toHotlineError } from '../errors.ts';
import { verifyReviewBundle, type BundleVerification, type VerifyOptions } from '../review-bundle.ts';

export type BundleStatus = 'good' | 'bad' | 'unverifiable';

/** Exit code of `hotline verify` for each verdict. */
export const bundleStatusExit: Readonly<Record<BundleStatus, number>> = { good: 0, bad: 1, unverifiable: 2 };

export interface BundleAssessment {
  readonly status: BundleStatus;
  /** Why it is bad (the first failed check, then each disputed time). */
  readonly problems: readonly string[];
  /** Why it is not verifiable. */
  readonly missing: readonly string[];
  /** What was checked and passed, one line each. */
  readonly checked: readonly string[];
  readonly summary: BundleVerification | null;
}

function checkedLines(s: BundleVerification): string[] {
  const lines = [
    `${s.envelopes} envelope signature(s) and relay receipt(s), each receipt against its audit event`,
    `audit chain of ${s.events} event(s) from event 1, ${s.checkpoints} signed checkpoint(s) through event ${s.signedThrough} of ${s.lastSeq}; times in audit order`,
    `${s.records} timing record(s) recomputed from signed receipts; escalation steps against the charter's policy and the audit events; names from the signed rosters`,
    'every envelope the audit chain records within the filter is present; one record per notice',
    `every signer checked against the roster its envelope names; every deadline against the charter; acceptance times against the signers' own signed times`,
  ];
  if (s.manifest) lines.push(`relay-signed manifest: made at ${new Date(s.generatedAt).toISOString()}, complete up to audit event ${s.lastSeq}`);
  for (const [state, a] of Object.entries(s.authorities)) lines.push(`${state} authority ${a.fingerprint}${a.pinned ? ' (pinned)' : ' (not pinned)'}`);
  const w = s.witnesses;
  if (w.inChain + w.compared > 0) {
    lines.push(`${w.inChain} witness statement(s) in the chain and ${w.compared} kept by a PoC agree with it${w.states.length ? ` (witnesses of ${w.states.join(', ')})` : ''}`);
  }
  if (w.unlisted) lines.push(`${w.unlisted} witness statement(s) are signed by keys no signed roster lists for their state: they vouch for no state (kept ones are not compared)`);
  if (w.otherRelays) lines.push(`${w.otherRelays} witness statement(s) are about another relay: not compared`);
  const k = s.keyWrap;
  lines.push(`key wrapping: ${k.hybrid.length} envelope(s) hybrid (X25519 + ML-KEM-768), ${k.x25519Only.length} with X25519 alone`);
  if (k.againstCharter.length) {
    lines.push(`${k.againstCharter.length} envelope(s) wrap with X25519 alone where their charter requires hybrid (the sender broke the charter; recipients refuse them): ${k.againstCharter.join(', ')}`);
  }
  if (s.unchartered) lines.push(`${s.unchartered} first-wave envelope(s) name no charter: their senders are checked against no roster`);
  return lines;
}

/** Runs every check and gives the verdict; never throws for a bad bundle (it is the verdict "bad"). */
export function assessBundle(input: unknown, options: VerifyOptions): BundleAssessment {
  let summary: BundleVerification;
  try {
    summary = verifyReviewBundle(input, options);
  } catch (cause) {
    return { status: 'bad', problems: [toHotlineError(cause).message], missing: [], checked: [], summary: null };
  }
  const problems = summary.disputes.map((d) => `disputed time: ${d.message}`);
  const missing: string[] = [];
  if (options.relayKid === undefined) missing.push(`the relay key is not pinned: pass --relay-key (the bundle names ${summary.relay}; compare it with the operator) or verify from a PoC's HOTLINE_HOME`);
  if (!summary.manifest) missing.push('the bundle has no relay-signed manifest (made by a first-wave relay): it cannot be shown complete');
  if (summary.witnesses.later > 0) {
    missing.push(`a PoC witnessed ${summary.witnesses.later} audit head(s) beyond this bundle's last event, signed after it was made: ask the relay for a fresh export and verify that`);
  }
  const status: BundleStatus = problems.length > 0 ? 'bad' : missing.length > 0 ? 'unverifiable' : 'good';
  return { status, problems, missing, checked: checkedLines(summary), summary };
}
