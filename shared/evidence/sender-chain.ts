// The per-channel sender chain seen from a recipient: each sender's envelopes on a channel carry chanSeq (1, 2, …) and prev (the previous one's envelope hash), so a dropped, withheld or reordered envelope is a visible gap.
import { CHAIN_GENESIS } from './genesis.ts';

/** One link: a v3 header's chanSeq and prev, and the envelope's own hash (the receipt's `hash`). */
export interface ChainLink {
  readonly chanSeq: number;
  readonly prev: string;
  readonly hash: string;
}

/** The last link a recipient holds with every link before it (or since its baseline). */
export interface ChainPosition {
  readonly chanSeq: number;
  readonly hash: string;
}

/** What one incoming link means for a chain. */
export type ChainStep =
  /** The first link seen from this sender here: it becomes the baseline (earlier ones predate this recipient). */
  | { readonly kind: 'baseline' }
  /** It continues the chain. */
  | { readonly kind: 'next' }
  /** Already held (a resend, or the same envelope through a second relay). */
  | { readonly kind: 'duplicate' }
  /** It came ahead of links not yet seen: chanSeq first..last are missing for now. */
  | { readonly kind: 'gap'; readonly first: number; readonly last: number }
  /** It filled a gap after later links had arrived: the relay delivered out of order. */
  | { readonly kind: 'reordered' }
  /** It contradicts what is held: another envelope under a chanSeq already held, or a prev that is not the hash before it. */
  | { readonly kind: 'fork'; readonly reason: string };

/**
 * The largest gap a recipient keeps track of link by link. A link further ahead is not believed: no sender sends 10^4
 * envelopes on one channel in the time a relay holds them back, and listing the numbers between would let one forged
 * link (chanSeq near 2^53) exhaust the recipient. It is a fork.
 */
export const MAX_CHAIN_GAP = 10_000;

export interface ChainState {
  readonly position: ChainPosition | null;
  /** Links that arrived ahead of a gap, by chanSeq. */
  readonly ahead: ReadonlyMap<number, ChainLink>;
}

export interface ChainAdvance {
  readonly state: ChainState;
  readonly step: ChainStep;
}

/** The chain after `link` arrives. Pure: the caller persists `state`. */
export function advanceChain(state: ChainState, link: ChainLink, options: { readonly baselineAnywhere?: boolean } = {}): ChainAdvance {
  const { position } = state;
  // Judged only from a position held: a first contact far into a long chain is normal (a new member), and its gap is
  // listed within MAX_CHAIN_GAP below the link (missingLinks) until the relay proves where to start.
  const from = position?.chanSeq ?? 0;
  if (position !== null && link.chanSeq - from > MAX_CHAIN_GAP) {
    return { state, step: { kind: 'fork', reason: `chanSeq ${link.chanSeq} jumps ${link.chanSeq - from - 1} envelopes ahead of the last held (${from}): not believed` } };
  }
  if (position === null) {
    if (link.chanSeq !== 1 && !options.baselineAnywhere) {
      return { state: { position: null, ahead: withLink(state.ahead, link) }, step: { kind: 'gap', first: 1, last: link.chanSeq - 1 } };
    }
    if (link.chanSeq === 1 && link.prev !== CHAIN_GENESIS) return { state, step: { kind: 'fork', reason: 'the first link does not start from the genesis value' } };
    return { state: drain({ position: { chanSeq: link.chanSeq, hash: link.hash }, ahead: state.ahead }), step: link.chanSeq === 1 ? { kind: 'next' } : { kind: 'baseline' } };
  }
  if (link.chanSeq <= position.chanSeq) {
    if (link.chanSeq === position.chanSeq && link.hash !== position.hash) {
      return { state, step: { kind: 'fork', reason: `a second envelope claims chanSeq ${link.chanSeq}` } };
    }
    return { state, step: { kind: 'duplicate' } };
  }
  const held = state.ahead.get(link.chanSeq);
  if (held) return { state, step: held.hash === link.hash ? { kind: 'duplicate' } : { kind: 'fork', reason: `a second envelope claims chanSeq ${link.chanSeq}` } };
  if (link.chanSeq === position.chanSeq + 1) {
    if (link.prev !== position.hash) return { state, step: { kind: 'fork', reason: `chanSeq ${link.chanSeq} does not link to the envelope held as ${position.chanSeq}` } };
    const filled = state.ahead.size > 0;
    return { state: drain({ position: { chanSeq: link.chanSeq, hash: link.hash }, ahead: state.ahead }), step: filled ? { kind: 'reordered' } : { kind: 'next' } };
  }
  const lowestAhead = Math.min(link.chanSeq, ...state.ahead.keys());
  return { state: { position, ahead: withLink(state.ahead, link) }, step: { kind: 'gap', first: position.chanSeq + 1, last: lowestAhead - 1 } };
}

/**
 * The chanSeqs not yet held between the position and the furthest link that arrived ahead: at most the MAX_CHAIN_GAP
 * just below that link (a first contact far into a long chain has no position to count from).
 */
export function missingLinks(state: ChainState): number[] {
  if (state.ahead.size === 0) return [];
  let top = 0;
  for (const n of state.ahead.keys()) if (n > top) top = n;
  const out: number[] = [];
  for (let n = Math.max((state.position?.chanSeq ?? 0) + 1, top - MAX_CHAIN_GAP); n < top; n++) if (!state.ahead.has(n)) out.push(n);
  return out;
}

function withLink(ahead: ReadonlyMap<number, ChainLink>, link: ChainLink): Map<number, ChainLink> {
  return new Map(ahead).set(link.chanSeq, link);
}

/** Moves the position over links held ahead that now continue it. A held link that does not link is left (a fork shows when it is checked again). */
function drain(state: ChainState): ChainState {
  let position = state.position;
  const ahead = new Map(state.ahead);
  for (const n of [...ahead.keys()].sort((a, b) => a - b)) if (position !== null && n <= position.chanSeq) ahead.delete(n);
  for (let next = position === null ? undefined : ahead.get(position.chanSeq + 1); next && position && next.prev === position.hash; next = ahead.get(position.chanSeq + 1)) {
    ahead.delete(next.chanSeq);
    position = { chanSeq: next.chanSeq, hash: next.hash };
  }
  return { position, ahead };
}
