// jaxinspect's in-cell monitor (anywidget ESM). The kernel sends the initial state in the
// `snapshot` trait and then `{type: "delta", delta}` custom messages (at most ~10/s) carrying only
// what changed; this merges them and redraws at most once per animation frame. Every kernel string
// is set with textContent (never innerHTML). Numbers arrive as text the kernel formatted
// (`*_text`, `text`, `message`: jaxinspect/units.py, as in cells and the sidebar); raw numbers
// here only draw sparklines and curves and fill data-* attributes.
//
// The kernel also displays a snapshot of the state (text/html with the curves as inline SVG) as the
// next output, for wherever this widget does not render; the style below hides the snapshot of
// this monitor (class `snapshot_key`) while the widget is on the page.
const HISTORY = 300;
const EVENTS = 20;
const ALERTS = 30;
const CURVES = 8; // curves drawn: the first logged names, then watched trees' norms
const CURVE_EVERY = 1000; // ms: the curves are redrawn at most once a second

function empty() {
  return {
    status: {}, scalars: {}, functions: {}, compile_events: [], alerts: [], memory: null,
    memory_points: [], params: {}, param_points: {}, keys: null, processes: null, more_scalars: 0,
    scalar_text: {}, compiles: null, updates: 0
  };
}

function trim(list, n) {
  if (list.length > n) list.splice(0, list.length - n);
}

