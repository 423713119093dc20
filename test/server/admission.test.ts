// Admission control: a flood pauses every socket until the backlog drains, and nothing admitted is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type RelayMessage } from '../../shared/index.ts';
import { Admission, type Pausable } from '../../server/admission.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

class FakeConnection implements Pausable {
  paused = false;
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

describe('admission control', () => {
  it('pauses every connection at the high mark and resumes them at the low mark', async () => {
    let backlog = 0;
    let pauses = 0;
    const connections = [new FakeConnection(), new FakeConnection()];
    const admission = new Admission({ backlog: () => backlog, connections: () => connections, high: 10, low: 3, onPause: () => pauses++ });
    backlog = 9;
    admission.check();
    expect(connections.some((c) => c.paused)).toBe(false);
    backlog = 10;
    admission.check();
    expect(connections.every((c) => c.paused)).toBe(true);
    const late = new FakeConnection();
    admission.adopt(late);
    expect(late.paused).toBe(true);
    connections.push(late);
    backlog = 4;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(admission.isPaused).toBe(true);
    backlog = 3;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(admission.isPaused).toBe(false);
    expect(connections.every((c) => !c.paused)).toBe(true);
    expect(pauses).toBe(1);
    admission.stop();
    expect(() => new Admission({ backlog: () => 0, connections: () => [], high: 5, low: 5 })).toThrow(/low must be below high/);
  });

  describe('in the relay', () => {
    let relay: TestRelay;
    let us: RawPeer;
    let cn: RawPeer;

    beforeAll(async () => {
      await initCrypto();
      relay = await startTestRelay({ config: { admission: { high: 40, low: 10 }, limits: { ratePerSec: 10_000, rateBurst: 10_000 } } });
      await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US', deadlines: { FLASH: 120_000 } });
      us = await RawPeer.enrol(relay, 'US');
      cn = await RawPeer.enrol(relay, 'CN');
      await chartered(relay, 'CN-US', [us, cn], { deadlines: { FLASH: 120_000 } });
    });

    afterAll(async () => {
      us.close();
      cn.close();
      await relay.dispose();
    });

    it('takes a burst far above the high mark in pauses, and accepts all of it in order', async () => {
      await us.connect(relay.url);
      const envelopes = Array.from({ length: 400 }, () => us.envelope([cn]));
      for (const [i, e] of envelopes.entries()) us.send({ type: 'send', rid: `f${i}`, envelope: e });
      const replies = await Promise.all(envelopes.map((_, i) => us.reply<'accepted'>(`f${i}`, 30_000)));
      expect(replies.map((r: RelayMessage) => r.type)).toEqual(envelopes.map(() => 'accepted'));
      const metrics = await relay.context.metrics.registry.getSingleMetricAsString('hotline_backpressure_pauses_total');
      const pauses = Number(/hotline_backpressure_pauses_total (\d+)/.exec(metrics)?.[1] ?? 0);
      expect(pauses).toBeGreaterThan(0);
      // Every accepted send is timed inside the relay (frame → accepted), whatever the pauses made it wait.
      const accept = await relay.context.metrics.registry.getSingleMetricAsString('hotline_accept_seconds');
      expect(Number(/hotline_accept_seconds_count (\d+)/.exec(accept)?.[1] ?? 0)).toBe(400);
      const seqs = (relay.store.db.prepare('SELECT seq FROM envelopes ORDER BY rowid').all() as { seq: number }[]).map((r) => r.seq);
      expect(seqs).toEqual(envelopes.map((e) => e.header.seq));
    });
  });
});
