// The Effort dashboard: an ES module TensorBoard loads in an iframe and calls `render()` on.
// Everything it shows comes from `./data` (keras_effort/report/tensorboard_plugin/plugin.py),
// which computes the effort figures with keras-effort's own report code; this file only draws.

const REFRESH_MS = 5000;
const SVG = 'http://www.w3.org/2000/svg';
const OUTCOME_COLOURS = {
  reached: '#2e7d32',
  cutoff: '#ef6c00',
  diverged: '#c62828',
  stopped: '#9e9e9e',
  bad_data: '#6d4c41',
};
const SERIES_COLOURS = ['#1565c0', '#6a1b9a', '#00838f', '#ad1457', '#558b2f', '#4e342e'];

// The columns of `keras-effort report`, in its order: [header, JSON field, format].
const COLUMNS = [
  ['experiment', 'experiment', String],
  ['metric', 'metric', String],
  ['target', 'target', formatTarget],
  ['attempts', 'runs', String],
  ['success', 'success_rate', formatPercent],
  ['censored', 'censored_steps', formatCensored],
  ['median', 'median_steps', formatSteps],
  [(rows) => `Koza E(${rows.length ? rows[0].z : 0.99})`, 'koza_effort', formatSteps],
  ['c*', 'optimal_cutoff', (value) => (value === null ? '-' : formatSteps(value))],
  ['l(c*)', 'expected_steps_optimal', formatSteps],
  ['l(c*) 95% CI', 'expected_steps_optimal_interval', formatInterval],
  ['l(budget)', 'expected_steps_single_run', formatSteps],
  ['regime', 'regime', String],
];

// The runs pooled in "Across runs"; a run seen for the first time is pooled.
const state = {selected: null, known: new Set(), timer: null, fewSuccesses: 5};

export async function render() {
  const stylesheet = document.createElement('link');
  stylesheet.rel = 'stylesheet';
  stylesheet.href = './style.css';
  document.head.appendChild(stylesheet);
  document.body.appendChild(element('h1', {}, 'Effort'));
  document.body.appendChild(element('div', {class: 'status', id: 'status'}, 'loading...'));
  document.body.appendChild(element('div', {id: 'content'}));
  await refresh();
  state.timer = setInterval(refresh, REFRESH_MS);  // training goes on: keep reading
}

async function refresh() {
  const query = state.selected === null ? '' :
      '?' + [...state.selected].map((run) => 'run=' + encodeURIComponent(run)).join('&');
  let data;
  try {
    const response = await fetch('./data' + query);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    data = await response.json();
  } catch (error) {
    document.getElementById('status').textContent = `could not read the runs: ${error}`;
    return;
  }
  state.fewSuccesses = data.few_successes;
  const fresh = data.runs.filter((run) => !state.known.has(run.name));
  if (state.selected === null) state.selected = new Set();
  fresh.forEach((run) => {
    state.known.add(run.name);
    state.selected.add(run.name);
  });
  if (fresh.length && state.known.size > fresh.length) return refresh();  // pool them too
  const content = document.getElementById('content');
  content.replaceChildren(...view(data));
  const attempts = data.runs.reduce((sum, run) => sum + (run.attempts || []).length, 0);
  document.getElementById('status').textContent =
      `${data.runs.length} run(s), ${attempts} attempt(s); ` +
      `updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s`;
}

function view(data) {
  if (data.runs.length === 0) {
    return [element('p', {}, 'No run holds attempts yet: write them with ' +
        'keras_effort.callbacks.EffortTensorBoard and training will show here.')];
  }
  const runPicker = element('div', {class: 'runs'}, 'Runs pooled below: ');
  for (const run of data.runs) {
    const box = element('input', {type: 'checkbox', 'data-run': run.name});
    box.checked = state.selected.has(run.name);
    box.onchange = () => {
      if (box.checked) state.selected.add(run.name); else state.selected.delete(run.name);
      refresh();
    };
    runPicker.appendChild(element('label', {}, box, run.name));
  }
  const nodes = [
    element('h2', {}, 'Across runs'),
    runPicker,
    effortTable(data.pooled.report, 'pooled'),
    element('div', {class: 'charts'}, ...data.pooled.curves.map(successChart)),
  ];
  for (const run of data.runs) nodes.push(...runView(run));
  return nodes;
}

