// mlsidecar status page and drift report. Builds the DOM with textContent and createElementNS
// only (names of models and features come from clients: never parsed as markup). Live mode polls
// /status.json; report mode reads the JSON the report embeds (the element with id report-data).
// This file is inlined in the report's script element: it must never contain an HTML comment
// opener or a closing script or style tag, not even in a comment or string (the build checks).
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const REFRESH_MS = 5000;
  const W = 300;
  const H = 80;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function num(v) {
    return typeof v === 'number' && isFinite(v);
  }
  function seconds(v) {
    if (!num(v)) return '–';
    if (v < 1) return (v * 1000).toPrecision(3) + ' ms';
    return v.toPrecision(3) + ' s';
  }
  function percent(v) {
    return num(v) ? (v * 100).toPrecision(3) + ' %' : '–';
  }
  function plain(v) {
    if (!num(v)) return '–';
    return Math.abs(v) >= 100 || v === Math.round(v) ? String(Math.round(v)) : v.toPrecision(3);
  }
  function duration(s) {
    if (!num(s)) return '–';
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    return m + 'm ' + Math.floor(s % 60) + 's';
  }
  function list(values) {
    return values.map((v) => (num(v) ? String(v) : 'null')).join(' ');
  }

  // A line chart of one or two series over the same times; each series is a <g> that carries
  // its values (data-values) for tests and tools, and draws a polyline per unbroken run.
  function chart(name, title, times, series, format, extra) {
    const card = el('section', 'card');
    card.appendChild(el('h3', null, title));
    const lastOf = (vals) => {
      for (let i = vals.length - 1; i >= 0; i--) if (num(vals[i])) return vals[i];
      return null;
    };
    const value = el('div', 'value', series.map((s) => format(lastOf(s.values))).join(' / '));
    card.appendChild(value);
    if (series.length > 1) {
      const legend = el('div', 'legend');
      series.forEach((s, i) => {
        legend.appendChild(el('span', i ? 'k2' : 'k1', s.label));
        if (i + 1 < series.length) legend.appendChild(document.createTextNode(' / '));
      });
      card.appendChild(legend);
    }
    const svg = svgEl('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H,
      preserveAspectRatio: 'none', 'data-chart': name, 'data-times': list(times) });
    for (const k of Object.keys(extra || {})) svg.setAttribute('data-' + k, list([extra[k]]));
    let max = 0;
    for (const s of series) for (const v of s.values) if (num(v) && v > max) max = v;
    max = max > 0 ? max * 1.1 : 1;
    svg.setAttribute('data-max', String(max));
    svg.appendChild(svgEl('line', { class: 'axis', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    const t0 = times.length ? times[0] : 0;
    const span = times.length > 1 ? times[times.length - 1] - t0 : 1;
    const x = (t) => (times.length > 1 ? ((t - t0) / span) * W : W / 2);
    const y = (v) => H - 2 - (v / max) * (H - 4);
    series.forEach((s, i) => {
      const g = svgEl('g', { 'data-series': s.key, 'data-values': list(s.values),
        'data-last': list([lastOf(s.values)]) });
      const cls = i ? ' second' : '';
      let run = [];
      const flush = () => {
        if (run.length === 1) {
          g.appendChild(svgEl('circle', { class: 'dot' + cls, cx: run[0][0], cy: run[0][1], r: 2 }));
        } else if (run.length > 1) {
          g.appendChild(svgEl('polyline', { class: 'line' + cls,
            points: run.map((p) => p[0].toFixed(2) + ',' + p[1].toFixed(2)).join(' ') }));
        }
        run = [];
      };
      s.values.forEach((v, j) => {
        if (num(v)) run.push([x(times[j]), y(v)]);
        else flush();
      });
      flush();
      svg.appendChild(g);
    });
    card.appendChild(svg);
    card.appendChild(el('div', 'sub', 'peak ' + series.map((s) => {
      const seen = s.values.filter(num);
      return format(seen.length ? Math.max(...seen) : null);
    }).join(' / ')));
    return card;
  }

  // <section id=...><h2>title</h2>[intro]<div class="grid"></div></section>; returns both.
  function gridSection(id, title, intro) {
    const section = el('section', id);
    section.id = id;
    section.appendChild(el('h2', null, title));
    if (intro) section.appendChild(intro);
    const grid = el('div', 'grid');
    section.appendChild(grid);
    return [section, grid];
  }

  // "label <b>value</b>" into `parent`; the value as text.
  function labelled(parent, label, value, id) {
    const span = el('span');
    span.appendChild(document.createTextNode(label + ' '));
    const b = el('b', null, value);
    if (id) b.id = id;
    span.appendChild(b);
    parent.appendChild(span);
  }

  function histogram(bins, flagged) {
    const svg = svgEl('svg', { class: 'hist', viewBox: '0 0 ' + W + ' ' + H,
      preserveAspectRatio: 'none',
      'data-labels': JSON.stringify(bins.map((b) => String(b.label))),
      'data-reference': list(bins.map((b) => b.reference)),
      'data-live': list(bins.map((b) => b.live)) });
    let max = 0;
    for (const b of bins) max = Math.max(max, b.reference, b.live);
    max = max > 0 ? max : 1;
    const slot = W / Math.max(bins.length, 1);
    const bar = slot * 0.4;
    bins.forEach((b, i) => {
      const g = svgEl('g', {});
      const title = svgEl('title', {});
      title.textContent = String(b.label) + ': reference ' + percent(b.reference) + ', live ' +
        percent(b.live);
      g.appendChild(title);
      const hr = (b.reference / max) * (H - 2);
      const hl = (b.live / max) * (H - 2);
      g.appendChild(svgEl('rect', { class: 'ref', x: i * slot + slot * 0.1, y: H - hr,
        width: bar, height: hr, 'data-ratio': b.reference }));
      g.appendChild(svgEl('rect', { class: 'live', x: i * slot + slot * 0.5, y: H - hl,
        width: bar, height: hl, 'data-ratio': b.live }));
      svg.appendChild(g);
    });
    svg.appendChild(svgEl('line', { class: 'axis', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    svg.setAttribute('data-flagged', String(!!flagged));
    return svg;
  }

  function statName(s) {
    return { psi: 'PSI', ks_statistic: 'KS' }[s] || s;
  }

  function driftSection(view) {
    const th = view.thresholds;
    let rule = 'PSI > ' + th.psi;
    if (num(th.ks_statistic)) rule += ' or KS > ' + th.ks_statistic;
    rule += ' with at least ' + th.min_samples + ' values in the window';
    const intro = el('div');
    const summary = el('p', 'sub', view.drifted + ' of ' + view.features.length +
      ' features drifted (' + rule + '; ' + th.source + ').');
    summary.id = 'drift-summary';
    summary.setAttribute('data-drifted', String(view.drifted));
    intro.appendChild(summary);
    // Too few values to judge (absent from the traffic or the batch): said by name, not hidden.
    const thin = view.features.filter((f) => f.enough_data === false);
    if (thin.length) {
      const p = el('p', 'warn', 'Not enough data (fewer than ' + th.min_samples + ' values) for ' +
        thin.length + ' of ' + view.features.length + ' features: ' +
        thin.map((f) => f.name + ' (' + f.window_samples + ')').join(', ') + '.');
      p.id = 'drift-not-enough';
      p.setAttribute('data-features', JSON.stringify(thin.map((f) => f.name)));
      intro.appendChild(p);
    }
    const [section, grid] = gridSection('drift', 'Drift', intro);
    for (const f of view.features) {
      const thinCard = f.enough_data === false;
      const card = el('section', 'card feature' + (f.flagged ? ' flagged' : '') +
        (thinCard ? ' thin' : ''));
      card.setAttribute('data-feature', f.name);
      card.setAttribute('data-direction', f.direction);
      card.setAttribute('data-flagged', String(!!f.flagged));
      card.setAttribute('data-severity', String(f.severity));
      card.setAttribute('data-psi', list([f.statistics.psi]));
      card.setAttribute('data-window-samples', String(f.window_samples));
      card.setAttribute('data-enough-data', String(!thinCard));
      card.setAttribute('data-missing', list([f.missing]));
      const h = el('h3');
      if (f.flagged) {
        h.appendChild(el('span', 'badge bad', 'drift'));
        h.appendChild(document.createTextNode(' '));
      } else if (thinCard) {
        h.appendChild(el('span', 'badge warn', 'not enough data'));
        h.appendChild(document.createTextNode(' '));
      }
      h.appendChild(el('span', 'name', f.name));
      card.appendChild(h);
      let worst = 'not computed yet';
      if (f.worst) {
        worst = statName(f.worst.statistic) + ' ' + plain(f.worst.value) +
          (f.flagged ? ' > ' : ' vs ') + f.worst.threshold;
      } else if (f.window_samples === 0) {
        worst = 'no values';
      }
      let counts = f.window_samples + ' values';
      if (num(f.missing) && f.missing > 0) counts += ', ' + plain(f.missing) + ' rows without it';
      if (num(f.invalid) && f.invalid > 0) counts += ', ' + plain(f.invalid) + ' not numbers';
      card.appendChild(el('div', 'sub', f.direction + ', ' + f.kind + ' · ' + worst + ' · ' +
        counts));
      card.appendChild(histogram(f.bins, f.flagged));
      const legend = el('div', 'legend');
      legend.appendChild(el('span', 'kr', 'reference'));
      legend.appendChild(document.createTextNode(' vs '));
      legend.appendChild(el('span', 'k1', 'live'));
      card.appendChild(legend);
      grid.appendChild(card);
    }
    return section;
  }

  // The last requests this version answered differently (/shadow), newest first: request id,
  // what differed, the primary's value and the shadow's.
  function disagreementList(log) {
    const box = el('div', 'disagreements');
    box.appendChild(el('h4', null, 'Recent disagreements (' + plain(log.disagreements_total) +
      ' in all; /shadow has the last ' + plain(log.capacity) + ')'));
    const ol = el('ol');
    ol.setAttribute('data-disagreements', '');
    for (const d of log.recent.slice(0, 8)) {
      const li = el('li');
      li.appendChild(el('span', 'rid', d.request_id || '(no x-request-id)'));
      li.appendChild(document.createTextNode(' '));
      li.appendChild(el('span', 'what', d.output === null ? 'status' : d.output));
      li.appendChild(document.createTextNode(': '));
      li.appendChild(el('span', 'primary', d.primary));
      li.appendChild(document.createTextNode(' \u2192 '));
      li.appendChild(el('span', 'shadow', d.shadow));
      ol.appendChild(li);
    }
    box.appendChild(ol);
    return box;
  }

  function shadowSection(shadow, log) {
    const [section, grid] = gridSection('shadow', 'Shadow comparison');
    for (const v of shadow.versions) {
      const card = el('section', 'card');
      card.setAttribute('data-shadow-version', v.version);
      const h = el('h3');
      h.appendChild(document.createTextNode('version '));
      h.appendChild(el('span', 'name', v.version));
      card.appendChild(h);
      const table = el('table');
      const row = (k, val) => {
        const tr = el('tr');
        tr.appendChild(el('th', null, k));
        tr.appendChild(el('td', null, val));
        table.appendChild(tr);
      };
      row('compared', plain(v.compared));
      row('status agreement', percent(v.status_agreement));
      for (const o of v.outputs) row('output ' + o.output + ' agreement', percent(o.agreement));
      row('latency ratio p50 / p99', plain(v.latency_ratio_p50) + ' / ' +
        plain(v.latency_ratio_p99));
      for (const k of Object.keys(v.dropped)) row('dropped (' + k + ')', plain(v.dropped[k]));
      for (const k of Object.keys(v.requests)) row('shadow ' + k, plain(v.requests[k]));
      card.appendChild(table);
      if (log && log.version === v.version && log.recent.length) {
        card.appendChild(disagreementList(log));
      }
      grid.appendChild(card);
    }
    return section;
  }

  function identity(s) {
    const p = el('div', 'identity');
    labelled(p, 'model', s.model || '(any)', 'model');
    labelled(p, 'version', s.version || '–', 'version');
    const ready = el('span', 'badge ' + (s.ready ? 'ok' : 'bad'), s.ready ? 'ready' :
      s.draining ? 'draining' : 'not ready');
    ready.id = 'ready';
    p.appendChild(ready);
    labelled(p, 'up', duration(s.uptime_seconds), 'uptime');
    return p;
  }

  function renderLive(s) {
    const app = document.getElementById('app');
    const parts = [identity(s)];
    const r = s.ring;
    const p = r.points;
    const t = p.t;
    parts.push(el('h2', null, 'Traffic, last ' + duration(r.window.seconds)));
    const traffic = el('div', 'grid');
    traffic.id = 'traffic';
    traffic.appendChild(chart('requests_per_second', 'Requests/s', t,
      [{ key: 'requests_per_second', label: 'req/s', values: p.requests_per_second }], plain,
      { 'window-requests': r.window.requests }));
    traffic.appendChild(chart('error_ratio', 'Errors (5xx)', t,
      [{ key: 'error_ratio', label: '5xx', values: p.error_ratio }], percent,
      { 'window-error-ratio': r.window.error_ratio }));
    traffic.appendChild(chart('latency', 'Latency p50 / p99', t,
      [{ key: 'p50_seconds', label: 'p50', values: p.p50_seconds },
        { key: 'p99_seconds', label: 'p99', values: p.p99_seconds }], seconds,
      { 'window-p50': r.window.p50_seconds, 'window-p99': r.window.p99_seconds }));
    traffic.appendChild(chart('in_flight', 'In flight', t,
      [{ key: 'in_flight', label: 'in flight', values: p.in_flight }], plain));
    traffic.appendChild(chart('queued', 'Queued', t,
      [{ key: 'queued', label: 'queued', values: p.queued }], plain));
    traffic.appendChild(chart('load_ratio', 'Load ratio (stable window)', t,
      [{ key: 'load_ratio', label: 'load', values: p.load_ratio }], plain));
    parts.push(traffic);
    const llm = el('div', 'grid');
    llm.id = 'llm';
    llm.appendChild(chart('ttft', 'Time to first token p50 / p99', t,
      [{ key: 'ttft_p50_seconds', label: 'p50', values: p.ttft_p50_seconds },
        { key: 'ttft_p99_seconds', label: 'p99', values: p.ttft_p99_seconds }], seconds,
      { 'window-p50': r.window.ttft_p50_seconds, 'window-p99': r.window.ttft_p99_seconds }));
    llm.appendChild(chart('output_tokens_per_second', 'Output tokens/s', t,
      [{ key: 'output_tokens_per_second', label: 'tokens/s', values: p.output_tokens_per_second }],
      plain, { 'window-tokens': r.window.output_tokens }));
    // Only for models that stream tokens: the LLM families have series once one was seen.
    if (r.totals && r.totals.output_tokens !== null) parts.push(el('h2', null, 'LLM'), llm);
    for (const svg of [...traffic.querySelectorAll('svg'), ...llm.querySelectorAll('svg')]) {
      svg.setAttribute('data-seconds', list(p.seconds));
    }
    if (s.drift) {
      parts.push(driftSection(s.drift));
    } else if (s.drift_error) {
      const e = el('p', 'error', 'Drift monitoring is on, but ' + s.drift_error);
      e.id = 'drift-error';
      parts.push(el('h2', null, 'Drift'), e);
    } else {
      const off = el('p', 'muted', 'Drift monitoring is off (no --drift-profile).');
      off.id = 'drift-off';
      parts.push(off);
    }
    if (s.shadow) parts.push(shadowSection(s.shadow, s.shadow_disagreements));
    const foot = el('footer', null, 'A snapshot of /metrics every ' + r.interval_seconds +
      ' s, the last ' + r.capacity + ' kept; updated ' + new Date().toLocaleTimeString() + '.');
    foot.id = 'updated';
    foot.setAttribute('data-snapshots', String(r.snapshots));
    parts.push(foot);
    app.replaceChildren(...parts);
    app.setAttribute('data-rendered', String(Date.now()));
    document.title = 'mlsidecar · ' + (s.model || 'status');
  }

  function renderReport(d) {
    const app = document.getElementById('app');
    const parts = [];
    const info = el('div', 'identity');
    for (const k of ['profile', 'input', 'format', 'bodies']) labelled(info, k, d.report[k]);
    labelled(info, 'generated', d.report.generated_at);
    // Drift wins; otherwise features too thin to judge make the verdict "not enough data".
    const thin = d.drift.features.some((f) => f.enough_data === false);
    let verdict = el('span', 'badge ok', 'no drift');
    if (d.drift.drifted) verdict = el('span', 'badge bad', 'drift');
    else if (thin) verdict = el('span', 'badge warn', 'not enough data');
    verdict.id = 'verdict';
    info.appendChild(verdict);
    parts.push(info);
    parts.push(driftSection(d.drift));
    app.replaceChildren(...parts);
    app.setAttribute('data-rendered', String(Date.now()));
  }

  function showError(message) {
    const app = document.getElementById('app');
    let e = document.getElementById('fetch-error');
    if (!e) {
      e = el('p', 'error');
      e.id = 'fetch-error';
      app.prepend(e);
    }
    e.textContent = message;
  }

  function poll() {
    fetch('/status.json', { cache: 'no-store' })
      .then((r) => {
        if (!r.ok) throw new Error('/status.json answered ' + r.status);
        return r.json();
      })
      .then(renderLive)
      .catch((e) => showError('Could not refresh: ' + e.message))
      .finally(() => setTimeout(poll, REFRESH_MS));
  }

  function start() {
    const data = document.getElementById('report-data');
    if (data) renderReport(JSON.parse(data.textContent));
    else poll();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
