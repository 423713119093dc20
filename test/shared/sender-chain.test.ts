// The per-channel sender chain: what a recipient makes of links arriving in order, out of order, twice or forked; and the verifier's chain check on a bundle's envelopes.
import { describe, expect, it } from 'vitest';
import { advanceChain, CHAIN_GENESIS, missingLinks, type BundleEnvelope, type ChainState } from '../../shared/index.ts';
import { checkSenderChains } from '../../shared/evidence/bundle-evidence.ts';

const h = (n: number) => `${String(n).padStart(2, '0')}`.repeat(22).slice(0, 43);
const link = (n: number, prev = n === 1 ? CHAIN_GENESIS : h(n - 1)) => ({ chanSeq: n, prev, hash: h(n) });
const empty: ChainState = { position: null, ahead: new Map() };

describe('advanceChain', () => {
  it('follows a chain in order from chanSeq 1', () => {
    let s = empty;
    for (let n = 1; n <= 3; n++) {
      const r = advanceChain(s, link(n));
      expect(r.step.kind).toBe('next');
      s = r.state;
    }
    expect(s.position).toEqual({ chanSeq: 3, hash: h(3) });
    expect(advanceChain(s, link(2)).step.kind).toBe('duplicate');
  });

  it('sees a gap, lists what is missing, and calls the late arrival reordered', () => {
    let s = advanceChain(empty, link(1)).state;
    const gap = advanceChain(s, link(3));
    expect(gap.step).toEqual({ kind: 'gap', first: 2, last: 2 });
    s = gap.state;
    expect(missingLinks(s)).toEqual([2]);
    const filled = advanceChain(s, link(2));
    expect(filled.step.kind).toBe('reordered');
    expect(filled.state.position).toEqual({ chanSeq: 3, hash: h(3) });
    expect(missingLinks(filled.state)).toEqual([]);
  });

  it('calls a second envelope under a held chanSeq, or a prev that does not link, a fork', () => {
    const s = advanceChain(advanceChain(empty, link(1)).state, link(2)).state;
    expect(advanceChain(s, { chanSeq: 2, prev: h(1), hash: h(9) }).step.kind).toBe('fork');
    expect(advanceChain(s, { chanSeq: 3, prev: h(7), hash: h(3) }).step.kind).toBe('fork');
    expect(advanceChain(empty, { chanSeq: 1, prev: h(5), hash: h(1) }).step.kind).toBe('fork');
  });

  it('does not believe a link more than 10^4 ahead (one forged chanSeq near 2^53 would list billions of missing links)', () => {
    const s = advanceChain(empty, link(1)).state;
    const far = advanceChain(s, { chanSeq: Number.MAX_SAFE_INTEGER - 1, prev: h(3), hash: h(4) });
    expect(far.step.kind).toBe('fork');
    expect(far.state).toBe(s);
    expect(advanceChain(s, link(10_001, h(3))).step.kind).toBe('gap');
  });

  it('takes a first contact far into a long chain as a gap (not a fork), listing at most 10^4 numbers below it', () => {
    const far = advanceChain(empty, link(Number.MAX_SAFE_INTEGER - 1, h(3)));
    expect(far.step.kind).toBe('gap');
    const missing = missingLinks(far.state);
    expect(missing).toHaveLength(10_000);
    expect(missing.at(-1)).toBe(Number.MAX_SAFE_INTEGER - 2);
  });

  it('treats a first link above 1 as a gap from 1, unless told to start there', () => {
    expect(advanceChain(empty, link(5)).step).toEqual({ kind: 'gap', first: 1, last: 4 });
    expect(advanceChain(empty, link(5), { baselineAnywhere: true }).step.kind).toBe('baseline');
  });
});

describe('checkSenderChains (verifier)', () => {
  const env = (n: number, auditSeq: number, prev = n === 1 ? CHAIN_GENESIS : h(n - 1)): BundleEnvelope =>
    ({ header: { v: 3, id: `id-${n}-${auditSeq}`, from: 'K'.repeat(43), channel: 'CN-US', chanSeq: n, prev }, receipt: { hash: h(n), auditSeq } }) as unknown as BundleEnvelope;

  it('passes a linked chain with holes the filter left', () => {
    expect(() => checkSenderChains([env(1, 1), env(2, 5), env(4, 9)])).not.toThrow();
  });

  it('refuses a link that does not name the previous hash, two envelopes under one chanSeq, and links recorded out of chain order', () => {
    expect(() => checkSenderChains([env(1, 1), env(2, 5, h(8))])).toThrow(/does not link/);
    expect(() => checkSenderChains([env(1, 1), env(1, 3)])).toThrow(/two envelopes claim chanSeq 1/);
    expect(() => checkSenderChains([env(1, 7), env(2, 5)])).toThrow(/recorded before/);
  });
});