function runView(run) {
  const nodes = [element('h2', {'data-run-section': run.name}, `Run ${run.name}`)];
  if (run.error) {
    nodes.push(element('p', {class: 'error'}, run.error));
    return nodes;
  }
  nodes.push(effortTable(run.report, 'run:' + run.name));
  const charts = element('div', {class: 'charts'});
  charts.appendChild(timelineChart(run));
  charts.appendChild(metricChart(run));
  for (const curve of run.curves) charts.appendChild(successChart(curve));
  for (const [tag, points] of Object.entries(run.rates).slice(0, 8)) {
    charts.appendChild(lineChart({
      title: tag, xLabel: 'total steps', series: [{points, colour: SERIES_COLOURS[0]}],
    }));
  }
  nodes.push(charts);
  return nodes;
}

// ------------------------------------------------------------------ the table

// As `keras-effort report` (keras_effort/report/tables.py): a note column when some estimate
// rests on few successes (*) or on heavy censoring (**), explained under the table.
const FEW_SUCCESSES_NOTE = (few) => `* fewer than ${few} attempts reached the target: a ` +
    'rough estimate (see the bootstrap intervals)';
const HEAVY_CENSORING_NOTE = '** most attempts were cut off (censored) before the longest ' +
    'budget: they say nothing past their cutoff, so median, c* and l(c*) rest on the attempts ' +
    "that ran longer (Kaplan-Meier), and can sit far from the share that reached ('success')";

function isThin(row) {
  return row.successes > 0 && row.successes < state.fewSuccesses;
}

function isHeavilyCensored(row) {
  return row.censored_early > row.runs / 2;
}

function formatNote(row) {
  const notes = [];
  if (isThin(row)) notes.push(`${row.successes} success${row.successes > 1 ? 'es' : ''}*`);
  if (isHeavilyCensored(row)) notes.push(`${row.censored_early}/${row.runs} cut early**`);
  return notes.join(', ');
}

function formatCensored(value, row) {  // `n at low-high`, as the report prints it
  if (value === null) return '0';
  const [low, high] = value.map(formatSteps);
  return `${row.runs - row.successes} at ${low === high ? low : `${low}-${high}`}`;
}

function effortTable(rows, scope) {
  const table = element('table', {class: 'effort-table', 'data-scope': scope});
  const noted = rows.some(isThin) || rows.some(isHeavilyCensored);
  const columns = noted ?
      [...COLUMNS, ['note', 'successes', (value, row) => formatNote(row)]] : COLUMNS;
  const header = (name) => (typeof name === 'function' ? name(rows) : name);
  table.appendChild(element('tr', {}, ...columns.map(([name]) => element('th', {}, header(name)))));
  for (const row of rows) {
    const cells = columns.map(([, field, format]) => {
      const value = row[field];
      const numeric = typeof value === 'number' || value === null || Array.isArray(value);
      return element('td', {
        class: numeric ? 'number' : '',
        'data-field': field,
        'data-value': JSON.stringify(value),
      }, format(value, row));
    });
    table.appendChild(element('tr', {}, ...cells));
  }
  const notes = [];
  if (rows.some(isThin)) notes.push(FEW_SUCCESSES_NOTE(state.fewSuccesses));
  if (rows.some(isHeavilyCensored)) notes.push(HEAVY_CENSORING_NOTE);
  if (!notes.length) return table;
  return element('div', {}, table, ...notes.map((note) => element('p', {class: 'note'}, note)));
}

