// The reviewer dashboard in headless Debian chromium: sign in with a token, see charts and rows, filter to drills, screenshot to test-output/.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type EnvelopeHeader } from '../../shared/index.ts';
import { ManualClock, passTimeTo } from '../helpers/manual-clock.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

const CHROMIUM = '/usr/bin/chromium';
const outDir = fileURLToPath(new URL('../../test-output/', import.meta.url));
const DAY = 86_400_000;
const MINUTE = 60_000;

let relay: TestRelay;
let clock: ManualClock;
let browser: Browser;
let token: string;

async function ticks(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function submit(peer: RawPeer, to: RawPeer[], header: Partial<Omit<EnvelopeHeader, 'v' | 'from'>>): Promise<string> {
  const env = peer.envelope(to, { createdAt: clock.now() - 400, ...header });
  const reply = await peer.submit(env);
  if (reply.type !== 'accepted') throw new Error(`refused: ${JSON.stringify(reply)}`);
  return env.header.id;
}

describe.skipIf(!existsSync(CHROMIUM))(`reviewer dashboard in ${CHROMIUM}`, () => {
  beforeAll(async () => {
    await initCrypto();
    mkdirSync(outDir, { recursive: true });
    clock = new ManualClock(Date.now() + 60_000);
    relay = await startTestRelay({ clock });
    await adminCall(relay, 'POST', '/channels', { a: 'CN', b: 'US' });
    await adminCall(relay, 'POST', '/channels', { a: 'RU', b: 'US' });
    const us = await RawPeer.enrol(relay, 'US', 'poc', 'US CERT duty officer');
    const cn = await RawPeer.enrol(relay, 'CN', 'poc', 'CN CERT duty officer');
    const ru = await RawPeer.enrol(relay, 'RU', 'poc', 'RU CERT duty officer');
    // The two channels' charters and the three states' rosters, signed by the test authorities.
    await chartered(relay, 'CN-US', [us, cn]);
    await chartered(relay, 'RU-US', [ru]);
    for (const p of [us, cn, ru]) await p.connect(relay.url);
    // Six days of traffic: each day a notice at every level to CN and to RU, delivered, then acked after a varying share
    // of its deadline (late for CN on day 2); a third of them drills; one FLASH to RU never acked.
    const levels = ['FLASH', 'IMMEDIATE', 'PRIORITY', 'ROUTINE'] as const;
    const deadline = { FLASH: 5 * MINUTE, IMMEDIATE: 30 * MINUTE, PRIORITY: 240 * MINUTE, ROUTINE: 1440 * MINUTE };
    const start = clock.now();
    const steps: { at: number; run: () => Promise<void> }[] = [];
    for (let day = 0; day < 6; day++) {
      for (const [i, level] of levels.entries()) {
        for (const to of [cn, ru]) {
          const sentAt = start + day * DAY + i * 3 * 3600_000 + (to === ru ? 3600_000 : 0);
          const drill = (day + i) % 3 === 0 ? { drillId: `exercise-${day}`, inject: i + 1 } : null;
          const channel = `${to.state}-US`;
          let id = '';
          steps.push({ at: sentAt, run: async () => void (id = await submit(us, [to], { level, toState: to.state, channel, drill })) });
          steps.push({ at: sentAt + 1500, run: async () => void (await submit(to, [us], { kind: 'receipt', level: null, refs: [id], toState: 'US', channel, drill })) });
          if (day === 5 && level === 'FLASH' && to === ru) continue;
          const share = to === cn && day === 2 ? 1.4 : 0.15 + ((day * 7 + i * 3) % 10) / 20;
          steps.push({ at: sentAt + Math.round(deadline[level] * share), run: async () => void (await submit(to, [us], { kind: 'ack', level: null, refs: [id], toState: 'US', channel, drill })) });
        }
      }
    }
    for (const step of steps.sort((a, b) => a.at - b.at)) {
      await passTimeTo(clock, step.at, ticks);
      await step.run();
    }
    await passTimeTo(clock, start + 6 * DAY, ticks);
    token = (await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Ministry review desk' })).token;
    for (const p of [us, cn, ru]) p.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
  });

  it('signs in, shows charts and rows, filters to drills (labelled DRILL) and saves a screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${relay.httpUrl}/review`);
    await page.getByLabel('Reviewer token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#records tbody tr').first().waitFor();
    await expect.poll(() => page.locator('#chart-tta canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-share canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#k-count').textContent()).toBe('48');
    expect(await page.locator('#records tbody tr').count()).toBe(48);
    expect(await page.locator('#who').textContent()).toContain('Ministry review desk');
    await page.screenshot({ path: `${outDir}dashboard.png`, fullPage: true });
    await page.screenshot({ path: `${outDir}dashboard-top.png` });

    await page.getByText('Drills only').click();
    await expect.poll(() => page.locator('#status').textContent()).toContain('DRILLS ONLY');
    const rows = page.locator('#records tbody tr');
    await expect.poll(() => rows.count()).toBe(16);
    expect(await page.locator('#records tbody tr .drill').count()).toBe(16);
    expect(await page.locator('#k-count').textContent()).toBe('16');
    await page.screenshot({ path: `${outDir}dashboard-drills.png` });
    expect(problems).toEqual([]);
  });

  it('refuses a wrong token and says why', async () => {
    const page = await browser.newPage();
    await page.goto(`${relay.httpUrl}/review`);
    await page.getByLabel('Reviewer token').fill('HLR-not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('UNAUTHORIZED');
    expect(await page.locator('#app').isHidden()).toBe(true);
  });
});
