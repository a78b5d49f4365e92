// Draws the report's charts from the embedded data (uPlot, inlined: nothing is fetched). It decides
// nothing about the run: every series, label, colour and marker comes finished from src/render/view.ts.
// Text from the run is only ever set with textContent.
(function () {
  'use strict';
  var scriptStart = performance.now();
  var dataEl = document.getElementById('report-data');
  var data = JSON.parse(dataEl.textContent);
  var tip = document.getElementById('tip');
  var plots = {};
  var timeline = [];
  var syncing = false;
  var state = { ready: false, drawn: 0, errors: [], updates: 0, scriptStart: scriptStart, parsed: performance.now() };
  /** x range of every drawn chart (tests and tools read it). */
  state.ranges = function () {
    var out = {};
    Object.keys(plots).forEach(function (id) { var x = plots[id].u.scales.x; out[id] = [x.min, x.max]; });
    return out;
  };
  window.__loadscope = state;
  var MARKER_COLORS = { hpa: '#6a1b9a', pod: 'rgba(46,125,50,0.5)', routing: 'rgba(0,131,143,0.5)', stress: '#ef6c00', fault: '#ad1457', warning: 'rgba(198,40,40,0.45)' };
  var dpr = function () { return window.devicePixelRatio || 1; };

  function width(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width) || 900); }

  function showTip(text, x, y) {
    if (!text) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    var w = tip.offsetWidth;
    tip.style.left = Math.min(window.innerWidth - w - 8, x + 14) + 'px';
    tip.style.top = (y + 14) + 'px';
  }

  function lowerBound(arr, v) {
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (arr[mid].t < v) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function drawBands(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, r = dpr();
    ctx.save();
    data.stages.forEach(function (s, i) {
      var x0 = u.valToPos(s.start, 'x', true), x1 = u.valToPos(s.end, 'x', true);
      ctx.fillStyle = i % 2 ? 'rgba(30,80,160,0.04)' : 'rgba(30,80,160,0.09)';
      ctx.fillRect(x0, top, x1 - x0, h);
      ctx.fillStyle = '#456';
      ctx.font = (11 * r) + 'px sans-serif';
      ctx.fillText(s.name, x0 + 4 * r, top + 12 * r, Math.max(20 * r, x1 - x0 - 6 * r));
    });
    ctx.restore();
  }

  function drawViolation(u) {
    var v = data.violation, ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    ctx.fillStyle = 'rgba(198,40,40,0.12)';
    for (var i = 0; i < v.length; i++) {
      if (!v[i]) continue;
      var a = u.valToPos(data.t[i], 'x', true), b = u.valToPos(data.t[i] + 1, 'x', true);
      ctx.fillRect(a, top, b - a, h);
    }
    ctx.restore();
  }

  function drawMarkers(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, r = dpr();
    var min = u.scales.x.min, max = u.scales.x.max;
    ctx.save();
    for (var i = lowerBound(data.markers, min); i < data.markers.length && data.markers[i].t <= max; i++) {
      var m = data.markers[i];
      var x = Math.round(u.valToPos(m.t, 'x', true)) + 0.5;
      ctx.strokeStyle = MARKER_COLORS[m.category] || '#777';
      ctx.lineWidth = (m.category === 'hpa' ? 2 : 1) * r;
      ctx.setLineDash(m.category === 'routing' ? [3 * r, 3 * r] : []);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + h);
      ctx.stroke();
    }
    ctx.restore();
  }

  function drawHline(u, spec) {
    if (!spec.hline) return;
    var y = u.valToPos(spec.hline.value, 'y', true);
    if (!(y >= u.bbox.top && y <= u.bbox.top + u.bbox.height)) return;
    var ctx = u.ctx, r = dpr();
    ctx.save();
    ctx.strokeStyle = '#c62828';
    ctx.setLineDash([6 * r, 4 * r]);
    ctx.lineWidth = r;
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.fillStyle = '#c62828';
    ctx.font = (11 * r) + 'px sans-serif';
    ctx.fillText(spec.hline.label, u.bbox.left + 6 * r, y - 4 * r);
    ctx.restore();
  }

  // light yellow → orange → dark purple, 64 steps
  var HEAT = (function () {
    var stops = [[255, 247, 188], [254, 153, 41], [204, 76, 2], [102, 37, 6], [40, 10, 60]], out = [];
    for (var n = 0; n < 64; n++) {
      var p = n / 63 * (stops.length - 1), i = Math.floor(p), k = p - i;
      var a = stops[i], b = stops[Math.min(stops.length - 1, i + 1)];
      out.push([Math.round(a[0] + (b[0] - a[0]) * k), Math.round(a[1] + (b[1] - a[1]) * k), Math.round(a[2] + (b[2] - a[2]) * k)]);
    }
    return out;
  })();

  // The heatmap as an image, one pixel per window and latency row, drawn scaled: one drawImage per redraw.
  function heatImage(ref) {
    if (ref.img && ref.imgSpec === ref.spec) return ref.img;
    var heat = ref.spec.heat, rows = heat.rows, nb = heat.edgeLabels.length, n = rows.length, lmax = Math.log(heat.max + 1);
    var c = document.createElement('canvas');
    c.width = Math.max(1, n);
    c.height = Math.max(1, nb);
    var ctx = c.getContext('2d'), img = ctx.createImageData(c.width, c.height), d = img.data;
    for (var i = 0; i < n; i++) {
      var row = rows[i];
      if (!row) continue;
      for (var b = 0; b < row.length && b < nb; b++) {
        if (!row[b]) continue;
        var rgb = HEAT[Math.max(0, Math.min(63, Math.round((lmax > 0 ? Math.log(row[b] + 1) / lmax : 0) * 63)))];
        var o = ((nb - 1 - b) * c.width + i) * 4;
        d[o] = rgb[0]; d[o + 1] = rgb[1]; d[o + 2] = rgb[2]; d[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    ref.img = c;
    ref.imgSpec = ref.spec;
    return c;
  }

  function drawHeat(u, ref) {
    var img = heatImage(ref), n = img.width, nb = img.height, ctx = u.ctx;
    var i0 = Math.max(0, Math.floor(u.scales.x.min)), i1 = Math.min(n, Math.ceil(u.scales.x.max) + 1);
    if (i1 <= i0) return;
    var x0 = u.valToPos(data.t[i0], 'x', true), x1 = u.valToPos(data.t[i1 - 1] + 1, 'x', true);
    var y0 = u.valToPos(nb, 'y', true), y1 = u.valToPos(0, 'y', true);
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, i0, 0, i1 - i0, nb, x0, y0, x1 - x0, y1 - y0);
    ctx.restore();
  }

  function syncScale(u, key) {
    if (key !== 'x' || syncing || timeline.indexOf(u) < 0) return;
    syncing = true;
    var min = u.scales.x.min, max = u.scales.x.max;
    timeline.forEach(function (o) { if (o !== u) o.setScale('x', { min: min, max: max }); });
    syncing = false;
  }

  function cursorTip(ref) {
    return function (u) {
      var spec = ref.spec;
      var left = u.cursor.left, top = u.cursor.top;
      if (left === undefined || left < 0) { showTip(''); return; }
      var rect = u.over.getBoundingClientRect();
      var text = '';
      if (spec.kind === 'heatmap') {
        var i = u.cursor.idx, b = Math.floor(u.posToVal(top, 'y'));
        var row = i === null || i === undefined ? null : spec.heat.rows[i];
        if (row && b >= 0 && b < spec.heat.edgeLabels.length) text = 't=' + data.t[i] + ' s, ' + spec.heat.edgeLabels[b] + ': ' + (row[b] || 0) + ' ' + spec.heat.unit;
      }
      if (spec.timeline && data.markers.length) {
        var lo = u.posToVal(left - 4, 'x'), hi = u.posToVal(left + 4, 'x'), lines = [];
        for (var k = lowerBound(data.markers, lo); k < data.markers.length && data.markers[k].t <= hi && lines.length < 6; k++) {
          lines.push(data.markers[k].t.toFixed(1) + ' s  ' + data.markers[k].label);
        }
        if (lines.length) text = (text ? text + '\n' : '') + lines.join('\n');
      }
      showTip(text, rect.left + left, rect.top + top);
    };
  }

  function seriesOpts(s) {
    var o = { label: s.label, stroke: s.color, width: s.width || 1, scale: s.scale || 'y', spanGaps: false, points: { show: false } };
    if (s.step) o.paths = uPlot.paths.stepped({ align: 1 });
    if (s.dash) o.dash = s.dash;
    if (s.fill) o.fill = s.fill;
    return o;
  }

  function build(spec, w) {
    var el = document.getElementById('chart-' + spec.id);
    if (!el) return;
    var opts, values;
    var ref = { spec: spec, u: null };
    var hooks = { drawClear: [], draw: [], setScale: [syncScale], setCursor: [cursorTip(ref)] };
    if (spec.kind === 'bars') {
      var labels = spec.xLabels;
      opts = {
        width: w, height: spec.height,
        scales: { x: { time: false, range: [-0.5, spec.x.length - 0.5] } },
        axes: [
          { label: 'latency', values: function (u, splits) { return splits.map(function (v) { return labels[v] || ''; }); }, space: 70, incrs: [1, 2, 5, 10] },
          { label: spec.yLabel },
        ],
        series: [{ label: 'bucket', value: function (u, v) { return v === null ? '--' : labels[v] || ''; } }].concat(spec.series.map(function (s) {
          return { label: s.label, stroke: s.color, fill: s.fill, paths: uPlot.paths.bars({ size: [0.9, 60] }), points: { show: false } };
        })),
        legend: { live: true },
        hooks: {},
      };
      values = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    } else if (spec.kind === 'heatmap') {
      var edge = spec.heat.edgeLabels;
      var n = edge.length;
      opts = {
        width: w, height: spec.height,
        scales: { x: { time: false }, y: { range: [0, n] } },
        axes: [
          { label: 'seconds since start' },
          { label: spec.yLabel, size: 80, splits: function () { var s = []; for (var i = 0; i < n; i += Math.max(1, Math.ceil(n / 8))) s.push(i + 0.5); return s; }, values: function (u, splits) { return splits.map(function (v) { return edge[Math.floor(v)] || ''; }); } },
        ],
        series: [{ label: 't (s)' }, { label: spec.heat.unit, stroke: 'rgba(0,0,0,0)', points: { show: false }, value: function () { return ''; } }],
        cursor: { sync: { key: 'timeline' }, drag: { x: true, y: false }, points: { show: false } },
        legend: { show: false },
        hooks: hooks,
      };
      hooks.drawClear.push(drawBands);
      hooks.draw.push(function (u) { drawHeat(u, ref); drawMarkers(u); });
      values = [data.t, data.t.map(function () { return null; })];
    } else {
      var scales = { x: { time: false } };
      if (spec.yLog) scales.y = { distr: 3 };
      if (spec.yRange) scales.y = { range: spec.yRange };
      var axes = [{ label: spec.timeline ? 'seconds since start' : '' }, { label: spec.yLabel, size: 60 }];
      if (spec.y2Label) { scales.y2 = { range: function (u, min, max) { return [0, Math.max(1, Math.ceil((max || 0) * 1.2))]; } }; axes.push({ scale: 'y2', side: 1, label: spec.y2Label, grid: { show: false }, size: 50 }); }
      opts = {
        width: w, height: spec.height,
        scales: scales,
        axes: axes,
        series: [{ label: 't (s)' }].concat(spec.series.map(seriesOpts)),
        cursor: { sync: { key: 'timeline' }, drag: { x: true, y: false } },
        hooks: hooks,
      };
      hooks.drawClear.push(drawBands);
      if (spec.shadeViolation) hooks.drawClear.push(drawViolation);
      hooks.draw.push(function (u) { drawHline(u, ref.spec); drawMarkers(u); });
      values = [data.t].concat(spec.series.map(function (s) { return s.values; }));
    }
    var u = new uPlot(opts, values, el);
    ref.u = u;
    plots[spec.id] = ref;
    if (spec.timeline) timeline.push(u);
    el.dataset.drawn = 'true';
    state.drawn++;
  }

  function drawAll() {
    timeline = [];
    plots = {};
    // read every width first, then build: measuring between inserts would force a layout per chart
    var widths = data.charts.map(function (spec) { var el = document.getElementById('chart-' + spec.id); return el ? width(el) : 0; });
    data.charts.forEach(function (spec, i) {
      try { build(spec, widths[i]); } catch (e) { state.errors.push(spec.id + ': ' + e.message); throw e; }
    });
  }

  function resize() {
    Object.keys(plots).forEach(function (id) {
      var p = plots[id], el = document.getElementById('chart-' + id);
      if (el) p.u.setSize({ width: width(el), height: p.spec.height });
    });
  }

  function setText(sel, text) {
    var el = document.querySelector(sel);
    if (el) el.textContent = text;
  }

  function fillList(id, items) {
    var el = document.getElementById(id);
    if (!el || el.tagName !== 'UL') return;
    while (el.firstChild) el.removeChild(el.firstChild);
    items.forEach(function (t) { var li = document.createElement('li'); li.textContent = t; el.appendChild(li); });
  }

  function fillEvents(table) {
    var tbody = document.querySelector('table.events tbody');
    if (!tbody) return;
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    table.rows.forEach(function (row) {
      var tr = document.createElement('tr');
      row.forEach(function (cell) { var td = document.createElement('td'); td.textContent = cell.text; tr.appendChild(td); });
      tbody.appendChild(tr);
    });
    filterEvents();
  }

  function filterEvents() {
    var input = document.getElementById('event-filter');
    var q = input ? input.value.trim().toLowerCase() : '';
    var rows = document.querySelectorAll('table.events tbody tr');
    for (var i = 0; i < rows.length; i++) rows[i].hidden = q !== '' && rows[i].textContent.toLowerCase().indexOf(q) < 0;
  }

  function applyUpdate(view) {
    var ids = view.data.charts.map(function (c) { return c.id; }).join(',');
    var had = data.charts.map(function (c) { return c.id; }).join(',');
    if (ids !== had) { location.reload(); return; }
    data = view.data;
    data.charts.forEach(function (spec) {
      var p = plots[spec.id];
      if (!p) return;
      p.spec = spec;
      if (spec.kind === 'heatmap') p.u.setData([data.t, data.t.map(function () { return null; })]);
      else if (spec.kind === 'bars') p.u.setData([spec.x].concat(spec.series.map(function (s) { return s.values; })));
      else p.u.setData([data.t].concat(spec.series.map(function (s) { return s.values; })));
    });
    view.figures.forEach(function (f) { setText('[data-field="' + f.key + '"]', f.value); });
    setText('[data-field="verdict"]', view.verdict.text);
    fillList('findings', view.findings);
    fillEvents(view.events);
    state.updates++;
    setText('#livebar', 'live view — update ' + state.updates + ' at ' + new Date().toLocaleTimeString() + ' (' + data.t.length + ' s of data)');
  }

  function connect() {
    if (!document.body.classList.contains('live') || typeof EventSource === 'undefined') return;
    var es = new EventSource('events');
    es.addEventListener('update', function (ev) { applyUpdate(JSON.parse(ev.data)); });
    es.addEventListener('end', function (ev) {
      var info = JSON.parse(ev.data);
      setText('#livebar', 'run finished (' + info.outcome + '); the report is in ' + info.report);
      es.close();
    });
  }

  drawAll();
  var filter = document.getElementById('event-filter');
  if (filter) filter.addEventListener('input', filterEvents);
  var timer;
  window.addEventListener('resize', function () { clearTimeout(timer); timer = setTimeout(resize, 100); });
  window.addEventListener('beforeprint', resize);
  // uPlot paints in a microtask after construction: count the drawing in, then say ready
  Promise.resolve().then(function () {
    state.drawMs = performance.now() - state.parsed;
    state.ready = true;
  });
  connect();
})();
