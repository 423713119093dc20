// Hotline reviewer dashboard: signs in with a reviewer token (sessionStorage, Bearer), draws uPlot charts from server-side aggregates, pages records on the server,
// lists communication checks, downloads the records as CSV (the relay's encoder). Real notices only unless the reviewer asks for drills.
(() => {
  'use strict';

  const TOKEN_KEY = 'hotline-review-token';
  const PAGE = 50;
  const LEVELS = ['FLASH', 'IMMEDIATE', 'PRIORITY', 'ROUTINE'];
  // Okabe–Ito colours: distinguishable with colour-blindness, legible on white.
  const LEVEL_COLOURS = { FLASH: '#b2182b', IMMEDIATE: '#d55e00', PRIORITY: '#0072b2', ROUTINE: '#009e73' };

  const $ = (id) => document.getElementById(id);
  const HOUR = 3_600_000;
  const DAY = 86_400_000;
  /** What the headline figures count, by the "Notices counted" toggle: every figure says it. */
  const COUNTS = { real: 'real notices only (drills excluded)', all: 'real notices and drills', drill: 'DRILLS ONLY' };
  // skew: relay clock − this computer's, from the session (presets are relative to the relay's now); span: the active preset (ms, or null).
  const state = { offset: 0, total: 0, charts: [], bucket: 'day', skew: 0, span: null, query: new URLSearchParams(), channels: null };

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
    if (state.span !== null) {
      // A preset is live: the last N hours up to the relay's now, to the millisecond (the inputs show it to the minute).
      q.set('since', String(relayNow() - state.span));
      return q;
    }
    const since = inputTime(String(data.get('since') ?? ''), 'From');
    const until = inputTime(String(data.get('until') ?? ''), 'Until');
    if (since !== null) q.set('since', String(since));
    if (until !== null) q.set('until', String(until));
    return q;
  }

  function drillSelection() {
    return String(new FormData($('filters')).get('drill') ?? 'real');
  }

  function relayNow() {
    return Date.now() + state.skew;
  }

  class InputError extends Error {}

  /**
   * A typed time, always UTC (the inputs say so): "2026-12-08", "2026-12-08 06:55" or "2026-12-08T06:55"; null when
   * empty. A date alone in "Until" means the end of that day. Anything else is refused with a message, not guessed at.
   */
  function inputTime(value, name) {
    const v = value.trim();
    if (!v) return null;
    const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}))?Z?$/.exec(v);
    const ms = m ? Date.parse(`${m[1]}T${m[2] ?? '00:00'}:00Z`) : NaN;
    if (Number.isNaN(ms)) throw new InputError(`${name}: "${v.slice(0, 30)}" is not a UTC time; type it as YYYY-MM-DD or YYYY-MM-DD HH:MM`);
    return name === 'Until' && !m[2] ? ms + DAY : ms;
  }

  function inputValue(ms) {
    return new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
  }

  function setPreset(span) {
    state.span = span;
    const form = $('filters');
    form.elements.namedItem('since').value = span === null ? '' : inputValue(relayNow() - span);
    form.elements.namedItem('until').value = '';
    for (const b of document.querySelectorAll('.preset')) {
      const own = b.dataset.span === 'all' ? null : Number(b.dataset.span);
      b.setAttribute('aria-pressed', String(own === span));
    }
  }

  /** The inputs were edited by hand: no preset is active any more. */
  function clearPreset() {
    state.span = null;
    for (const b of document.querySelectorAll('.preset')) b.setAttribute('aria-pressed', 'false');
  }

  /** The channel of the last load, in words: the one named, the grant's only one, or every channel (the operator). */
  function channelText() {
    const named = state.query.get('channel');
    const all = state.channels;
    if (named) return `Channel ${named}${all && all.length > 1 ? ` (this token also reads ${all.filter((c) => c !== named).join(', ')})` : ''}.`;
    if (all && all.length === 1) return `Channel ${all[0]} (the one this token reads).`;
    return 'All channels.';
  }

  /** The range of the last load (what the page shows). */
  function rangeText() {
    const q = state.query;
    const since = q.get('since');
    const until = q.get('until');
    if (!since && !until) return 'from the first record to now';
    return `from ${since ? utc(Number(since)) : 'the first record'} to ${until ? utc(Number(until)) : 'now'}`;
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
    if (err instanceof InputError) return showStatus(err.message, 'error');
    if (err instanceof ApiError && err.code === 'BAD_INPUT' && err.message.startsWith('name the channel')) {
      return showStatus(`${err.message.replace('name the channel with ?channel=', 'Type a channel in the Channel box, then Apply')} [${err.code}]`, 'error');
    }
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
    $('csv').textContent = `Download CSV (${page.total.toLocaleString('en')} notice${page.total === 1 ? '' : 's'})`;
    $('csv').disabled = page.total === 0;
    const body = $('records').querySelector('tbody');
    body.replaceChildren(
      ...page.records.map((r) => {
        const notice = el('td', { class: 'id' }, el('code', { title: r.id }, r.id.slice(0, 13)));
        const level = el('td', { class: 'level-cell' });
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
          el('td', { class: 'acked' }, acked, r.ackedBy?.name ? el('span', { class: 'by' }, `by ${r.ackedBy.name}`) : ''),
          el('td', { class: 'time' }, utc(r.ackDeadline)),
          el('td', { class: 'result-cell' }, result(r)),
          el('td', { class: 'escalation' }, escalation(r)),
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
    // byState groups by the notice's recipient (toState): the state whose PoC must acknowledge, whoever sent it.
    const rows = [
      ...a.byLevel.map((s) => groupRow(s.key, s)),
      ...a.byState.map((s) => groupRow(`Sent to ${s.key} (${s.key} must acknowledge)`, s, 'state')),
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

  /** Tick steps for the time axis, in seconds: whole UTC hours, then days. */
  const STEPS = [1, 2, 3, 6, 12, 24, 48, 168, 336, 720, 2160, 8760].map((h) => h * 3600);

  /**
   * Time-axis ticks (x in seconds): aligned to UTC, at least a bucket apart (a day chart never ticks at 06:00), as many
   * as fit one per `space` px. uPlot's own time ticks are not used: a single bucket made it pad the range by 10 % of
   * the epoch value (years).
   */
  function timeSplits(min, max, width, bucketS, space) {
    const fit = Math.max(1, Math.floor(width / space));
    const step = STEPS.find((s) => s >= bucketS && (max - min) / s <= fit) ?? STEPS[STEPS.length - 1];
    const out = [];
    for (let t = Math.ceil(min / step) * step; t <= max; t += step) out.push(t);
    return { step, splits: out };
  }

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  /**
   * Labels, UTC, unambiguous whatever the reader's locale: "3 Dec" for day steps, with the year under the first tick
   * and each 1 January; "06:00" for hour steps, with "3 Dec 2026" under the first tick and each midnight.
   */
  function timeLabels(splits, step) {
    return splits.map((v, i) => {
      const d = new Date(v * 1000);
      const day = `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
      const newYear = d.getUTCMonth() === 0 && d.getUTCDate() === 1;
      if (step >= 86_400) return i === 0 || newYear ? `${day}\n${d.getUTCFullYear()}` : day;
      const time = d.toISOString().slice(11, 16);
      return i === 0 || time === '00:00' ? `${time}\n${day} ${d.getUTCFullYear()}` : time;
    });
  }

  function chart(target, data, levels, opts) {
    const width = Math.max(300, target.clientWidth);
    const single = data[0].length === 1;
    const bucketS = (state.bucket === 'hour' ? HOUR : DAY) / 1000;
    // The data's own range (bucket starts), half a bucket either side, so a single bucket sits mid-chart.
    const xMin = data[0][0] - bucketS / 2;
    const xMax = data[0][data[0].length - 1] + bucketS / 2;
    let drawn = { step: bucketS, splits: [] };
    return new uPlot(
      {
        width,
        height: 260,
        padding: [8, 36, 0, 0],
        scales: { x: { time: true, range: () => [xMin, xMax] }, y: opts.scale },
        axes: [
          {
            stroke: '#333',
            grid: { stroke: '#e5e7eb' },
            space: 64,
            size: 52,
            splits: (u, _axis, min, max) => (drawn = timeSplits(min, max, u.bbox.width / uPlot.pxRatio || width - 110, bucketS, 64)).splits,
            values: (_u, splits) => {
              const labels = timeLabels(splits, drawn.step);
              // What the axis shows, for tests and for anyone inspecting the page.
              target.dataset.xTicks = JSON.stringify(labels);
              target.dataset.xRange = `${Math.round(xMin * 1000)},${Math.round(xMax * 1000)}`;
              return labels;
            },
          },
          { stroke: '#333', grid: { stroke: '#e5e7eb' }, values: (_u, splits) => splits.map(opts.tick), size: 70 },
        ],
        series: [
          { label: state.bucket === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', value: (_u, v) => (v === null ? '—' : bucketLabel(v * 1000)) },
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

  function bucketLabel(ms) {
    const iso = new Date(ms).toISOString();
    return state.bucket === 'hour' ? `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00–${String((Number(iso.slice(11, 13)) + 1) % 24).padStart(2, '0')}:00` : iso.slice(0, 10);
  }

  function drawCharts(series) {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    const tta = $('chart-tta');
    const share = $('chart-share');
    tta.replaceChildren();
    share.replaceChildren();
    for (const body of [tta, share]) {
      delete body.dataset.xTicks;
      delete body.dataset.xRange;
    }
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
    const q = new URLSearchParams(state.query);
    q.set('limit', String(PAGE));
    q.set('offset', String(state.offset));
    renderRecords(await api(`/v1/review/records?${q}`));
  }

  function who(t) {
    return `${t.name} (${t.state})`;
  }

  function checkRow(c, scoped) {
    const asked = `${c.targetState === null ? 'All states' : c.targetState} — ${c.asked} PoC${c.asked === 1 ? '' : 's'}${scoped ? ' in scope' : ''}`;
    const answered = c.targets.filter((t) => t.outcome === 'answered' || t.outcome === 'late');
    const silent = c.targets.filter((t) => t.outcome === 'missing' || t.outcome === 'open');
    const answeredCell = el('td', { class: 'people' });
    for (const t of answered) {
      answeredCell.append(
        el(
          'span',
          { class: `person ${t.outcome}`, title: `acknowledged ${utc(t.ackedAt)} UTC${t.receivedAt === null ? '' : `; device receipt ${utc(t.receivedAt)} UTC`}` },
          `${who(t)} · ${duration(t.ackedAt - c.startedAt)}${t.outcome === 'late' ? ' — LATE' : ''}`,
        ),
      );
    }
    if (answered.length === 0) answeredCell.append(el('span', { class: 'none' }, 'nobody'));
    const silentCell = el('td', { class: 'people' });
    for (const t of silent) {
      const got = t.receivedAt === null ? 'not received' : `device got it after ${duration(t.receivedAt - c.startedAt)}, no one acknowledged`;
      silentCell.append(el('span', { class: `person ${t.outcome}` }, `${who(t)} · ${t.outcome === 'open' ? `not yet (${got})` : got}`));
    }
    if (silent.length === 0) silentCell.append(el('span', { class: 'none all-answered' }, 'everyone answered'));
    const summary = c.open ? `open until ${utc(c.deadline)}` : `${c.answered} of ${c.asked} in time${c.late ? `, ${c.late} late` : ''}`;
    return el(
      'tr',
      { class: c.missing ? 'has-missing' : '', 'data-check': c.checkId },
      el('td', { class: 'time' }, utc(c.startedAt), el('span', { class: 'by' }, c.startedBy === 'schedule' ? 'scheduled' : `by ${c.startedBy}`)),
      el('td', {}, asked),
      // Who did not answer comes first: on a narrow screen it is what must not scroll out of sight.
      silentCell,
      answeredCell,
      el('td', { class: 'nowrap' }, duration(c.withinMs), el('span', { class: 'by' }, summary)),
    );
  }

  function renderChecks(page) {
    const body = $('checks').querySelector('tbody');
    body.replaceChildren(...page.checks.map((c) => checkRow(c, page.states !== null)));
    if (page.checks.length === 0) body.append(el('tr', {}, el('td', { colspan: '5', class: 'empty' }, 'No communication checks in this range.')));
    const scope = page.states === null ? 'all states' : page.states.length ? page.states.join(' and ') : 'no state';
    $('checks-scope').textContent = `(whether each asked PoC acknowledged; ${scope}; started ${rangeText()}; not notices, so the drill toggle does not apply)`;
    $('checks-range').textContent = page.total > page.checks.length ? `latest ${page.checks.length} of ${page.total}` : `${page.total} check${page.total === 1 ? '' : 's'}`;
  }

  async function loadChecks() {
    const q = new URLSearchParams(state.query);
    // Checks ask states, not channels or levels: only the channel (the grant's scope), the state and the time range apply.
    for (const name of ['drill', 'level']) q.delete(name);
    q.set('limit', '10');
    renderChecks(await api(`/v1/review/checks?${q}`));
  }

  function labelCounts() {
    const drill = drillSelection();
    for (const node of document.querySelectorAll('[data-counts]')) {
      node.textContent = COUNTS[drill];
      node.classList.toggle('drill-only', drill === 'drill');
      node.classList.toggle('with-drills', drill === 'all');
    }
  }

  async function loadAll() {
    showStatus('Loading…');
    try {
      // Frozen for this view: paging, the CSV and the export ask for exactly what is shown (a live preset's start would move on).
      state.query = filterQuery();
      const q = new URLSearchParams(state.query);
      state.bucket = String(new FormData($('filters')).get('bucket') ?? 'day');
      q.set('bucket', state.bucket);
      const [aggregates] = await Promise.all([api(`/v1/review/aggregates?${q}`), loadRecords(), loadChecks()]);
      labelCounts();
      renderAggregates(aggregates);
      const drill = drillSelection();
      const scope = drill === 'drill' ? 'DRILLS ONLY — exercise notices, not real events.' : drill === 'all' ? 'Counting real notices AND DRILLS.' : 'Real notices only; drills excluded.';
      showStatus(`${scope} ${channelText()} Accepted ${rangeText()}. As of ${utc(aggregates.now)} UTC (relay clock).`, drill === 'drill' ? 'drill-mode' : drill === 'all' ? 'with-drills' : '');
    } catch (err) {
      handleError(err);
    }
  }

  async function start() {
    if (!token()) return signOut();
    try {
      const session = await api('/v1/review/session');
      state.skew = session.now - Date.now();
      state.channels = session.channels ?? null;
      const channel = $('filters').elements.namedItem('channel');
      $('channel-list').replaceChildren(...(state.channels ?? []).map((c) => el('option', { value: c })));
      if (state.channels?.length === 1) channel.placeholder = state.channels[0];
      // A grant over several channels reads one at a time: start with the first, and say so (status bar).
      if (state.channels && state.channels.length > 1 && !channel.value) channel.value = state.channels[0];
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

  /** Fetches a file with the token and hands it to the browser as a download; `done` says what to tell the reviewer. */
  async function download(button, path, fallback, done) {
    button.disabled = true;
    showStatus('Preparing the download…');
    try {
      const res = await fetch(path, { headers: { authorization: `Bearer ${token()}` } });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        throw new ApiError(res.status, body.error?.code ?? 'INTERNAL', body.error?.message ?? `HTTP ${res.status}`);
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallback;
      const url = URL.createObjectURL(await res.blob());
      const a = el('a', { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      showStatus(done(name));
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
    $('export').addEventListener('click', () =>
      download($('export'), `/v1/review/export?${state.query}`, 'hotline-review.json', (name) => `Downloaded ${name}. Check it offline with: hotline verify ${name} --relay-key KEY`),
    );
    $('csv').addEventListener('click', () =>
      download($('csv'), `/v1/review/records.csv?${state.query}`, 'hotline-records.csv', (name) => `Downloaded ${name}: the ${state.total.toLocaleString('en')} notices of the table, one row each: ${COUNTS[drillSelection()]}, accepted ${rangeText()}.`),
    );
    for (const b of document.querySelectorAll('.preset')) {
      b.addEventListener('click', () => {
        setPreset(b.dataset.span === 'all' ? null : Number(b.dataset.span));
        state.offset = 0;
        loadAll();
      });
    }
    for (const name of ['since', 'until']) $('filters').elements.namedItem(name).addEventListener('input', clearPreset);
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