function merge(state, d) {
  if (!d) return;
  for (const k of ['status', 'memory', 'keys', 'processes', 'compiles']) if (k in d && d[k] !== undefined) state[k] = d[k];
  for (const k of ['functions', 'params', 'scalar_text']) if (d[k]) Object.assign(state[k], d[k]);
  const lists = { compile_events: EVENTS, alerts: ALERTS, memory_points: HISTORY };
  for (const [k, n] of Object.entries(lists)) {
    if (d[k]) {
      state[k].push(...d[k]);
      trim(state[k], n);
    }
  }
  for (const k of ['scalars', 'param_points']) {
    if (!d[k]) continue;
    for (const [name, pts] of Object.entries(d[k])) {
      const list = (state[k][name] = state[k][name] || []);
      list.push(...pts);
      trim(list, HISTORY);
    }
  }
  if (typeof d.updates === 'number') state.updates = d.updates;
  if (typeof d.more_scalars === 'number') state.more_scalars = d.more_scalars;
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

/** Kernel text, or "—" when the kernel sent none. */
function txt(v) {
  return v === null || v === undefined ? '—' : String(v);
}

const SVGNS = 'http://www.w3.org/2000/svg';
function sparkline(values, testid) {
  const nums = values.filter(v => typeof v === 'number' && Number.isFinite(v));
  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('width', '120');
  svg.setAttribute('height', '22');
  svg.setAttribute('data-testid', testid);
  svg.setAttribute('data-points', String(nums.length));
  if (nums.length < 2) return svg;
  const lo = Math.min(...nums);
  const hi = Math.max(...nums);
  const span = hi - lo || 1;
  const pts = nums.map((v, i) => `${((i / (nums.length - 1)) * 118 + 1).toFixed(1)},${(20 - ((v - lo) / span) * 18).toFixed(1)}`);
  const line = document.createElementNS(SVGNS, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'currentColor');
  line.setAttribute('stroke-width', '1.2');
  svg.appendChild(line);
  return svg;
}

/** One curve as a small SVG chart: a line broken at gaps and at NaN/Inf, which are marked in red
 * at their step (the kernel's own words: "NaN", "Inf", "-Inf"). `title` is kernel text. */
function curve(name, pts, title, testid) {
  const W = 260, H = 92, L = 4, R = 4, T = 16, B = 13;
  const svg = document.createElementNS(SVGNS, 'svg');
  for (const [k, v] of Object.entries({ width: W, height: H, viewBox: `0 0 ${W} ${H}`, 'data-testid': testid, 'data-name': name, 'data-points': pts.length, role: 'img', 'aria-label': title })) {
    svg.setAttribute(k, String(v));
  }
  const el = (tag, attrs, text) => {
    const n = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    svg.appendChild(n);
    return n;
  };
  const short = title.length > 40 ? `${title.slice(0, 39)}…` : title; // whole in aria-label / hover
  el('text', { x: L, y: 11, fill: 'currentColor', class: 'jm-curve-title' }, short);
  const pw = W - L - R, ph = H - T - B;
  el('rect', { x: L, y: T, width: pw, height: ph, fill: 'none', stroke: 'currentColor', 'stroke-opacity': 0.25 });
  const xs = pts.map(p => p[0]).filter(x => typeof x === 'number' && Number.isFinite(x));
  const ys = pts.map(p => p[1]).filter(y => typeof y === 'number' && Number.isFinite(y));
  if (!xs.length) return svg;
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 === y0) { const pad = Math.abs(y0) * 0.05 || 0.5; y0 -= pad; y1 += pad; }
  const px = x => (L + ((x - x0) / (x1 - x0)) * pw).toFixed(1);
  const py = y => (T + ph - ((y - y0) / (y1 - y0)) * ph).toFixed(1);
  let d = '', pen = false;
  for (const [x, y] of pts) {
    if (typeof x !== 'number' || !Number.isFinite(x)) continue;
    if (typeof y === 'number' && Number.isFinite(y)) {
      d += pen ? `L${px(x)} ${py(y)}` : `M${px(x)} ${py(y)}h0`;
      pen = true;
      continue;
    }
    pen = false;
    if (typeof y === 'string') { // the kernel sends NaN / Inf / -Inf as these words
      const my = y === '-Inf' ? T + ph - 1 : T + 1;
      const mark = el('path', { d: `M${(+px(x) - 3).toFixed(1)} ${my - 3}l6 6m0 -6l-6 6`, class: 'jm-bad', 'data-testid': 'jaxinspect-monitor-curve-bad', 'data-value': y });
      const tip = document.createElementNS(SVGNS, 'title');
      tip.textContent = `${name}: ${y} at step ${x}`;
      mark.appendChild(tip);
    }
  }
  if (d) el('path', { d, fill: 'none', class: 'jm-line' });
  el('text', { x: L, y: H - 2, fill: 'currentColor', class: 'jm-muted' }, String(xs[0]));
  el('text', { x: W - R, y: H - 2, fill: 'currentColor', 'text-anchor': 'end', class: 'jm-muted' }, String(xs[xs.length - 1]));
  return svg;
}

/** The curves: one chart per logged scalar (the first CURVES), then watched trees' norms. */
function curves(state) {
  const box = h('div', { class: 'jm-curves', 'data-testid': 'jaxinspect-monitor-curves' });
  let n = 0;
  for (const [name, pts] of Object.entries(state.scalars)) {
    if (n++ >= CURVES) break;
    box.appendChild(curve(name, pts, `${name}  ${txt(state.scalar_text[name])}`, 'jaxinspect-monitor-curve'));
  }
  for (const [name, pts] of Object.entries(state.param_points)) {
    if (n++ >= CURVES) break;
    const row = state.params[name] || {};
    box.appendChild(curve(name, pts.map(p => [p[0], p[1] === null ? 'non-finite' : p[1]]), `${name} ‖θ‖  ${txt(row.norm_text)}`, 'jaxinspect-monitor-curve'));
  }
  return n ? box : null;
}

/** The rule that hides this monitor's snapshot output while the widget is shown (a class name the
 * kernel made: letters, digits and dashes only, anything else is ignored). */
function hideSnapshot(key) {
  if (typeof key !== 'string' || !/^[A-Za-z0-9-]+$/.test(key)) return '';
  return `.${key}{display:none!important}.jp-OutputArea-child:has(.${key}),.output_area:has(.${key}){display:none!important}`;
}

