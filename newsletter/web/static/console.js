// Console behaviour: the segment rule editor's live count and a send's live progress.
// Served from /static (the CSP allows scripts from this site only).
"use strict";

(function liveCount() {
  const rule = document.querySelector("textarea[data-count-url]");
  if (!rule) return;
  const out = document.getElementById("rule-count");
  let timer = null;
  const update = async () => {
    if (!rule.value.trim()) { out.textContent = ""; return; }
    const url = rule.dataset.countUrl + "?rule=" + encodeURIComponent(rule.value);
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json();
    out.classList.toggle("error", !data.ok);
    out.textContent = data.ok
      ? data.count + (data.count === 1 ? " active subscriber" : " active subscribers")
      : "At character " + data.position + ": " + data.error;
  };
  rule.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(update, 250); });
  update();
})();

(function liveProgress() {
  const box = document.getElementById("progress");
  if (!box) return;
  const svgNS = "http://www.w3.org/2000/svg";
  const chart = document.getElementById("chart");
  const W = 600, H = 200, PAD = 30;
  const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };

  const line = (series, max, cls) => {
    const n = series.length;
    const pts = series.map((v, i) => {
      const x = PAD + (n > 1 ? (i / (n - 1)) * (W - 2 * PAD) : 0);
      const y = H - PAD - (max ? (v / max) * (H - 2 * PAD) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const el = document.createElementNS(svgNS, "polyline");
    el.setAttribute("points", pts.join(" "));
    el.setAttribute("class", cls);
    return el;
  };

  const draw = (timeline) => {
    for (const el of [...chart.querySelectorAll("polyline, line, text")]) el.remove();
    const axis = document.createElementNS(svgNS, "line");
    axis.setAttribute("x1", PAD); axis.setAttribute("y1", H - PAD);
    axis.setAttribute("x2", W - PAD); axis.setAttribute("y2", H - PAD);
    axis.setAttribute("class", "axis");
    chart.appendChild(axis);
    if (!timeline.sent.length) return;
    // Start both lines at zero so a send that finished within one bucket still rises.
    const sent = [0, ...timeline.sent], failed = [0, ...timeline.failed];
    const max = Math.max(1, sent[sent.length - 1] + failed[failed.length - 1], sent[sent.length - 1]);
    chart.appendChild(line(sent, max, "sent"));
    chart.appendChild(line(failed, max, "failed"));
    const label = document.createElementNS(svgNS, "text");
    label.setAttribute("x", PAD); label.setAttribute("y", PAD - 10);
    label.textContent = max + " messages over " + timeline.sent.length * timeline.bucket_seconds + " s";
    chart.appendChild(label);
  };

  const poll = async () => {
    let data;
    try {
      const response = await fetch(box.dataset.url, { credentials: "same-origin" });
      data = await response.json();
    } catch (e) { setTimeout(poll, 5000); return; }
    for (const key of ["planned", "sent", "failed", "skipped", "pending"]) set(key, data[key]);
    const status = document.getElementById("status");
    status.textContent = data.status;
    status.className = "status status-" + data.status;
    set("reason", data.reason || "");
    set("scheduled", data.scheduled_at_uk);
    set("started", data.started_at_uk);
    set("finished", data.finished_at_uk);
    const bar = document.getElementById("bar");
    bar.max = data.planned || 1;
    bar.value = data.sent + data.failed + data.skipped;
    draw(data.timeline);
    const final = data.status === "finished" || data.status === "cancelled";
    if (final) { const controls = document.getElementById("controls"); if (controls) controls.hidden = true; }
    else setTimeout(poll, 1500);
  };
  poll();
})();
