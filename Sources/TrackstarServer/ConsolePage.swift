// The console at / of the admin listener: one self-contained page (no CDN, no cookies) with live
// figures from /metrics drawn as SVG, reports and the catalog through the management API, signed in
// with a token kept in the tab's sessionStorage and sent as a bearer header.

enum ConsolePage {
    /// The page, or 405 for other methods.
    static func respond(_ request: AdminRequest) -> AdminResponse {
        guard request.isRead || request.methodName.isEmpty else { return Api.methodNotAllowed("GET, HEAD") }
        return AdminResponse(status: 200, contentType: "text/html; charset=utf-8", headers: [
            ("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
        ], body: Array(html.utf8))
    }

    static let html = ##"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trackstar console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}header nav a{color:#cde;margin-right:12px;cursor:pointer}
main{padding:16px;max-width:1200px}section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px;margin-bottom:16px}
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:130px}
.tile b{display:block;font-size:20px}.err{color:#b00}.muted{color:#777}svg{background:#fbfcfe;border:1px solid #eee}
input,select,button{font:inherit}label{display:block;margin:4px 0}input[type=text]{width:420px}
</style></head>
<body>
<header><h1>Trackstar</h1><nav><a data-page="live">Live</a><a data-page="reports">Reports</a><a data-page="catalog">Catalog</a></nav>
<span id="who" class="muted"></span><span style="flex:1"></span>
<form id="signin"><input id="token" type="password" placeholder="API token" autocomplete="off"> <button>Sign in</button></form>
<button id="signout" hidden>Sign out</button></header>
<main>
<p id="status" class="muted">Live figures come from /metrics; reports and the catalog need a token (kept in this tab only).</p>
<div id="page-live">
<section><h2>Clicks/s and conversions/s, last 15 minutes</h2>
<svg id="chart" width="900" height="220" viewBox="0 0 900 220" role="img" aria-label="clicks and conversions per second"></svg>
<div class="muted"><span style="color:#2a6fdb">■</span> clicks/s <span style="color:#d9822b">■</span> conversions/s</div></section>
<section><h2>Now</h2><div class="tiles">
<div class="tile">clicks recorded<b id="m-clicks">–</b></div><div class="tile">conversions recorded<b id="m-conversions">–</b></div>
<div class="tile">clicks/s<b id="m-click-rate">–</b></div><div class="tile">conversions/s<b id="m-conversion-rate">–</b></div>
<div class="tile">export lag (records)<b id="m-export-lag">–</b></div><div class="tile">partner queue<b id="m-partner-queue">–</b></div>
<div class="tile">paused endpoints<b id="m-paused">–</b></div><div class="tile">failed deliveries<b id="m-delivery-failed">–</b></div>
</div></section>
<section><h2>Refusals by reason</h2><table id="refusals"><thead><tr><th>reason</th><th>count</th></tr></thead><tbody></tbody></table></section>
<section><h2>Caps</h2><table id="caps"><thead><tr><th>cap</th><th>used / limit</th></tr></thead><tbody></tbody></table>
<p class="muted" id="caps-none">No offer has a cap.</p></section>
</div>
<div id="page-reports" hidden>
<section><h2>Report</h2><form id="range">From <input id="from" type="date"> to <input id="to" type="date">
<select id="group"><option value="offer">by offer</option><option value="affiliate">by affiliate</option></select> <button>Show</button>
<button type="button" id="today">Today</button></form>
<table id="report"><thead><tr><th id="report-dim">offer</th><th>clicks</th><th>unique</th><th>conversions</th><th>CR %</th><th>payout</th><th>revenue</th><th>profit</th><th>EPC</th></tr></thead><tbody></tbody><tfoot></tfoot></table></section>
</div>
<div id="page-catalog" hidden>
<section><h2>Offers</h2><table id="offers"><thead><tr><th>id</th><th>name</th><th>status</th><th>payout</th><th>url</th><th></th></tr></thead><tbody></tbody></table></section>
<section id="edit" hidden><h2>Edit offer <span id="edit-id"></span></h2>
<form id="offer-form"><fieldset id="offer-fields" style="border:0;padding:0">
<label>Status <select id="f-status"><option>active</option><option>paused</option></select></label>
<label>URL <input id="f-url" type="text"></label><label>Payout <input id="f-payout" type="text" size="10"></label>
<button id="f-save">Save</button> <span id="f-result"></span></fieldset></form>
<p id="f-readonly" class="muted" hidden>This token is a viewer: it may read the catalog but not change it.</p></section>
<section><h2>Affiliates</h2><table id="affiliates"><thead><tr><th>id</th><th>name</th><th>status</th><th>postback_url</th></tr></thead><tbody></tbody></table></section>
</div>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
const token = () => sessionStorage.getItem("trackstar-token");
let role = null, current = null, history = [], last = null;
function esc(s) { return String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"})[c]); }
async function api(path, options = {}) {
  const headers = Object.assign({"Authorization": "Bearer " + token()}, options.headers || {});
  const response = await fetch("/api/v1" + path, Object.assign({}, options, {headers, credentials: "omit"}));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.error || response.statusText), {status: response.status, body});
  return {body, etag: response.headers.get("ETag")};
}
function parseMetrics(text) {
  const series = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const pair of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    series.push({name: m[1], labels, value: Number(m[4])});
  }
  return series;
}
const sum = (series, name, test = () => true) => series.filter(s => s.name === name && test(s.labels)).reduce((a, s) => a + s.value, 0);
async function live() {
  let series;
  try { series = parseMetrics(await (await fetch("/metrics", {credentials: "omit"})).text()); } catch (e) { $("status").textContent = "metrics: " + e.message; return; }
  const clicks = sum(series, "trackstar_clicks_total", l => l.outcome === "recorded" || l.outcome === "fallback");
  const conversions = sum(series, "trackstar_postbacks_total", l => l.result === "recorded");
  const now = Date.now() / 1000;
  $("m-clicks").textContent = sum(series, "trackstar_clicks_total", l => l.outcome === "recorded");
  $("m-conversions").textContent = conversions;
  if (last) {
    const dt = Math.max(now - last.t, 0.001);
    const point = {t: now, clicks: Math.max(0, (clicks - last.clicks) / dt), conversions: Math.max(0, (conversions - last.conversions) / dt)};
    history.push(point);
    history = history.filter(p => now - p.t <= 900);
    $("m-click-rate").textContent = point.clicks.toFixed(1);
    $("m-conversion-rate").textContent = point.conversions.toFixed(2);
  }
  last = {t: now, clicks, conversions};
  $("m-export-lag").textContent = sum(series, "trackstar_export_lag_records");
  $("m-partner-queue").textContent = sum(series, "trackstar_partner_queue");
  $("m-paused").textContent = sum(series, "trackstar_partner_endpoint_paused");
  $("m-delivery-failed").textContent = sum(series, "trackstar_partner_deliveries_total", l => l.outcome === "failed");
  const refusals = {};
  for (const s of series) {
    if (s.name === "trackstar_postbacks_total" && s.labels.result === "refused" && s.value > 0) refusals["postback " + s.labels.reason] = s.value;
    if (s.name === "trackstar_click_issues_total" && s.value > 0) refusals["click " + s.labels.reason] = (refusals["click " + s.labels.reason] || 0) + s.value;
  }
  $("refusals").tBodies[0].innerHTML = Object.entries(refusals).sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `<tr><td>${esc(r)}</td><td>${n}</td></tr>`).join("") || "<tr><td class=muted>none</td><td></td></tr>";
  // Cap usage: trackstar_cap_used and trackstar_cap_limit by offer, affiliate and cap.
  const limits = {};
  for (const s of series) if (s.name === "trackstar_cap_limit") limits[[s.labels.offer, s.labels.aff, s.labels.cap].join("/")] = s.value;
  const caps = series.filter(s => s.name === "trackstar_cap_used");
  $("caps-none").hidden = caps.length > 0;
  $("caps").tBodies[0].innerHTML = caps.map(s => {
    const limit = limits[[s.labels.offer, s.labels.aff, s.labels.cap].join("/")];
    const share = limit ? " (" + Math.round(100 * s.value / limit) + " %)" : "";
    return `<tr><td>offer ${esc(s.labels.offer)}${s.labels.aff !== "0" ? ", affiliate " + esc(s.labels.aff) : ""}: ${esc(s.labels.cap)}</td><td>${s.value} / ${limit ?? "?"}${share}</td></tr>`;
  }).join("");
  draw();
}
function draw() {
  const svg = $("chart"), W = 900, H = 220, pad = 30, now = Date.now() / 1000;
  const top = Math.max(1, ...history.map(p => Math.max(p.clicks, p.conversions)));
  const x = t => pad + (W - 2 * pad) * (1 - (now - t) / 900), y = v => H - pad - (H - 2 * pad) * v / top;
  const line = (key, color) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${history.map(p => x(p.t).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" ")}"/>`;
  svg.innerHTML = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#999"/>`
    + `<text x="${pad + 4}" y="${pad - 8}" font-size="11">${top.toFixed(1)}/s</text><text x="${pad}" y="${H - 10}" font-size="11">-15 min</text><text x="${W - pad - 24}" y="${H - 10}" font-size="11">now</text>`
    + line("clicks", "#2a6fdb") + line("conversions", "#d9822b");
}
const day = d => d.toISOString().slice(0, 10);
async function report() {
  if (!token()) return;
  const dim = $("group").value, query = new URLSearchParams({group_by: dim});
  if ($("from").value) query.set("from", $("from").value);
  if ($("to").value) query.set("to", $("to").value);
  $("report-dim").textContent = dim;
  const cells = r => `<td>${r.clicks}</td><td>${r.unique_clicks}</td><td>${r.conversions}</td><td>${r.conversion_rate ?? ""}</td><td>${r.payout ?? ""}</td><td>${r.revenue ?? ""}</td><td>${r.profit ?? ""}</td><td>${r.epc ?? ""}</td>`;
  try {
    const {body} = await api("/report?" + query);
    $("report").tBodies[0].innerHTML = body.rows.map(r => `<tr data-key="${esc(r[dim])}">` + `<td>${esc(r[dim])}</td>` + cells(r) + "</tr>").join("");
    $("report").tFoot.innerHTML = `<tr data-key="total"><th>total</th>${cells(body.totals)}</tr>`;
  } catch (e) { $("status").textContent = "report: " + e.message; }
}
async function catalog() {
  if (!token()) return;
  try {
    const offers = (await api("/offers?limit=1000")).body.items, affiliates = (await api("/affiliates?limit=1000")).body.items;
    $("offers").tBodies[0].innerHTML = offers.map(o => `<tr data-id="${o.id}"><td>${o.id}</td><td>${esc(o.name)}</td><td>${esc(o.status || "active")}</td><td>${o.payout ?? 0}</td><td>${esc(o.url)}</td><td><a href="#" data-edit="${o.id}">edit</a></td></tr>`).join("");
    $("affiliates").tBodies[0].innerHTML = affiliates.map(a => `<tr><td>${a.id}</td><td>${esc(a.name)}</td><td>${esc(a.status || "active")}</td><td>${esc(a.postback_url)}</td></tr>`).join("");
  } catch (e) { $("status").textContent = "catalog: " + e.message; }
}
async function edit(id) {
  const {body, etag} = await api("/offers/" + id);
  current = {id, etag};
  $("edit").hidden = false; $("edit-id").textContent = id; $("f-result").textContent = "";
  $("f-status").value = body.status || "active"; $("f-url").value = body.url; $("f-payout").value = body.payout ?? "";
  $("offer-fields").disabled = role === "viewer"; $("f-readonly").hidden = role !== "viewer";
}
async function save(event) {
  event.preventDefault();
  const patch = {status: $("f-status").value, url: $("f-url").value};
  if ($("f-payout").value !== "") patch.payout = Number($("f-payout").value);
  try {
    const {etag} = await api("/offers/" + current.id, {method: "PATCH", headers: {"Content-Type": "application/merge-patch+json", "If-Match": current.etag}, body: JSON.stringify(patch)});
    current.etag = etag; $("f-result").textContent = "saved"; $("f-result").className = ""; catalog();
  } catch (e) {
    $("f-result").className = "err";
    $("f-result").textContent = e.message + (e.body && e.body.problems ? " — " + e.body.problems.map(p => (p.path || "/") + ": " + p.message).join("; ") : "");
  }
}
async function signedIn() {
  $("signin").hidden = !!token(); $("signout").hidden = !token();
  if (!token()) { $("who").textContent = ""; role = null; return; }
  try { const {body} = await api("/whoami"); role = body.role; $("who").textContent = body.name + " (" + body.role + ")"; $("status").textContent = ""; }
  catch (e) { $("status").textContent = "sign-in: " + e.message; sessionStorage.removeItem("trackstar-token"); $("signin").hidden = false; $("signout").hidden = true; return; }
  report(); catalog();
}
function show(page) { for (const p of ["live", "reports", "catalog"]) $("page-" + p).hidden = p !== page; location.hash = page; }
document.querySelectorAll("nav a").forEach(a => a.onclick = () => show(a.dataset.page));
$("signin").onsubmit = e => { e.preventDefault(); sessionStorage.setItem("trackstar-token", $("token").value); $("token").value = ""; signedIn(); };
$("signout").onclick = () => { sessionStorage.removeItem("trackstar-token"); signedIn(); };
$("range").onsubmit = e => { e.preventDefault(); report(); };
$("today").onclick = () => { $("from").value = $("to").value = day(new Date()); report(); };
$("offers").onclick = e => { const id = e.target.dataset && e.target.dataset.edit; if (id) { e.preventDefault(); edit(id); } };
$("offer-form").onsubmit = save;
show((location.hash || "#live").slice(1));
$("from").value = $("to").value = day(new Date());
signedIn(); live(); setInterval(live, 5000);
</script>
</body></html>
"""##
}
