// The insight dashboard (gateway/dashboard.py): fetches each report as SVG with the caller's
// token and shows it. No data lives in the page; the token stays in this page's memory.
"use strict";

// One line a report: where it is, and the names of its period parameters (docs/reports.md);
// `from: null, to: null` for a report of how things stand today (no period).
const REPORTS = [
  { name: "Referrals", path: "/v1/reports/referrals", from: "from", to: "to", file: "referrals" },
  { name: "Early help episodes", path: "/v1/reports/episodes", from: "opened_from", to: "opened_to", file: "episodes" },
  { name: "Threshold audit", path: "/v1/reports/threshold-audit", from: "from", to: "to", file: "threshold-audit" },
  { name: "JSNA feed", path: "/v1/reports/jsna", from: "from", to: "to", file: "jsna" },
  { name: "Drifting episodes", path: "/v1/reports/drift", from: null, to: null, file: "drift" },
  { name: "Supporting Families", path: "/v1/reports/supporting-families/summary", from: null, to: null, quarter: true, file: "supporting-families" },
];

const objectUrls = [];

function $(id) {
  return document.getElementById(id);
}

function isoDay(d) {
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

function say(text) {
  const message = $("message");
  message.textContent = text;
  message.hidden = !text;
}

function clearCharts() {
  while (objectUrls.length) URL.revokeObjectURL(objectUrls.pop());
  $("charts").replaceChildren();
}

function finish(state) {
  $("charts").setAttribute("aria-busy", "false");
  document.body.dataset.state = state;
}

async function problemText(resp) {
  try {
    const body = await resp.json();
    return body.detail || body.error_description || body.title || resp.statusText;
  } catch (e) {
    return resp.statusText;
  }
}

async function getToken() {
  const pasted = $("token").value.trim();
  if (pasted) return { token: pasted };
  const id = $("client-id").value.trim();
  const secret = $("client-secret").value;
  if (!id || !secret) return { error: "Enter an access token, or a client id and secret, to see the reports." };
  const resp = await fetch("/oauth/token", {
    method: "POST",
    cache: "no-store",
    credentials: "omit", // no cookies; and no browser sign-in dialog on a 401
    // In the form (client_secret_post), not HTTP Basic: a refused Basic login would make the
    // browser pop up its own sign-in dialog.
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: id, client_secret: secret }),
  });
  if (!resp.ok) return { error: `Sign-in failed (${resp.status}): ${await problemText(resp)}. No report is shown.` };
  return { token: (await resp.json()).access_token };
}

function quarterOf(day) {
  return `${day.slice(0, 4)}-Q${Math.floor((Number(day.slice(5, 7)) - 1) / 3) + 1}`;
}

function reportUrl(report, from, to, format) {
  const q = new URLSearchParams({ format: format });
  if (report.from) q.set(report.from, from);
  if (report.to) q.set(report.to, to);
  if (report.quarter) q.set("quarter", quarterOf(to)); // the calendar quarter holding To
  return `${report.path}?${q}`;
}

async function fetchReport(report, token, from, to) {
  const resp = await fetch(reportUrl(report, from, to, "svg"), {
    cache: "no-store",
    credentials: "omit", // no cookies; and no browser sign-in dialog on a 401
    headers: { Authorization: "Bearer " + token },
  });
  if (!resp.ok) return { report, status: resp.status, problem: await problemText(resp) };
  return { report, status: resp.status, svg: await resp.text() };
}

function downloadCsv(report, token, from, to) {
  return async (event) => {
    event.preventDefault();
    const resp = await fetch(reportUrl(report, from, to, "csv"), {
      cache: "no-store",
    credentials: "omit", // no cookies; and no browser sign-in dialog on a 401
      headers: { Authorization: "Bearer " + token },
    });
    if (!resp.ok) {
      say(`The ${report.name} CSV could not be fetched (${resp.status}): ${await problemText(resp)}`);
      return;
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = report.from ? `${report.file}-${from}-${to}.csv` : `${report.file}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  };
}

const ENTITIES = { "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'", "&amp;": "&" };

function svgText(svg, element) {
  const found = svg.match(new RegExp(`<${element} id="chart-${element}">([^<]*)</${element}>`));
  return found ? found[1].replace(/&(lt|gt|quot|#39|amp);/g, (e) => ENTITIES[e]) : "";
}

async function figureFor(result, token, from, to) {
  const figure = document.createElement("figure");
  figure.dataset.report = result.report.file;
  const caption = document.createElement("figcaption");
  const heading = document.createElement("h2");
  caption.appendChild(heading);
  if (result.svg === undefined) {
    heading.textContent = result.report.name;
    const p = document.createElement("p");
    p.className = "problem";
    p.textContent =
      result.status === 403
        ? `This token may not read the ${result.report.name} report (403): ${result.problem}`
        : `The ${result.report.name} report could not be shown (${result.status}): ${result.problem}`;
    caption.appendChild(p);
    figure.appendChild(caption);
    return figure;
  }
  // Read as text, not parsed into a document: that would apply the SVG's styles to this page.
  const title = svgText(result.svg, "title");
  const desc = svgText(result.svg, "desc");
  heading.textContent = title || result.report.name;
  const img = document.createElement("img");
  const url = URL.createObjectURL(new Blob([result.svg], { type: "image/svg+xml" }));
  objectUrls.push(url);
  img.alt = [heading.textContent, desc].join(". ");
  img.src = url;
  const link = document.createElement("a");
  link.href = "#";
  link.className = "csv";
  link.textContent = `Download the ${result.report.name} report as CSV`;
  link.addEventListener("click", downloadCsv(result.report, token, from, to));
  caption.appendChild(link);
  figure.append(caption, img);
  await img.decode().catch(() => undefined);
  return figure;
}

async function show(event) {
  event.preventDefault();
  clearCharts();
  say("");
  document.body.dataset.state = "loading";
  $("charts").setAttribute("aria-busy", "true");
  const from = $("from").value;
  const to = $("to").value;
  if (!from || !to || from > to) {
    say("Choose a period: a From date on or before the To date.");
    return finish("error");
  }
  let signIn;
  try {
    signIn = await getToken();
  } catch (e) {
    signIn = { error: "The gateway could not be reached. No report is shown." };
  }
  if (signIn.error) {
    say(signIn.error);
    return finish("error");
  }
  const results = await Promise.all(REPORTS.map((r) => fetchReport(r, signIn.token, from, to)));
  if (results.some((r) => r.status === 401)) {
    say("The token was refused (not valid, or expired): no report is shown. Paste a valid token, or sign in with a client id and secret.");
    return finish("error");
  }
  const figures = await Promise.all(results.map((r) => figureFor(r, signIn.token, from, to)));
  $("charts").replaceChildren(...figures);
  finish("ready");
}

document.addEventListener("DOMContentLoaded", () => {
  const today = new Date();
  const yearAgo = new Date(today);
  yearAgo.setFullYear(today.getFullYear() - 1);
  $("to").value = isoDay(today);
  $("from").value = isoDay(yearAgo);
  $("controls").addEventListener("submit", show);
  document.body.dataset.state = "idle";
});