// Python's round-half-even, so the figures read as `keras-effort report` prints them.
function roundHalfEven(value) {
  const rounded = Math.round(value);
  return Math.abs(value % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

function formatSteps(value) {  // `f"{value:,.0f}"`, `inf` for an infinite effort (null)
  if (value === null) return 'inf';
  return roundHalfEven(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function formatPercent(value) {
  return `${roundHalfEven(value * 100)}%`;
}

function formatTarget(value) {  // `f"{value:g}"` for the targets metrics take
  return String(Number(value.toPrecision(6)));
}

function formatInterval(value) {
  return value === null ? '' : `${formatSteps(value[0])} to ${formatSteps(value[1])}`;
}

// ----------------------------------------------------------------- the charts

function timelineChart(run) {
  const attempts = run.attempts;
  const lastStep = run.metric.length ? run.metric[run.metric.length - 1][0] : 0;
  const finished = attempts.length ? attempts[attempts.length - 1].end : 0;
  const done = attempts.some((attempt) => attempt.reached);
  const xMax = Math.max(finished, lastStep, 1);
  const rowHeight = Math.max(4, Math.min(18, 220 / Math.max(attempts.length + 1, 1)));
  const frame = chartFrame({
    title: 'attempts (bar: start to end step; coloured by outcome; \u25c6 target reached)',
    height: Math.max(120, rowHeight * (attempts.length + 1) + 50),
    xDomain: [0, xMax], yDomain: [attempts.length + 1, 0], xLabel: 'total steps',
    yTicks: false,
  });
  const {x, y, plot} = frame;
  for (const attempt of attempts) {
    const top = y(attempt.attempt + 0.1);
    plot.appendChild(svg('rect', {
      class: 'attempt-bar', 'data-attempt': attempt.attempt, 'data-outcome': attempt.outcome,
      'data-start': attempt.start, 'data-end': attempt.end,
      x: x(attempt.start), y: top, height: Math.max(2, y(attempt.attempt + 0.9) - top),
      width: Math.max(1, x(attempt.end) - x(attempt.start)),
      fill: OUTCOME_COLOURS[attempt.outcome] || '#000',
    }, svg('title', {}, `attempt ${attempt.attempt}: steps ${attempt.start} to ` +
        `${attempt.end} (${attempt.steps} steps), ${attempt.outcome}`)));
    if (attempt.reached) {
      const cx = x(attempt.end), cy = y(attempt.attempt + 0.5), r = 6;
      plot.appendChild(svg('path', {
        class: 'target-reached', d: `M${cx},${cy - r}L${cx + r},${cy}L${cx},${cy + r}` +
            `L${cx - r},${cy}Z`, fill: '#ffd600', stroke: '#333',
      }, svg('title', {}, `target reached at total step ${attempt.end}`)));
    }
  }
  if (!done && lastStep > finished) {  // the attempt under way
    const row = attempts.length, top = y(row + 0.1);
    plot.appendChild(svg('rect', {
      class: 'attempt-running', x: x(finished), y: top, height: y(row + 0.9) - top,
      width: Math.max(1, x(lastStep) - x(finished)), fill: '#90caf9',
    }, svg('title', {}, `attempt ${row}: running since step ${finished}`)));
  }
  const legend = element('div', {class: 'legend'}, ...Object.entries(OUTCOME_COLOURS).map(
      ([outcome, colour]) => element('span', {}, swatch(colour), outcome)),
  element('span', {}, swatch('#90caf9'), 'running'));
  frame.node.appendChild(legend);
  return frame.node;
}

function metricChart(run) {
  const boundaries = run.attempts.slice(0, -1).map((attempt) => attempt.end);
  return lineChart({
    title: `${run.monitor} and the target ${formatTarget(run.target)} (dotted: restarts)`,
    xLabel: 'total steps',
    series: [{points: run.metric, colour: SERIES_COLOURS[0]}],
    hline: run.target, vlines: boundaries,
  });
}

function successChart(curve) {
  // Kaplan-Meier P(T <= c): a step function; + marks the attempts censored there (×n for n).
  const points = [[0, 0]];
  curve.steps.forEach((step, index) => {
    points.push([step, points[points.length - 1][1]], [step, curve.probability[index]]);
  });
  const last = points[points.length - 1][1];
  points.push([curve.horizon, last]);
  const counts = new Map();
  for (const [step, p] of curve.censored) {
    const key = `${step},${p}`;
    counts.set(key, {x: step, y: p, n: (counts.get(key) || {n: 0}).n + 1});
  }
  return lineChart({
    title: `success P(T \u2264 c), ${curve.experiment}, ${curve.metric} \u2265 ` +
        `${formatTarget(curve.target)}: ${formatTick(last)} by step ${curve.horizon}`,
    xLabel: 'steps of an attempt (red ticks: censored attempts, \u00d7n of them)',
    yDomain: [0, 1.15],  // room for the counts above ticks at P = 1
    xMax: curve.horizon * 1.1,  // room after the last jump, which is often at the horizon
    series: [{points, colour: OUTCOME_COLOURS.reached}],
    markers: [...counts.values()].map(({x, y, n}) => ({x, y, n})),
    className: 'success-curve',
  });
}

function lineChart({title, xLabel, series, yDomain, xMax, hline, vlines = [], markers = [],
                    className = ''}) {
  const all = series.flatMap((s) => s.points).concat(markers.map((m) => [m.x, m.y]));
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  if (hline !== undefined) ys.push(hline);
  const xDomain = [Math.min(0, ...xs), Math.max(1, xMax || 0, ...xs)];
  const yLow = ys.length ? Math.min(...ys) : 0, yHigh = ys.length ? Math.max(...ys) : 1;
  const pad = (yHigh - yLow) * 0.05 || Math.abs(yHigh) * 0.05 || 1;
  const frame = chartFrame({
    title, xLabel, xDomain, yDomain: yDomain || [yLow - pad, yHigh + pad], className,
  });
  const {x, y, plot} = frame;
  for (const step of vlines) {
    plot.appendChild(svg('line', {
      class: 'restart', x1: x(step), x2: x(step), y1: y.range[0], y2: y.range[1],
      stroke: '#bbb', 'stroke-dasharray': '2,3',
    }));
  }
  if (hline !== undefined) {
    plot.appendChild(svg('line', {
      class: 'target-line', x1: x.range[0], x2: x.range[1], y1: y(hline), y2: y(hline),
      stroke: OUTCOME_COLOURS.reached, 'stroke-dasharray': '6,3',
    }));
  }
  for (const s of series) {
    if (!s.points.length) continue;
    plot.appendChild(svg('path', {
      d: s.points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0])},${y(p[1])}`).join(''),
      fill: 'none', stroke: s.colour, 'stroke-width': 1.5,
    }));
  }
  // Censored attempts: a tick each, and their count (×n) above it; counts that would
  // overlap their left neighbour's go a row higher.
  const labelEnds = [];
  for (const marker of [...markers].sort((a, b) => a.x - b.x)) {
    const cx = x(marker.x), cy = y(marker.y);
    plot.appendChild(svg('line', {
      class: 'censored', 'data-count': marker.n, x1: cx, x2: cx, y1: cy - 5, y2: cy + 5,
      stroke: '#c62828', 'stroke-width': 2,
    }, svg('title', {}, `${marker.n} attempt(s) censored at step ${marker.x}`)));
    if (marker.n < 2) continue;
    const label = `\u00d7${marker.n}`, half = label.length * 3.5;
    let row = 0;
    while ((labelEnds[row] ?? -Infinity) > cx - half - 2) row += 1;
    labelEnds[row] = cx + half;
    plot.appendChild(svg('text', {
      class: 'censored-count', x: cx, y: cy - 8 - 11 * row, 'text-anchor': 'middle',
      style: 'font-size: 11px; fill: #c62828',
    }, label));
  }
  return frame.node;
}

// A titled SVG with axes; returns the scales and the group to draw in.
function chartFrame({title, xLabel, xDomain, yDomain, height = 200, width = 420,
                     yTicks = true, className = ''}) {
  const margin = {left: 56, right: 12, top: 8, bottom: 34};
  const x = scale(xDomain, [margin.left, width - margin.right]);
  const y = scale(yDomain, [height - margin.bottom, margin.top]);
  const root = svg('svg', {width, height, class: className});
  const axis = svg('g', {class: 'axis'});
  axis.appendChild(svg('line', {x1: x.range[0], x2: x.range[1], y1: y.range[0], y2: y.range[0]}));
  axis.appendChild(svg('line', {x1: x.range[0], x2: x.range[0], y1: y.range[0], y2: y.range[1]}));
  for (const tick of ticks(xDomain)) {
    axis.appendChild(svg('text', {x: x(tick), y: y.range[0] + 14, 'text-anchor': 'middle'},
        formatTick(tick)));
  }
  if (yTicks) {
    for (const tick of ticks(yDomain)) {
      axis.appendChild(svg('text', {x: x.range[0] - 4, y: y(tick) + 4, 'text-anchor': 'end'},
          formatTick(tick)));
    }
  }
  axis.appendChild(svg('text', {x: (x.range[0] + x.range[1]) / 2, y: height - 4,
    'text-anchor': 'middle'}, xLabel));
  root.appendChild(axis);
  const plot = svg('g', {});
  root.appendChild(plot);
  const node = element('div', {class: 'chart'}, element('h3', {}, title), root);
  return {x, y, plot, node};
}

function scale([d0, d1], [r0, r1]) {
  const span = d1 - d0 || 1;
  const f = (value) => r0 + ((value - d0) / span) * (r1 - r0);
  f.range = [r0, r1];
  return f;
}

function ticks([a, b]) {
  const low = Math.min(a, b), high = Math.max(a, b);
  const raw = (high - low) / 4 || 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const result = [];
  for (let t = Math.ceil(low / step) * step; t <= high + 1e-9 * step; t += step) result.push(t);
  return result;
}

function formatTick(value) {
  return Math.abs(value) >= 1000 ? value.toLocaleString('en-US') : String(+value.toPrecision(3));
}

// ------------------------------------------------------------------ DOM helpers

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function swatch(colour) {
  return element('span', {class: 'swatch', style: `background: ${colour}`});
}
