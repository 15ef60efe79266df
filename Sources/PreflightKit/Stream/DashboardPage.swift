/// The live dashboard's one page: HTML, CSS and script inline, charts drawn as SVG by the script, nothing fetched
/// but `/events` (server-sent events) and, at the end, the report's own page under `/report/`.
enum DashboardPage {
    static let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>preflight — live</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
        header{padding:12px 20px;background:#1d2430;color:#fff;display:flex;gap:16px;align-items:baseline}
        header h1{font-size:18px;margin:0} header span{opacity:.8}
        #verdict{margin:12px 20px;padding:10px 14px;border-radius:6px;display:none;font-weight:600}
        #verdict.pass{display:block;background:#dff3e4;color:#175c2b} #verdict.fail,#verdict.error{display:block;background:#fbe0e0;color:#8a1c1c}
        #verdict.inconclusive{display:block;background:#fdf1d6;color:#7a5300}
        main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:14px;padding:14px 20px}
        section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 12px}
        section h2{font-size:14px;margin:0 0 6px} svg{width:100%;height:190px} .legend span{margin-right:12px}
        table{border-collapse:collapse;width:100%} td{padding:3px 6px;border-top:1px solid #eef0f3}
        .ok{color:#175c2b} .bad{color:#8a1c1c} .muted{color:#6b7480}
        #mock{background:#c0392b;color:#fff;padding:2px 8px;border-radius:3px}
        </style></head><body>
        <header><h1 id="title">preflight — waiting for a run</h1><span id="meta"></span><span id="clock"></span></header>
        <div id="verdict"></div>
        <main>
        <section><h2>Latency (ms, from the intended start)</h2><svg id="latency"></svg>
        <div class="legend"><span style="color:#2f6fdf">p50</span><span style="color:#e08a1e">p95</span><span style="color:#c0392b">p99</span></div></section>
        <section><h2>Throughput and errors (per second)</h2><svg id="rate"></svg>
        <div class="legend"><span style="color:#2f6fdf">requests</span><span style="color:#c0392b">errors</span></div></section>
        <section><h2>VUs</h2><svg id="vus"></svg></section>
        <section><h2>Thresholds, as they stand</h2><table id="thresholds"><tr><td class="muted">none yet</td></tr></table></section>
        <section><h2>Timeline</h2><table id="timeline"><tr><td class="muted">no milestone yet</td></tr></table></section>
        </main>
        <script>
        const buckets = [], milestones = []; let run = null;
        // Seconds since the run started: a drill's background load and each capacity step start later than the run.
        const T = b => run ? b.time - run.startTime : b.t;
        const $ = id => document.getElementById(id);
        function esc(s){return String(s).replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]))}
        function chart(id, series){
          const svg = $(id), w = 600, h = 190, pad = 34;
          svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
          const xs = buckets.map(b => T(b) + b.seconds).concat(milestones.map(m => m.t));
          const tmax = Math.max(run ? run.plannedSeconds : 0, ...xs, 1);
          let ymax = 0; for (const s of series) for (const b of buckets) { const v = s.value(b); if (v != null && v > ymax) ymax = v; }
          ymax = ymax > 0 ? ymax * 1.1 : 1;
          const X = t => pad + (w - pad - 8) * t / tmax, Y = v => h - 18 - (h - 28) * v / ymax;
          let out = `<line x1="${pad}" y1="${h-18}" x2="${w-8}" y2="${h-18}" stroke="#ccd"/>`;
          out += `<text x="2" y="14" font-size="11" fill="#6b7480">${ymax.toPrecision(3)}</text>`;
          out += `<text x="${w-60}" y="${h-4}" font-size="11" fill="#6b7480">${tmax.toFixed(0)} s</text>`;
          for (const m of milestones) out += `<line x1="${X(m.t).toFixed(1)}" y1="4" x2="${X(m.t).toFixed(1)}" y2="${h-18}" stroke="#8a94a3" stroke-dasharray="3 3"><title>${esc(m.name)}</title></line>`;
          for (const s of series) {
            const pts = buckets.filter(b => s.value(b) != null).map(b => `${X(T(b)).toFixed(1)},${Y(s.value(b)).toFixed(1)}`);
            if (pts.length) out += `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`;
          }
          svg.innerHTML = out;
        }
        function draw(){
          chart('latency', [{color:'#2f6fdf',value:b=>b.p50},{color:'#e08a1e',value:b=>b.p95},{color:'#c0392b',value:b=>b.p99}]);
          chart('rate', [{color:'#2f6fdf',value:b=>b.requests/b.seconds},{color:'#c0392b',value:b=>b.errors/b.seconds}]);
          chart('vus', [{color:'#6a4fbf',value:b=>b.vus}]);
          const last = buckets[buckets.length-1];
          if (last) $('clock').textContent = `${(T(last) + last.seconds).toFixed(0)} s` + (run && run.plannedSeconds > 0 ? ` of ${run.plannedSeconds.toFixed(0)} s` : '') + ` · ${buckets.reduce((a,b)=>a+b.requests,0)} requests`;
        }
        function thresholds(list){
          $('thresholds').innerHTML = list.map(t => `<tr><td class="${t.ok?'ok':'bad'}">${t.ok?'✓':'✗'}</td><td>${esc(t.name)}</td><td class="muted">${t.observed==null?'no data':(+t.observed).toPrecision(4)}</td></tr>`).join('') || '<tr><td class="muted">none</td></tr>';
        }
        function timeline(){
          $('timeline').innerHTML = milestones.map(m => `<tr><td class="muted">${m.t.toFixed(1)} s</td><td>${esc(m.name)}</td><td class="muted">${esc(m.detail || '')}</td></tr>`).join('');
        }
        const events = new EventSource('/events');
        events.addEventListener('run', e => { run = JSON.parse(e.data); buckets.length = 0; milestones.length = 0;
          $('timeline').innerHTML = '<tr><td class="muted">no milestone yet</td></tr>';
          $('title').textContent = 'preflight — ' + run.scenario; $('meta').innerHTML = esc(run.target) + (run.segment ? ` · segment ${esc(run.segment)}` : '')
            + (run.mode === 'mock' ? ' <b id="mock">MOCK — results do not describe the target</b>' : ' · real');
          $('verdict').className = ''; $('verdict').textContent = ''; draw(); });
        events.addEventListener('bucket', e => { buckets.push(JSON.parse(e.data)); draw(); });
        events.addEventListener('thresholds', e => thresholds(JSON.parse(e.data)));
        events.addEventListener('milestone', e => { milestones.push(JSON.parse(e.data)); timeline(); draw(); });
        events.addEventListener('end', e => { const end = JSON.parse(e.data); thresholds(end.thresholds);
          const v = $('verdict'); v.className = end.verdict;
          v.innerHTML = `${esc(end.verdict.toUpperCase())} — ${esc(end.reason)}` + (end.report ? ` · <a href="/report/report.html">the report</a>` : ''); });
        </script></body></html>
        """
}
