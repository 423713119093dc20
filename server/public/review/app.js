// Hotline reviewer dashboard: signs in with a reviewer token (sessionStorage, Bearer), draws uPlot charts from server-side aggregates, pages records on the server.
(() => {
  'use strict';

  const TOKEN_KEY = 'hotline-review-token';
  const PAGE = 50;
  const LEVELS = ['FLASH', 'IMMEDIATE', 'PRIORITY', 'ROUTINE'];
  // Okabe–Ito colours: distinguishable with colour-blindness, legible on white.
  const LEVEL_COLOURS = { FLASH: '#b2182b', IMMEDIATE: '#d55e00', PRIORITY: '#0072b2', ROUTINE: '#009e73' };

  const $ = (id) => document.getElementById(id);
  const state = { offset: 0, total: 0, charts: [], bucket: 'day' };

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    const res = await fetch(path, { headers: { authorization: `Bearer ${token()}` } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'INTERNAL', body.error?.message ?? `HTTP ${res.status}`);
    return body;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 0) return `-${duration(-ms)}`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    let rest = Math.round(ms / 1000);
    const parts = [];
    for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
      if (rest >= size) {
        parts.push(`${Math.floor(rest / size)} ${unit}`);
        rest %= size;
      }
      if (parts.length === 2) break;
    }
    return parts.join(' ');
  }

  /** Compact form for chart axes: 90 s → 1m30s, 2 h 46 min → 2h46m. */
  function compact(ms) {
    if (ms < 1000) return `${Math.round(ms)}ms`;
    let rest = Math.round(ms / 1000);
    const parts = [];
    for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
      if (rest >= size) {
        parts.push(`${Math.floor(rest / size)}${unit}`);
        rest %= size;
      }
      if (parts.length === 2) break;
    }
    return parts.join('');
  }

  function utc(ms) {
    if (ms === null || ms === undefined) return '—';
    return new Date(ms).toISOString().replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, 'Z');
  }

  function percent(x) {
    return x === null || x === undefined ? '—' : `${(Math.round(x * 1000) / 10).toLocaleString('en')} %`;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function filterQuery() {
    const form = $('filters');
    const data = new FormData(form);
    const q = new URLSearchParams();
    const drill = data.get('drill');
    if (drill && drill !== 'all') q.set('drill', String(drill));
    for (const name of ['level', 'channel', 'state']) {
      const v = String(data.get(name) ?? '').trim().toUpperCase();
      if (v) q.set(name, v);
    }
    const since = String(data.get('since') ?? '');
    const until = String(data.get('until') ?? '');
    if (since) q.set('since', String(Date.parse(`${since}T00:00:00Z`)));
    // "To" is inclusive of the whole day.
    if (until) q.set('until', String(Date.parse(`${until}T00:00:00Z`) + 86_400_000));
    return q;
  }

  function showStatus(text, kind = '') {
    const s = $('status');
    s.textContent = text;
    s.className = `notice-bar ${kind}`;
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('app').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message ?? '';
    $('token').focus();
  }

  function handleError(err) {
    if (err instanceof ApiError && err.status === 401) return signOut(`${err.message} [${err.code}]`);
    showStatus(err instanceof ApiError ? `${err.message} [${err.code}]` : `Cannot reach the relay: ${err.message}`, 'error');
  }

  function levelBadge(level) {
    return el('span', { class: `level level-${level.toLowerCase()}` }, level);
  }

  function result(r) {
    if (r.met === true) return el('span', { class: 'result met' }, 'Met');
    if (r.met === null) return el('span', { class: 'result open' }, 'Open — not yet due');
    if (r.ackedAt === null) return el('span', { class: 'result missed' }, 'Missed — no acknowledgement');
    return el('span', { class: 'result late' }, `Late by ${duration(r.lateByMs)}`);
  }

  function escalation(r) {
    const fired = r.escalation.filter((s) => s.firedAt !== null);
    if (fired.length === 0) return '—';
    return fired.map((s) => s.action.replace('-', ' ')).join(', ');
  }

  function renderRecords(page) {
    state.total = page.total;
    const body = $('records').querySelector('tbody');
    body.replaceChildren(
      ...page.records.map((r) => {
        const notice = el('td', { class: 'id' }, el('code', { title: r.id }, r.id.slice(0, 13)));
        const level = el('td', { class: 'nowrap' });
        if (r.drill) level.append(el('span', { class: 'drill', title: `Drill ${r.drill.drillId}${r.drill.inject === null ? '' : `, inject ${r.drill.inject}`} — an exercise, not a real notice` }, 'DRILL'), ' ');
        level.append(levelBadge(r.level));
        if (r.raises.length) level.append(' ', el('span', { class: 'raised', title: `Raised to ${r.raises[r.raises.length - 1].level}` }, `raised → ${r.raises[r.raises.length - 1].level}`));
        const delivered = r.deliveredAt === null ? '—' : `+${duration(r.deliveredAt - r.acceptedAt)} (${r.deliveredTo} device${r.deliveredTo === 1 ? '' : 's'})`;
        const acked = r.ackedAt === null ? '—' : duration(r.timeToAckMs);
        const row = el(
          'tr',
          { class: r.drill ? 'is-drill' : '' },
          notice,
          level,
          el('td', { class: 'nowrap' }, `${r.fromState} → ${r.toState}`),
          el('td', { class: 'time' }, utc(r.acceptedAt)),
          el('td', { class: 'nowrap' }, delivered),
          el('td', {}, acked, r.ackedBy?.name ? el('span', { class: 'by' }, ` by ${r.ackedBy.name}`) : ''),
          el('td', { class: 'time' }, utc(r.ackDeadline)),
          el('td', {}, result(r)),
          el('td', {}, escalation(r)),
        );
        return row;
      }),
    );
    if (page.records.length === 0) body.append(el('tr', {}, el('td', { colspan: '9', class: 'empty' }, 'No notices match these filters.')));
    const first = page.total === 0 ? 0 : page.offset + 1;
    $('range').textContent = `${first.toLocaleString('en')}–${(page.offset + page.records.length).toLocaleString('en')} of ${page.total.toLocaleString('en')}`;
    $('prev').disabled = page.offset === 0;
    $('next').disabled = page.offset + page.records.length >= page.total;
  }

  function groupRow(label, s, cls = '') {
    return el(
      'tr',
      { class: cls },
      el('th', { scope: 'row' }, label),
      el('td', { class: 'num' }, s.count.toLocaleString('en')),
      el('td', { class: 'num' }, s.acked.toLocaleString('en')),
      el('td', { class: 'num' }, duration(s.medianMs)),
      el('td', { class: 'num' }, duration(s.p95Ms)),
      el('td', { class: 'num' }, duration(s.maxMs)),
      el('td', { class: 'num' }, percent(s.withinDeadline)),
    );
  }

  function renderAggregates(a) {
    $('k-count').textContent = a.overall.count.toLocaleString('en');
    $('k-acked').textContent = a.overall.acked.toLocaleString('en');
    $('k-median').textContent = duration(a.overall.medianMs);
    $('k-p95').textContent = duration(a.overall.p95Ms);
    $('k-share').textContent = percent(a.overall.withinDeadline);
    $('k-share-hint').textContent = a.overall.decided ? `${a.overall.met.toLocaleString('en')} met of ${a.overall.decided.toLocaleString('en')} past their deadline or acknowledged` : 'none due yet';
    const rows = [
      ...a.byLevel.map((s) => groupRow(s.key, s)),
      ...a.byState.map((s) => groupRow(`Acknowledged by ${s.key}`, s, 'state')),
      ...a.byDrill.map((s) => groupRow(s.key === 'drill' ? 'DRILLS' : 'Real notices', s, s.key === 'drill' ? 'state is-drill' : 'state')),
    ];
    $('groups').querySelector('tbody').replaceChildren(...rows);
    drawCharts(a.series);
  }

  function seriesData(points, pick) {
    const xs = [...new Set(points.map((p) => p.t))].sort((x, y) => x - y);
    const index = new Map(xs.map((t, i) => [t, i]));
    const present = LEVELS.filter((l) => points.some((p) => p.level === l));
    const ys = present.map((level) => {
      const col = new Array(xs.length).fill(null);
      for (const p of points) if (p.level === level) col[index.get(p.t)] = pick(p);
      return col;
    });
    return { levels: present, data: [xs.map((t) => t / 1000), ...ys] };
  }

  function chart(target, data, levels, opts) {
    const width = Math.max(300, target.clientWidth);
    const single = data[0].length === 1;
    const hourly = state.bucket === 'hour';
    const xTick = (v) => {
      const iso = new Date(v * 1000).toISOString();
      return hourly ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : iso.slice(0, 10);
    };
    return new uPlot(
      {
        width,
        height: 260,
        padding: [8, 36, 0, 0],
        scales: { x: { time: true }, y: opts.scale },
        axes: [
          { stroke: '#333', grid: { stroke: '#e5e7eb' }, values: (_u, splits) => splits.map(xTick), space: 90 },
          { stroke: '#333', grid: { stroke: '#e5e7eb' }, values: (_u, splits) => splits.map(opts.tick), size: 70 },
        ],
        series: [
          { label: 'UTC', value: (_u, v) => (v === null ? '—' : utc(v * 1000)) },
          // Earlier (more urgent) levels are drawn wider, so a level hidden under another one still shows as a border.
          ...levels.map((level) => ({
            label: level,
            stroke: LEVEL_COLOURS[level],
            width: 2 + (3 - LEVELS.indexOf(level)) * 1.5 * opts.overlap,
            spanGaps: true,
            points: { show: true, size: (single ? 9 : 6) + (3 - LEVELS.indexOf(level)) * 3 * opts.overlap, fill: LEVEL_COLOURS[level] },
            value: (_u, v) => (v === null ? '—' : opts.tick(v)),
          })),
        ],
        legend: { live: true },
      },
      data,
      target,
    );
  }

  function drawCharts(series) {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    const tta = $('chart-tta');
    const share = $('chart-share');
    tta.replaceChildren();
    share.replaceChildren();
    if (series.points.length === 0) {
      tta.append(el('p', { class: 'empty' }, 'No notices in this selection.'));
      share.append(el('p', { class: 'empty' }, 'No notices in this selection.'));
      return;
    }
    // A log scale cannot show 0 ms; a median that small shows as 1 ms.
    const a = seriesData(series.points, (p) => (p.medianMs === null ? null : Math.max(1, p.medianMs)));
    const b = seriesData(series.points, (p) => (p.withinDeadline === null ? null : p.withinDeadline * 100));
    state.charts.push(chart(tta, a.data, a.levels, { scale: { distr: 3, log: 10 }, tick: (v) => (v === null ? '' : compact(v)), overlap: 0 }));
    state.charts.push(chart(share, b.data, b.levels, { scale: { range: [0, 105] }, tick: (v) => (v === null ? '' : `${Math.round(v)} %`), overlap: 1 }));
  }

  async function loadRecords() {
    const q = filterQuery();
    q.set('limit', String(PAGE));
    q.set('offset', String(state.offset));
    renderRecords(await api(`/v1/review/records?${q}`));
  }

  async function loadAll() {
    showStatus('Loading…');
    try {
      const q = filterQuery();
      state.bucket = String(new FormData($('filters')).get('bucket') ?? 'day');
      q.set('bucket', state.bucket);
      const [aggregates] = await Promise.all([api(`/v1/review/aggregates?${q}`), loadRecords()]);
      renderAggregates(aggregates);
      const drill = new FormData($('filters')).get('drill');
      const scope = drill === 'drill' ? 'DRILLS ONLY — exercise notices, not real events. ' : drill === 'real' ? 'Real notices only. ' : '';
      showStatus(`${scope}As of ${utc(aggregates.now)} UTC (relay clock).`, drill === 'drill' ? 'drill-mode' : '');
    } catch (err) {
      handleError(err);
    }
  }

  async function start() {
    if (!token()) return signOut();
    try {
      const session = await api('/v1/review/session');
      $('who').textContent = `${session.name} · relay ${session.relay.slice(0, 10)}… · token valid until ${utc(session.expiresAt)}`;
      $('login').hidden = true;
      $('app').hidden = false;
      $('session').hidden = false;
      state.offset = 0;
      await loadAll();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) signOut(`${err.message} [${err.code}]`);
      else signOut(`Cannot reach the relay: ${err.message}`);
    }
  }

  async function download() {
    const button = $('export');
    button.disabled = true;
    showStatus('Preparing the export…');
    try {
      const res = await fetch(`/v1/review/export?${filterQuery()}`, { headers: { authorization: `Bearer ${token()}` } });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new ApiError(res.status, body.error?.code ?? 'INTERNAL', body.error?.message ?? `HTTP ${res.status}`);
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'hotline-review.json';
      const url = URL.createObjectURL(await res.blob());
      const a = el('a', { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      showStatus(`Downloaded ${name}. Check it offline with: hotline verify ${name} --relay-key KEY`);
    } catch (err) {
      handleError(err);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
      $('token').value = '';
      start();
    });
    $('signout').addEventListener('click', () => signOut());
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      state.offset = 0;
      loadAll();
    });
    for (const radio of document.querySelectorAll('input[name="drill"]')) {
      radio.addEventListener('change', () => {
        state.offset = 0;
        loadAll();
      });
    }
    $('prev').addEventListener('click', () => {
      state.offset = Math.max(0, state.offset - PAGE);
      loadRecords().catch(handleError);
    });
    $('next').addEventListener('click', () => {
      state.offset += PAGE;
      loadRecords().catch(handleError);
    });
    $('export').addEventListener('click', () => download());
    let resize = null;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(() => {
        for (const c of state.charts) c.setSize({ width: Math.max(300, c.root.parentElement.clientWidth), height: 260 });
      }, 150);
    });
    start();
  });
})();
