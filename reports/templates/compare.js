// Draws compare.html's timelines from the embedded data (uPlot, inlined: nothing is fetched). Every
// series, label and colour comes finished from src/render/compare.ts; text is only set as text.
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('compare-data').textContent);
  var state = { ready: false, drawn: 0, errors: [] };
  window.__loadscope = state;
  var plots = [];
  var syncing = false;
  var dpr = function () { return window.devicePixelRatio || 1; };
  function width(el) { return Math.max(320, Math.floor(el.getBoundingClientRect().width) || 900); }

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

  function syncScale(u, key) {
    if (key !== 'x' || syncing) return;
    syncing = true;
    plots.forEach(function (o) { if (o !== u) o.setScale('x', { min: u.scales.x.min, max: u.scales.x.max }); });
    syncing = false;
  }

  data.charts.forEach(function (spec) {
    var el = document.getElementById('chart-' + spec.id);
    if (!el) return;
    try {
      var opts = {
        width: width(el), height: 220,
        scales: { x: { time: false } },
        axes: [{ label: 'seconds since start' }, { label: spec.yLabel, size: 60 }],
        series: [{ label: 't (s)' }].concat(spec.series.map(function (s) {
          var o = { label: s.label, stroke: s.color, width: s.width || 1, spanGaps: false, points: { show: false } };
          if (s.dash) o.dash = s.dash;
          return o;
        })),
        cursor: { sync: { key: 'compare' }, drag: { x: true, y: false } },
        hooks: { drawClear: [drawBands], setScale: [syncScale] },
      };
      var u = new uPlot(opts, [data.t].concat(spec.series.map(function (s) { return s.values; })), el);
      plots.push(u);
      el.dataset.drawn = 'true';
      state.drawn++;
    } catch (e) {
      state.errors.push(spec.id + ': ' + (e && e.message));
      el.textContent = 'chart could not be drawn';
    }
  });
  window.addEventListener('resize', function () {
    plots.forEach(function (u) { u.setSize({ width: width(u.root.parentNode), height: 220 }); });
  });
  state.ready = true;
})();