const CSS = `
.jaxinspect-monitor{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px;
 color:var(--jp-ui-font-color1,inherit);border:1px solid var(--jp-border-color2,#ddd);border-radius:4px;padding:6px 8px;max-width:900px}
.jaxinspect-monitor h4{margin:6px 0 2px;font-size:12px}
.jaxinspect-monitor .jm-row{display:flex;gap:10px;align-items:center;white-space:nowrap}
.jaxinspect-monitor .jm-name{min-width:110px;font-family:var(--jp-code-font-family,monospace)}
.jaxinspect-monitor .jm-big{font-weight:600;min-width:80px}
.jaxinspect-monitor .jm-muted{color:var(--jp-ui-font-color2,#777)}
.jaxinspect-monitor .jm-alert{color:var(--jp-error-color1,#c00);white-space:normal}
.jaxinspect-monitor .jm-note{display:block;white-space:normal;padding-left:2em}
.jaxinspect-monitor svg{color:var(--jp-brand-color1,#1976d2)}
.jaxinspect-monitor .jm-curves{display:flex;flex-wrap:wrap;gap:4px 12px;margin:2px 0 4px}
.jaxinspect-monitor .jm-curves svg{color:var(--jp-ui-font-color1,inherit);font-size:10px;overflow:visible}
.jaxinspect-monitor .jm-curves .jm-line{stroke:var(--jp-brand-color1,#1976d2);stroke-width:1.5;stroke-linejoin:round;stroke-linecap:round}
.jaxinspect-monitor .jm-curves .jm-bad{stroke:var(--jp-error-color1,#d32f2f);stroke-width:1.6}
.jaxinspect-monitor .jm-curves .jm-muted{fill:var(--jp-ui-font-color2,#777)}
`;

