// The reviewer dashboard in headless Debian chromium against a real relay: sign in, real notices by default and drills behind the toggle,
// a time axis within the data's dates, time presets, communication checks, the CSV download, and the table at 1366×768; screenshots to test-output/ and /tmp.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, REVIEW_TOKEN_CTX, signStatement, type EnvelopeHeader } from '../../shared/index.ts';
import { ManualClock, passTimeTo } from '../helpers/manual-clock.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { adminCall, startTestRelay, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

const CHROMIUM = '/usr/bin/chromium';
const outDir = fileURLToPath(new URL('../../test-output/', import.meta.url));
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

let relay: TestRelay;
let clock: ManualClock;
let browser: Browser;
let token: string;
/** A US reviewer's token: the US roster lists it, so it reads CN-US and RU-US, one at a time. */
let reviewerToken: string;
let start: number;
/** The six days' last notice time, and the communication check's id. */
let lastNotice: number;
let checkId: string;

/** expect.poll with room for a loaded machine (its default gives up after 1 s; a reload is three API calls and a redraw). */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000 });

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
    const reviewer = await RawPeer.enrol(relay, 'US', 'reviewer', 'US treaty reviewer');
    // The two channels' charters and the three states' rosters, signed by the test authorities.
    await chartered(relay, 'CN-US', [us, cn, { kid: reviewer.identity.kid, state: 'US', name: 'US treaty reviewer', role: 'reviewer' }]);
    await chartered(relay, 'RU-US', [ru]);
    for (const p of [us, cn, ru]) await p.connect(relay.url);
    // Six days of traffic: each day a notice at every level to CN and to RU, delivered, then acked after a varying share
    // of its deadline (late for CN on day 2); a third of them drills; one FLASH to RU never acked.
    const levels = ['FLASH', 'IMMEDIATE', 'PRIORITY', 'ROUTINE'] as const;
    const deadline = { FLASH: 5 * MINUTE, IMMEDIATE: 30 * MINUTE, PRIORITY: 240 * MINUTE, ROUTINE: 1440 * MINUTE };
    start = clock.now();
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
    lastNotice = Math.max(...steps.map((s) => s.at));
    // A communication check of every state at day 6 + 10 min, 5 min to answer: US and CN acknowledge, RU's device
    // receipts it but nobody acknowledges. The page is looked at 30 min into day 6 (so "last 24 h" starts after day 5's first notice).
    await passTimeTo(clock, start + 6 * DAY + 10 * MINUTE, ticks);
    checkId = (await adminCall<{ checkId: string }>(relay, 'POST', '/checks', { withinMs: 5 * MINUTE })).checkId;
    const answer = (p: RawPeer, kind: 'receipt' | 'ack') => {
      const sig = signStatement(p.identity, `hotline-check-${kind}-v1`, { checkId, kid: p.identity.kid, relay: relay.identity.kid });
      p.send(kind === 'ack' ? { type: 'check.ack', rid: `a-${p.state}`, checkId, sig } : { type: 'check.receipt', checkId, sig });
    };
    for (const p of [us, cn, ru]) answer(p, 'receipt');
    await passTimeTo(clock, start + 6 * DAY + 11 * MINUTE, ticks);
    answer(cn, 'ack');
    await cn.next((m) => m.type === 'ok');
    await passTimeTo(clock, start + 6 * DAY + 12 * MINUTE, ticks);
    answer(us, 'ack');
    await us.next((m) => m.type === 'ok');
    await passTimeTo(clock, start + 6 * DAY + 30 * MINUTE, ticks);
    const at = clock.now();
    const minted = await fetch(`${relay.httpUrl}/v1/review/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kid: reviewer.identity.kid, at, sig: signStatement(reviewer.identity, REVIEW_TOKEN_CTX, { kid: reviewer.identity.kid, at, relay: relay.identity.kid }) }),
    });
    reviewerToken = ((await minted.json()) as { token: string }).token;
    token = (await adminCall<{ token: string }>(relay, 'POST', '/review-tokens', { name: 'Ministry review desk' })).token;
    for (const p of [us, cn, ru]) p.close();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await relay?.dispose();
  });

  async function signedIn(viewport = { width: 1366, height: 768 }, as = token): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport, acceptDownloads: true });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${relay.httpUrl}/review`);
    await page.getByLabel('Reviewer token').fill(as);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#records tbody tr').first().waitFor();
    await poll(() => page.locator('#chart-tta canvas').count()).toBeGreaterThan(0);
    return { page, problems };
  }

  /** Waits for a reload to settle on `count` headline notices. */
  async function headline(page: Page, count: number): Promise<void> {
    await poll(() => page.locator('#k-count').textContent()).toBe(String(count));
    await poll(() => page.locator('#records tbody tr').count()).toBe(count);
  }

  const counts = (page: Page) => page.locator('[data-counts]').allTextContents();

  it('counts real notices only by default, drills behind the toggle, and every figure says which it counts', async () => {
    const { page, problems } = await signedIn({ width: 1366, height: 1000 });
    // 48 notices, 16 of them drills: the headline counts the 32 real ones (before: 48, drills included by default).
    await headline(page, 32);
    expect(await page.locator('#records tbody tr .drill').count()).toBe(0);
    expect(await page.getByLabel('Real only').isChecked()).toBe(true);
    const real = await counts(page);
    expect(real.length).toBeGreaterThanOrEqual(9);
    expect(new Set(real)).toEqual(new Set(['real notices only (drills excluded)']));
    expect(await page.locator('#status').textContent()).toContain('Real notices only; drills excluded');
    // The per-state rows say what they aggregate: notices sent to that state, which it must acknowledge.
    const groups = await page.locator('#groups tbody th').allTextContents();
    expect(groups).toEqual(expect.arrayContaining(['Sent to CN (CN must acknowledge)', 'Sent to RU (RU must acknowledge)']));
    expect(groups.join()).not.toContain('Acknowledged by');
    await page.screenshot({ path: `${outDir}dashboard.png`, fullPage: true });

    await page.getByText('Real + drills').click();
    await headline(page, 48);
    expect(await page.locator('#records tbody tr .drill').count()).toBe(16);
    expect(new Set(await counts(page))).toEqual(new Set(['real notices and drills']));
    expect(await page.locator('#status').textContent()).toContain('AND DRILLS');

    await page.getByText('Drills only').click();
    await poll(() => page.locator('#status').textContent()).toContain('DRILLS ONLY');
    await headline(page, 16);
    expect(await page.locator('#records tbody tr .drill').count()).toBe(16);
    expect(new Set(await counts(page))).toEqual(new Set(['DRILLS ONLY']));
    await page.screenshot({ path: `${outDir}dashboard-drills.png` });
    expect(problems).toEqual([]);
  });

  /** What the time axis of a chart shows: its tick labels and its range (ms). */
  async function axis(page: Page, id: string): Promise<{ ticks: string[]; range: [number, number] }> {
    const body = page.locator(`#${id}`);
    const ticks = JSON.parse((await body.getAttribute('data-x-ticks')) ?? 'null') as string[] | null;
    const range = ((await body.getAttribute('data-x-range')) ?? '').split(',').map(Number) as [number, number];
    if (!ticks) throw new Error(`no time axis drawn in #${id}`);
    return { ticks, range };
  }

  /** `bucket`: the chart's bucket (DAY or HOUR); the axis may reach half a bucket beyond the buckets holding `from` and `to`. */
  function expectAxisWithin(a: { ticks: string[]; range: [number, number] }, from: number, to: number, bucket = DAY): void {
    expect(a.ticks.length).toBeGreaterThan(0);
    const years = new Set([new Date(from).getUTCFullYear(), new Date(to).getUTCFullYear()].map(String));
    // Every year a label shows is one of the data's (before: 2027–2029 for one day of 2026 data), and at least one label shows it.
    const shown = a.ticks.flatMap((t) => t.match(/\b\d{4}\b/g) ?? []);
    expect(shown.length, a.ticks.join(' | ')).toBeGreaterThan(0);
    for (const y of shown) expect(years, a.ticks.join(' | ')).toContain(y);
    // The axis spans the data's buckets and half a bucket either side (before: a data start after 12:00 UTC put the
    // axis start more than a day early, and a check of "a day either side" failed by time of day).
    expect(a.range[0]).toBeGreaterThanOrEqual(Math.floor(from / bucket) * bucket - bucket / 2);
    expect(a.range[1]).toBeLessThanOrEqual(Math.floor(to / bucket) * bucket + bucket / 2);
    expect(a.range[1] - a.range[0]).toBeGreaterThan(0);
  }

  it('keeps the time axis within the data\'s dates, for six days and for one; the presets change the range', async () => {
    const { page, problems } = await signedIn();
    await headline(page, 32);
    for (const id of ['chart-tta', 'chart-share']) expectAxisWithin(await axis(page, id), start, lastNotice);
    const six = await axis(page, 'chart-tta');
    // Six days by day: a label per day ("3 Dec"), the year under the first.
    expect(six.ticks.every((t) => /^\d{1,2} [A-Z][a-z]{2}(\n\d{4})?$/.test(t)), six.ticks.join()).toBe(true);
    expect(six.ticks.length).toBeGreaterThanOrEqual(3);
    expect(six.ticks.length).toBeLessThanOrEqual(7);

    // Last 24 h: only what came after day 6 − 24 h (7 notices, 2 of them drills).
    await page.getByRole('button', { name: 'Last 24 h' }).click();
    await headline(page, 5);
    expect(await page.getByRole('button', { name: 'Last 24 h' }).getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByRole('button', { name: 'All' }).getAttribute('aria-pressed')).toBe('false');
    const since = await page.getByLabel('From (UTC)').inputValue();
    expect(since).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(Date.parse(`${since.replace(' ', 'T')}:00Z`)).toBeGreaterThan(start + 5 * DAY);
    expect(await page.locator('#status').textContent()).toMatch(/to now/);
    for (const id of ['chart-tta', 'chart-share']) expectAxisWithin(await axis(page, id), start + 5 * DAY, lastNotice);
    await page.locator('select[name="bucket"]').selectOption('hour');
    await page.getByRole('button', { name: 'Apply' }).click();
    await poll(async () => (await axis(page, 'chart-tta')).ticks.some((t) => /^\d\d:00/.test(t))).toBe(true);
    expectAxisWithin(await axis(page, 'chart-tta'), start + 5 * DAY, lastNotice, HOUR);
    await page.screenshot({ path: '/tmp/dashboard-24h-hourly.png' });
    await page.locator('select[name="bucket"]').selectOption('day');
    await page.getByText('Real + drills').click();
    await headline(page, 7);

    await page.getByRole('button', { name: '7 d' }).click();
    await headline(page, 48);
    await page.getByRole('button', { name: '30 d' }).click();
    await headline(page, 48);
    expect(await page.getByLabel('From (UTC)').inputValue()).not.toBe('');
    await page.getByRole('button', { name: 'All' }).click();
    await headline(page, 48);
    expect(await page.getByLabel('From (UTC)').inputValue()).toBe('');
    expect(await page.getByRole('button', { name: 'All' }).getAttribute('aria-pressed')).toBe('true');
    // A hand-typed range clears the preset.
    await page.getByLabel('From (UTC)').fill(new Date(start + 3 * DAY).toISOString().slice(0, 16));
    expect(await page.getByRole('button', { name: 'All' }).getAttribute('aria-pressed')).toBe('false');
    await page.getByRole('button', { name: 'Apply' }).click();
    await headline(page, 24);
    // A time that is not one is refused with a message, not guessed at.
    await page.getByLabel('From (UTC)').fill('yesterday');
    await page.getByRole('button', { name: 'Apply' }).click();
    await poll(() => page.locator('#status').textContent()).toContain('From: "yesterday" is not a UTC time');
    expect(problems).toEqual([]);
  });

  it('lists the communication check: when, who was asked, who answered and when, and who did not', async () => {
    const { page, problems } = await signedIn();
    const row = page.locator(`#checks tr[data-check="${checkId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toContain(new Date(start + 6 * DAY + 10 * MINUTE).toISOString().slice(0, 16).replace('T', ' '));
    expect(cells[1]).toBe('All states — 3 PoCs');
    expect(cells[2]).toContain('RU CERT duty officer (RU)');
    expect(cells[2]).toContain('no one acknowledged');
    expect(cells[3]).toContain('CN CERT duty officer (CN) · 1 min');
    expect(cells[3]).toContain('US CERT duty officer (US) · 2 min');
    expect(cells[3]).not.toContain('RU');
    expect(cells[4]).toMatch(/^5 min.*2 of 3 in time/);
    expect(await page.locator('#checks-scope').textContent()).toContain('all states');
    await row.scrollIntoViewIfNeeded();
    await page.screenshot({ path: '/tmp/dashboard-checks.png' });
    expect(problems).toEqual([]);
  });

  it('shows a reviewer only the checks\' answers of its channel\'s states, and names the channel it reads', async () => {
    const { page, problems } = await signedIn(undefined, reviewerToken);
    // Two channels on its grant: the page starts with the first and says so; 16 real notices of CN-US.
    await poll(() => page.locator('#status').textContent()).toContain('Channel CN-US (this token also reads RU-US)');
    expect(await page.getByLabel('Channel').inputValue()).toBe('CN-US');
    await headline(page, 16);
    const row = page.locator(`#checks tr[data-check="${checkId}"]`);
    await row.waitFor();
    let cells = await row.locator('td').allTextContents();
    expect(cells[1]).toBe('All states — 2 PoCs in scope');
    expect(cells[3]).toContain('CN CERT duty officer (CN)');
    expect(cells[2]).toBe('everyone answered');
    expect(await page.locator('#checks').textContent()).not.toContain('RU');
    await page.screenshot({ path: '/tmp/dashboard-reviewer.png' });
    // RU-US: now RU's silence shows, and CN is gone.
    await page.getByLabel('Channel').fill('RU-US');
    await page.getByRole('button', { name: 'Apply' }).click();
    await poll(() => page.locator('#status').textContent()).toContain('Channel RU-US');
    cells = await row.locator('td').allTextContents();
    expect(cells[2]).toContain('RU CERT duty officer (RU)');
    expect(await page.locator('#checks').textContent()).not.toContain('CN CERT');
    // Emptied: the relay asks for a channel, and the page says where to type it.
    await page.getByLabel('Channel').fill('');
    await page.getByRole('button', { name: 'Apply' }).click();
    await poll(() => page.locator('#status').textContent()).toContain('Type a channel in the Channel box, then Apply');
    expect(problems.filter((p) => !p.includes('400'))).toEqual([]);
  });

  it('downloads the shown records as CSV (the CLI\'s format), for the default view and a preset', async () => {
    const { page, problems } = await signedIn();
    const csvOf = async (): Promise<string[][]> => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
      const path = await download.path();
      return readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split(','));
    };
    const shownIds = async () => page.locator('#records tbody td.id code').evaluateAll((codes) => codes.map((c) => c.getAttribute('title')));
    for (const [setup, count] of [[async () => {}, 32], [async () => page.getByRole('button', { name: 'Last 24 h' }).click(), 5]] as const) {
      await setup();
      await headline(page, count);
      expect(await page.locator('#csv').textContent()).toBe(`Download CSV (${count} notices)`);
      const [head, ...rows] = await csvOf();
      expect(head?.slice(0, 5)).toEqual(['id', 'channel', 'fromState', 'toState', 'level']);
      expect(rows.map((r) => r[0])).toEqual(await shownIds());
      expect(rows.every((r) => r[head!.indexOf('drillId')] === '')).toBe(true);
    }
    expect(await page.locator('#status').textContent()).toMatch(/Downloaded hotline-records-.*\.csv/);
    expect(problems).toEqual([]);
  });

  it('fits the notices table at 1366×768 (the Escalation column inside the viewport) and scrolls it, not the page, when narrow', async () => {
    const { page, problems } = await signedIn();
    await headline(page, 32);
    await page.screenshot({ path: '/tmp/dashboard-1366.png' });
    // With drills the Level column is at its widest (DRILL and the level); the missed FLASH has the longest result and escalation.
    await page.getByText('Real + drills').click();
    await headline(page, 48);
    const escalation = page.locator('#records thead th', { hasText: 'Escalation' });
    const edge = await escalation.evaluate((th) => th.getBoundingClientRect().right);
    const scroll = await page.locator('#records-scroll').evaluate((d) => ({ right: d.getBoundingClientRect().right, scrolls: d.scrollWidth > d.clientWidth }));
    // At 1366 it fits: nothing to scroll to, the last column's right edge within its container and the viewport.
    expect(scroll.scrolls).toBe(false);
    expect(edge).toBeLessThanOrEqual(scroll.right + 0.5);
    expect(edge).toBeLessThanOrEqual(1366);
    await page.locator('#records').scrollIntoViewIfNeeded();
    await page.screenshot({ path: '/tmp/dashboard-1366-table.png' });

    // Narrow (a phone): the table scrolls inside its container; the page itself does not scroll sideways.
    await page.setViewportSize({ width: 420, height: 900 });
    await poll(() => page.locator('#records-scroll').evaluate((d) => d.scrollWidth > d.clientWidth)).toBe(true);
    // (the charts follow the width after a debounced resize)
    await poll(() => page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: '/tmp/dashboard-narrow.png' });
    await page.screenshot({ path: '/tmp/dashboard-narrow-full.png', fullPage: true });
    await page.locator('#checks-panel').screenshot({ path: '/tmp/dashboard-narrow-checks.png' });
    expect(problems).toEqual([]);
  });

  it('refuses a wrong token and says why', async () => {
    const page = await browser.newPage();
    await page.goto(`${relay.httpUrl}/review`);
    await page.getByLabel('Reviewer token').fill('HLR-not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.locator('#login-error').textContent()).toContain('UNAUTHORIZED');
    expect(await page.locator('#app').isHidden()).toBe(true);
  });
});
