// Draws the report's charts from the embedded series (uPlot, inlined; nothing is fetched).
(function () {
  var data = JSON.parse(document.getElementById('series').textContent);
  var width = function (el) { return Math.max(320, el.clientWidth || 900); };
  function bands(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    data.stages.forEach(function (s, i) {
      var x0 = u.valToPos(s.start, 'x', true), x1 = u.valToPos(s.end, 'x', true);
      ctx.fillStyle = i % 2 ? 'rgba(30,80,160,0.05)' : 'rgba(30,80,160,0.10)';
      ctx.fillRect(x0, top, x1 - x0, h);
      ctx.fillStyle = '#456';
      ctx.font = (11 * devicePixelRatio) + 'px sans-serif';
      ctx.fillText(s.name, x0 + 4, top + 12 * devicePixelRatio);
    });
    for (var i = 0; i < data.t.length; i++) {
      if (data.stress[i] > 0) {
        var a = u.valToPos(data.t[i], 'x', true), b = u.valToPos(data.t[i] + 1, 'x', true);
        ctx.fillStyle = 'rgba(220,80,0,0.10)';
        ctx.fillRect(a, top + h - 8 * devicePixelRatio, b - a, 8 * devicePixelRatio);
      }
    }
    ctx.restore();
  }
  function chart(id, series, values, yLabel) {
    var el = document.getElementById(id);
    var opts = {
      width: width(el), height: 300,
      scales: { x: { time: false } },
      axes: [{ label: 'seconds since start' }, { label: yLabel }],
      series: [{ label: 't (s)' }].concat(series),
      cursor: { drag: { x: true, y: false } },
      hooks: { drawClear: [bands] },
    };
    var u = new uPlot(opts, [data.t].concat(values), el);
    window.addEventListener('resize', function () { u.setSize({ width: width(el), height: 300 }); });
    el.dataset.drawn = 'true';
    return u;
  }
  chart('chart-rps', [
    { label: 'responses/s', stroke: '#1565c0', width: 2 },
    { label: 'errors/s', stroke: '#c62828', width: 1 },
  ], [data.rps, data.errors], 'per second');
  chart('chart-latency', [
    { label: 'p50 ms', stroke: '#2e7d32', width: 2 },
    { label: 'p90 ms', stroke: '#f9a825', width: 1 },
    { label: 'p99 ms', stroke: '#c62828', width: 2 },
  ], [data.p50, data.p90, data.p99], 'ms');
})();
