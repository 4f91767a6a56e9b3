// The rack page: renders each State the stream sends. Names and messages
// are set as text, never as HTML.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const openReadings = new Set(); // servers whose readings the operator opened
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };
  const fmt = (v) => (v === null || v === undefined) ? "—" : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2).replace(/\.?0+$/, ""));
  const time = (s) => { const d = new Date(s); return isNaN(d) ? "" : d.toLocaleTimeString([], {hour12: false}); };
  const since = (s, now) => { const d = (new Date(now) - new Date(s)) / 1000; return isNaN(d) ? "" : (d < 90 ? d.toFixed(0) + " s" : (d / 60).toFixed(0) + " min"); };

  function sparkline(r) {
    const w = 64, h = 20, pad = 2;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", w); svg.setAttribute("height", h);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    const vals = (r.history || []).filter((v) => v !== null);
    if (vals.length === 0) return svg;
    let lo = Math.min(...vals), hi = Math.max(...vals);
    const margin = Math.max(hi - lo, Math.abs(hi) * 0.05, 0.01);
    lo -= margin; hi += margin;
    const t = r.thresholds || {};
    const y = (v) => h - pad - (v - lo) / (hi - lo) * (h - 2 * pad);
    const n = r.history.length;
    const x = (i) => n === 1 ? w - pad : pad + i * (w - 2 * pad) / (n - 1);
    for (const [k, cls] of [["upper_critical", "limit"], ["lower_critical", "limit"], ["upper_caution", "caution"], ["lower_caution", "caution"]]) {
      const v = t[k];
      if (v === undefined || v < lo || v > hi) continue;
      const l = document.createElementNS(SVG, "line");
      l.setAttribute("class", cls);
      l.setAttribute("x1", 0); l.setAttribute("x2", w); l.setAttribute("y1", y(v)); l.setAttribute("y2", y(v));
      svg.appendChild(l);
    }
    let d = "", pen = false, last = null;
    r.history.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " ";
      pen = true; last = [x(i), y(v)];
    });
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("class", "line"); p.setAttribute("d", d);
    svg.appendChild(p);
    if (last) {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("class", "last"); c.setAttribute("cx", last[0]); c.setAttribute("cy", last[1]); c.setAttribute("r", 1.8);
      svg.appendChild(c);
    }
    return svg;
  }

  function limits(t) {
    const lo = t.lower_critical, hi = t.upper_critical;
    if (lo === undefined && hi === undefined) return "";
    return (lo !== undefined ? fmt(lo) : "") + "…" + (hi !== undefined ? fmt(hi) : "");
  }

  function fact(label, value, bad) {
    const s = el("span", bad ? "bad" : "");
    s.append(label + " ", el("b", bad ? "bad" : "", value));
    return s;
  }

  function serverCard(s, st) {
    const card = el("article", "server");
    card.dataset.server = s.name;
    card.id = "server-" + s.name;
    const failed = s.polled && (!s.reachable || s.power !== "on" || s.fault || s.watchdog === "expired");
    const busy = s.phase && s.phase !== "watching";
    if (failed) card.classList.add("bad"); else if (busy) card.classList.add("busy");
    const top = el("div", "top");
    top.append(el("span", "name", s.name));
    const ph = el("span", "phase " + (s.phase || "unknown"), s.phase || "phase not reported");
    ph.dataset.phase = s.phase || "";
    if (s.phase_since) ph.title = "since " + time(s.phase_since);
    top.append(ph);
    card.append(top);
    const facts = el("div", "facts");
    if (!s.polled) {
      facts.append(fact("BMC", "not polled yet", true));
    } else {
      const bmc = fact("BMC", s.reachable ? "reachable" : "unreachable", !s.reachable); bmc.dataset.fact = "bmc"; facts.append(bmc);
      const pw = fact("power", s.power, s.power !== "on"); pw.dataset.fact = "power"; facts.append(pw);
      const wd = fact("watchdog", s.watchdog || "none", s.watchdog === "expired"); wd.dataset.fact = "watchdog"; facts.append(wd);
    }
    const wt = fact("watched by", s.watcher + (s.watcher !== s.topology_watcher ? " (handed over from " + s.topology_watcher + ")" : ""), !s.watcher);
    wt.dataset.fact = "watcher"; facts.append(wt);
    card.append(facts);
    if (s.trail && s.trail.length > 1) {
      const tr = el("div", "trail");
      tr.append("phases: ");
      s.trail.forEach((p, i) => {
        if (i) tr.append(" → ");
        const b = el("span", "step " + p.phase, p.phase);
        b.dataset.step = p.phase;
        b.title = "from " + time(p.since);
        tr.append(b);
      });
      card.append(tr);
    }
    if (s.fault) card.append(el("div", "err", "fault: " + (s.detail || "the BMC reports the server failed")));
    if (s.err) card.append(el("div", "err", s.err));
    if (s.readings.length) {
      // At scale, a healthy server's readings fold into one line; open
      // when the rack is small, the server failed or a reading is past
      // caution.
      const off = s.readings.filter((r) => r.level !== "normal");
      const det = el("details", "readings-box");
      det.dataset.server = s.name;
      det.open = st.servers.length <= 16 || failed || busy || off.length > 0 || openReadings.has(s.name);
      det.addEventListener("toggle", () => { if (det.open) openReadings.add(s.name); else openReadings.delete(s.name); });
      det.append(el("summary", "", `${s.readings.length} readings` + (off.length ? ` · ${off.length} past a threshold or unavailable` : " · all normal")));
      const tb = el("table", "readings");
      for (const r of s.readings) {
        const tr = el("tr", "lvl-" + r.level);
        tr.dataset.reading = r.name;
        tr.title = `${r.name} (${r.kind}): ${r.level}`;
        tr.append(el("td", "rname", r.name), el("td", "val", fmt(r.value) + " " + r.unit), el("td", "lim", limits(r.thresholds)));
        const sp = el("td", "spark"); sp.append(sparkline(r)); tr.append(sp);
        tb.append(tr);
      }
      det.append(tb);
      card.append(det);
    }
    if (s.polled) card.append(el("div", "note", "polled " + since(s.last_poll, st.time) + " ago"));
    return card;
  }

  function render(st) {
    const servers = document.getElementById("servers");
    servers.replaceChildren(...st.servers.map((s) => serverCard(s, st)));
    document.getElementById("phases-note").hidden = st.phases_known || st.servers.some((s) => s.phase);
    const bad = st.servers.filter((s) => s.polled && (!s.reachable || s.power !== "on" || s.fault || s.watchdog === "expired")).length;
    const busy = st.servers.filter((s) => s.phase && s.phase !== "watching").length;
    document.getElementById("summary").textContent =
      `${st.servers.length} servers · ${bad} failed · ${busy} in takeover` + (st.vms ? ` · ${st.vms.length} VMs` : "");
    // The servers that need a look, linked to their cards.
    const trouble = document.getElementById("trouble");
    trouble.replaceChildren(...st.servers.filter((s) => (s.polled && (!s.reachable || s.power !== "on" || s.fault || s.watchdog === "expired")) || (s.phase && s.phase !== "watching"))
      .map((s) => { const a = el("a", "", s.name + (s.phase && s.phase !== "watching" ? " (" + s.phase + ")" : "")); a.href = "#server-" + s.name; return a; }));
    document.getElementById("updated").textContent = "as of " + time(st.time);
    const body = document.querySelector("#vms tbody");
    const note = document.getElementById("vms-note");
    if (!st.vms) {
      note.textContent = "No image store given to this page: VM owners are not known here.";
      body.replaceChildren();
    } else {
      note.textContent = st.vms_err ? "image store: " + st.vms_err : "";
      body.replaceChildren(...st.vms.map((v) => {
        const tr = el("tr", v.previous_owner ? "moved" : "");
        tr.dataset.vm = v.name;
        tr.append(el("td", "", v.name), el("td", "owner", v.owner), el("td", "", v.previous_owner || ""));
        return tr;
      }));
    }
    const events = document.getElementById("events");
    events.replaceChildren(...st.events.slice().reverse().map((e) => {
      const li = el("li");
      li.dataset.type = e.type;
      li.append(el("span", "t", time(e.time) + " "), el("span", "ty " + e.type, e.type), " ",
        [e.server, e.peer ? "→ " + e.peer : "", e.vm, e.cause ? "(" + e.cause + ")" : ""].filter(Boolean).join(" "));
      if (e.message) li.append(el("div", "note", e.message));
      return li;
    }));
    document.body.dataset.rendered = String((Number(document.body.dataset.rendered) || 0) + 1);
  }

  const conn = document.getElementById("conn");
  const es = new EventSource("stream");
  es.addEventListener("state", (m) => {
    conn.textContent = "live"; conn.className = "conn up";
    render(JSON.parse(m.data));
  });
  es.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn down"; };
})();