function build(root, state, view) {
  root.textContent = '';
  root.appendChild(h('style', {}, CSS + hideSnapshot(view.key)));
  const st = state.status || {};
  const running = st.busy ? 'running' : 'idle';
  const cell = st.execution_count ? ` · cell [${st.execution_count}]` : '';
  const elapsed = st.busy && typeof st.cell_elapsed_s === 'number' ? ` · ${txt(st.elapsed_text)}` : '';
  root.appendChild(
    h('div', { class: 'jm-row' },
      h('b', {}, 'jaxinspect monitor'),
      h('span', { 'data-testid': 'jaxinspect-monitor-status', 'data-busy': st.busy ? 'true' : 'false' }, `${running}${cell}${elapsed}`),
      h('span', { class: 'jm-muted' }, 'updates '),
      h('span', { class: 'jm-muted', 'data-testid': 'jaxinspect-monitor-updates' }, String(state.updates || 0)))
  );
  for (const a of state.alerts.slice(-5).reverse()) {
    root.appendChild(h('div', { class: 'jm-alert', 'data-testid': 'jaxinspect-monitor-alert', 'data-level': a.level, 'data-name': a.name }, `⚠ ${a.message}`));
  }
  if (view.curves) {
    const now = Date.now();
    if (view.force || !view.curvesAt || now - view.curvesAt >= CURVE_EVERY) {
      view.curvesNode = curves(state);
      view.curvesAt = now;
      view.force = false;
      view.redraws += 1;
    } else if (!view.timer) { // drawn less than a second ago: the newest state follows within one
      view.timer = setTimeout(() => {
        view.timer = null;
        view.later();
      }, CURVE_EVERY - (now - view.curvesAt));
    }
    if (view.curvesNode) root.appendChild(view.curvesNode);
  }
  const scalars = Object.entries(state.scalars);
  if (scalars.length) {
    root.appendChild(h('h4', {}, 'Logged'));
    for (const [name, pts] of scalars) {
      const last = pts[pts.length - 1] || [null, null];
      root.appendChild(
        h('div', { class: 'jm-row', 'data-testid': 'jaxinspect-monitor-scalar', 'data-name': name },
          h('span', { class: 'jm-name' }, name),
          h('span', { class: 'jm-big', 'data-testid': 'jaxinspect-monitor-scalar-value' }, txt(state.scalar_text[name] ?? last[1])),
          h('span', { class: 'jm-muted' }, 'step '),
          h('span', { 'data-testid': 'jaxinspect-monitor-scalar-step' }, String(last[0])),
          sparkline(pts.map(p => p[1]), 'jaxinspect-monitor-scalar-sparkline'))
      );
    }
    if (state.more_scalars) {
      root.appendChild(h('div', { class: 'jm-muted', 'data-testid': 'jaxinspect-monitor-more-scalars' },
        `… ${state.more_scalars} more scalars not shown (the first 16 names logged are kept)`));
    }
  }
  const params = Object.entries(state.params);
  if (params.length) {
    root.appendChild(h('h4', {}, 'Watched parameters'));
    for (const [name, row] of params) {
      const pts = state.param_points[name] || [];
      root.appendChild(
        h('div', { class: 'jm-row', 'data-testid': 'jaxinspect-monitor-param', 'data-name': name, 'data-nonfinite': row.nonfinite ? 'true' : 'false' },
          h('span', { class: 'jm-name' }, name),
          h('span', {}, `step ${txt(row.step_text)}`),
          h('span', { class: 'jm-big' }, `‖θ‖ ${txt(row.norm_text)}`),
          sparkline(pts.map(p => p[1]), 'jaxinspect-monitor-param-norm'),
          h('span', {}, `‖Δθ‖/‖θ‖ ${txt(row.update_text)}`),
          sparkline(pts.map(p => p[2]), 'jaxinspect-monitor-param-update'),
          row.nonfinite ? h('span', { class: 'jm-alert' }, `${txt(row.nonfinite_text)} non-finite`) : null)
      );
    }
  }
  if (state.memory) {
    const m = state.memory;
    root.appendChild(h('h4', {}, 'Device memory'));
    root.appendChild(
      h('div', { class: 'jm-row', 'data-testid': 'jaxinspect-monitor-memory', 'data-bytes': m.bytes },
        h('span', { class: 'jm-big' }, txt(m.bytes_text)),
        h('span', { class: 'jm-muted' }, `${txt(m.arrays_text)} arrays`),
        sparkline(state.memory_points.map(p => p[1]), 'jaxinspect-monitor-memory-sparkline'),
        h('span', { class: 'jm-muted' }, (m.devices || []).map(d => `${d.device} ${txt(d.text)}`).join(' · ')))
    );
    for (const o of m.owners || []) {
      root.appendChild(h('div', { class: 'jm-row jm-muted', 'data-testid': 'jaxinspect-monitor-owner', 'data-name': o.name }, `  ${o.name}: ${txt(o.text)}`));
    }
  }
  // the kernel's totals and order (the most compiled first): nothing is recounted here
  const fns = ((state.compiles && state.compiles.top) || []).map(k => state.functions[k]).filter(Boolean);
  if (fns.length) {
    root.appendChild(h('h4', { 'data-testid': 'jaxinspect-monitor-compiles' }, txt(state.compiles.text)));
    for (const f of fns) {
      root.appendChild(
        h('div', { class: 'jm-row', 'data-testid': 'jaxinspect-monitor-function', 'data-name': f.name, 'data-compiles': f.compiles },
          h('span', { class: 'jm-name' }, f.name),
          h('span', { class: 'jm-big' }, `${txt(f.compiles)}×`),
          h('span', { class: 'jm-muted' }, f.last_reason ? `last: ${f.last_reason}` : ''))
      );
      for (const note of f.notes || []) {
        root.appendChild(h('div', { class: 'jm-row jm-muted jm-note', 'data-testid': 'jaxinspect-monitor-function-note', 'data-name': f.name }, note));
      }
    }
  }
  if (state.keys) {
    const k = state.keys;
    root.appendChild(
      h('div', { class: 'jm-row', 'data-testid': 'jaxinspect-monitor-keys', 'data-reuses': k.reuses },
        h('b', {}, 'PRNG keys'),
        h('span', {}, txt(k.text)))
    );
  }
  const procs = (state.processes && state.processes.rows) || [];
  if (procs.length) {
    root.appendChild(h('h4', {}, `Processes: ${procs.length}` + (state.processes.more ? ` (+${state.processes.more} more)` : '')));
    for (const p of procs) {
      root.appendChild(
        h('div', { class: 'jm-row' + (p.stuck ? ' jm-alert' : ''), 'data-testid': 'jaxinspect-monitor-process', 'data-index': p.process_index, 'data-state': p.state, 'data-activity': p.activity || '' },
          h('span', { class: 'jm-name' }, txt(p.label || `p${p.process_index}`)),
          h('span', { class: 'jm-muted' }, `${txt(p.host)}:${txt(p.pid)} · ${txt(p.state)}`),
          p.activity_text ? h('span', { class: p.stuck ? 'jm-alert' : 'jm-muted' }, (p.stuck ? '⚠ ' : '') + txt(p.activity_text)) : null,
          h('span', {}, `${txt(p.compiles)} compiles`),
          h('span', {}, p.bytes === null || p.bytes === undefined ? 'memory —' : `${txt(p.bytes_text)} live`),
          p.alerts ? h('span', { class: 'jm-alert' }, `${txt(p.alerts)} alerts`) : null)
      );
    }
    if (state.processes.diagnosis) {
      root.appendChild(
        h('div', { class: 'jm-row jm-alert jm-note', 'data-testid': 'jaxinspect-monitor-process-stuck', role: 'alert' },
          `Stuck: ${txt(state.processes.diagnosis)}`)
      );
    }
    for (const f of state.processes.differs || []) {
      root.appendChild(
        h('div', { class: 'jm-row jm-alert', 'data-testid': 'jaxinspect-monitor-process-differs', 'data-name': f.name },
          `≠ ${txt(f.message)}`)
      );
    }
  }
  if (!scalars.length && !params.length && !state.memory && !fns.length && !state.keys && !procs.length) {
    root.appendChild(h('div', { class: 'jm-muted' }, 'Waiting for data: log scalars with monitor.log(step, loss=...), watch parameters with jaxinspect.watch(...), or run jitted code.'));
  }
}

