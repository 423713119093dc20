import { beforeAll, describe, expect, it } from 'vitest';
import {
  canonicalJson,
  initCrypto,
  nextAuditEvent,
  signCheckpoint,
  verifyAuditChain,
  type AuditCheckpoint,
  type AuditEvent,
  type Identity,
} from '../../shared/index.ts';
import { party, T0 } from '../helpers/fixed-keys.ts';

let relay: Identity;
let impostor: Identity;

beforeAll(async () => {
  await initCrypto();
  relay = party('relay').identity;
  impostor = party('impostor').identity;
});

function chain(n: number, checkpointEvery = 10): { events: AuditEvent[]; checkpoints: AuditCheckpoint[] } {
  const events: AuditEvent[] = [];
  const checkpoints: AuditCheckpoint[] = [];
  let head: AuditEvent | null = null;
  for (let i = 0; i < n; i++) {
    head = nextAuditEvent(head, T0 + i * 1000, i % 2 ? 'delivered' : 'accepted', { id: `n-${i}`, level: 'FLASH', state: 'US' });
    events.push(head);
    if (head.seq % checkpointEvery === 0) checkpoints.push(signCheckpoint(relay, head, head.at));
  }
  return { events, checkpoints };
}

function verifyJson(json: string) {
  const { events, checkpoints } = JSON.parse(json) as { events: AuditEvent[]; checkpoints: AuditCheckpoint[] };
  return verifyAuditChain(events, checkpoints, relay.kid);
}

describe('audit chain', () => {
  it('verifies a good chain and reports what the checkpoints cover', () => {
    const { events, checkpoints } = chain(25);
    expect(verifyAuditChain(events, checkpoints, relay.kid)).toEqual({
      events: 25,
      firstSeq: 1,
      lastSeq: 25,
      checkpoints: 2,
      signedThrough: 20,
    });
  });

  it('detects every single-byte change in events and checkpoints', () => {
    const json = canonicalJson(chain(6, 3));
    verifyJson(json);
    const undetected: number[] = [];
    for (let i = 0; i < json.length; i++) {
      const c = json.charCodeAt(i);
      const tampered = json.slice(0, i) + String.fromCharCode(c === 0x31 ? 0x32 : c ^ 1) + json.slice(i + 1);
      try {
        verifyJson(tampered);
        undetected.push(i);
      } catch {
        // detected
      }
    }
    expect(undetected.map((i) => json.slice(Math.max(0, i - 20), i + 20))).toEqual([]);
  });

  it('detects a removed event', () => {
    const { events, checkpoints } = chain(12);
    const removed = [...events.slice(0, 4), ...events.slice(5)];
    expect(() => verifyAuditChain(removed, checkpoints, relay.kid)).toThrow(/event 5 is missing/);
  });

  it('detects two events swapped', () => {
    const { events, checkpoints } = chain(12);
    const swapped = [...events];
    [swapped[3], swapped[4]] = [swapped[4] as AuditEvent, swapped[3] as AuditEvent];
    expect(() => verifyAuditChain(swapped, checkpoints, relay.kid)).toThrow(/out of order/);
  });

  it('detects a rewritten tail even when every link is recomputed, through the checkpoint', () => {
    const { events, checkpoints } = chain(10);
    let head: AuditEvent | null = events[3] ?? null;
    const rewritten = events.slice(0, 4);
    for (let i = 4; i < 10; i++) {
      head = nextAuditEvent(head, T0, 'accepted', { id: `forged-${i}` });
      rewritten.push(head);
    }
    expect(() => verifyAuditChain(rewritten, checkpoints, relay.kid)).toThrow(/checkpoint 10 does not match/);
  });

  it('refuses a checkpoint signed by another key', () => {
    const { events } = chain(10);
    const forged = signCheckpoint(impostor, events[9] as AuditEvent, T0);
    expect(() => verifyAuditChain(events, [forged], relay.kid)).toThrow(/another relay/);
    const relabeled = { ...forged, relay: relay.kid };
    expect(() => verifyAuditChain(events, [relabeled], relay.kid)).toThrow(/signature does not verify/);
  });
});