function render({ model, el }) {
  let state = empty();
  merge(state, model.get('snapshot'));
  let scheduled = false;
  const root = h('div', { class: 'jaxinspect-monitor', 'data-testid': 'jaxinspect-monitor' });
  el.appendChild(root);
  const view = {
    key: model.get('snapshot_key'),
    curves: model.get('curves') !== false,
    curvesNode: null, curvesAt: 0, force: true, timer: null, redraws: 0,
    later: () => schedule()
  };
  root.jaxinspectView = view; // for tests: how often the curves were redrawn
  const draw = () => {
    scheduled = false;
    build(root, state, view);
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      ((typeof window !== 'undefined' && window.requestAnimationFrame) || setTimeout)(draw);
    }
  };
  const onMsg = msg => {
    if (msg && msg.type === 'delta') {
      merge(state, msg.delta);
      schedule();
    }
  };
  const onSnapshot = () => { // the cell ended: the final state, curves included, at once
    state = empty();
    merge(state, model.get('snapshot'));
    view.force = true;
    schedule();
  };
  model.on('msg:custom', onMsg);
  model.on('change:snapshot', onSnapshot);
  draw();
  return () => {
    if (view.timer) clearTimeout(view.timer);
    model.off('msg:custom', onMsg);
    model.off('change:snapshot', onSnapshot);
  };
}

export default { render };
