// Charts and alerts in headless Chromium: the chart builder's SVG preview
// (axes, legend, hover values) following the form, a chart saved to the
// project dashboard, and an alert created in the page that the server
// evaluates, notifies to a webhook on 127.0.0.1 and lists in its history;
// mute and unmute from the page. Screenshots go to artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startHive, launch, shot, api, logIn } from "./lib.mjs";

let hive, browser, page, hook;
const received = [];
const P = "charts";

before(async () => {
  hive = await startHive();
  hook = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      received.push({ path: req.url, body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => hook.listen(0, "127.0.0.1", r));
  const now = Date.now();
  const sid = "6f0c1a3e-0000-4000-8000-000000000001";
  await api(hive, "POST", "/session/start", { session: { project: P, session_id: sid, session_name: "chat" } });
  const events = [];
  for (let i = 0; i < 48; i++) {
    const variant = ["a", "b"][i % 2];
    events.push({
      project: P,
      session_id: sid,
      parent_id: sid,
      event_id: `6f0c1a3e-0000-4000-8000-${String(100 + i).padStart(12, "0")}`,
      event_type: "model",
      event_name: "llm",
      start_time: now - i * 20 * 60_000 - 30_000,
      end_time: now - i * 20 * 60_000,
      metadata: { variant, cost: 0.001 * (i % 5) },
      metrics: { latency_ms: variant === "a" ? 200 + i : 120 + (i % 7) },
      user_properties: { plan: ["free", "pro"][i % 3 === 0 ? 1 : 0] },
    });
  }
  for (const e of events) await api(hive, "POST", "/events", { event: e });
  browser = await launch();
  page = await browser.context.newPage();
  await logIn(page, hive.loginUrl);
});

after(async () => {
  await browser?.close();
  hook?.close();
  await hive?.stop();
});

test("the chart builder draws an SVG with axes, a legend and hover values, and follows the form", async () => {
  await page.goto(
    `${hive.url}/charts?project=${P}&agg=avg&metric=metrics.latency_ms&group=metadata.variant&bucket=hour&range=24h`,
  );
  // The page answers first; the preview is drawn into it after.
  const svg = page.locator("#preview svg.chart");
  await svg.waitFor();
  assert.equal(await page.locator("#preview [aria-busy], #preview [data-draw]").count(), 0);
  assert.ok((await svg.locator(".axis text").count()) >= 5, "axis labels");
  assert.ok((await svg.locator(".series path").count()) === 2, "one line per variant");
  const legend = await page.locator("#preview .legend li").allTextContents();
  assert.deepEqual(legend, ["a", "b"]);
  const title = await svg.locator("circle title").first().textContent();
  assert.match(title, /^a · \d{4}-\d\d-\d\dT\d\d:00:00\.000Z · [\d.]+ \(\d+ values\)$/);
  assert.match(await page.locator("#preview h2").textContent(), /avg of metrics\.latency_ms by metadata\.variant per hour/);
  // A select re-renders the preview (hive.js submits the form).
  await Promise.all([page.waitForURL(/bucket=day/), page.selectOption("select[name=bucket]", "day")]);
  await page.locator("#preview svg.chart").waitFor();
  assert.match(await page.locator("#preview h2").textContent(), /per day/);
  await shot(page, "charts-builder");
  // A bad metric is reported, not drawn.
  await page.goto(`${hive.url}/charts?project=${P}&agg=p42&metric=metrics.latency_ms`);
  assert.match(await page.locator(".alert").textContent(), /unknown aggregation/);
});

test("while the next page is computed, the page says it is loading", async () => {
  await page.goto(`${hive.url}/charts?project=${P}&agg=count&bucket=hour&range=24h`);
  await page.locator("#preview svg.chart").waitFor();
  // Hold the page as it is once the form is submitted (as if the next page
  // took seconds, like a first load of a field over millions of events).
  await page.evaluate(() => {
    HTMLFormElement.prototype.submit = function () {
      window.submitted = this.id;
    };
  });
  await page.selectOption("select[name=bucket]", "day");
  assert.equal(await page.evaluate(() => window.submitted), "chart-builder");
  assert.equal(await page.evaluate(() => document.body.classList.contains("busy")), true);
  assert.equal(await page.evaluate(() => document.querySelector("main").getAttribute("aria-busy")), "true");
  await page.waitForTimeout(600); // past the badge's delay and the dimming
  const style = await page.evaluate(() => {
    const badge = getComputedStyle(document.body, "::after");
    return { content: badge.content, badge: badge.opacity, main: getComputedStyle(document.querySelector("main")).opacity };
  });
  assert.deepEqual(style, { content: '"Loading…"', badge: "1", main: "0.55" });
  await shot(page, "charts-loading");
  // A link to another page says so too (the test cancels the navigation
  // after hive.js has seen the click); a new-tab click does not.
  await page.evaluate(() => {
    document.body.classList.remove("busy");
    window.addEventListener("click", (e) => e.preventDefault());
  });
  await page.click("nav a[href^='/sessions']", { modifiers: ["Control"] });
  assert.equal(await page.evaluate(() => document.body.classList.contains("busy")), false, "ctrl-click");
  await page.click("nav a[href^='/sessions']");
  assert.equal(await page.evaluate(() => document.body.classList.contains("busy")), true, "link");
  // The page that arrives is not busy.
  await Promise.all([page.waitForURL(/bucket=day/), page.evaluate(() => document.getElementById("chart-builder").requestSubmit())]);
  await page.locator("#preview svg.chart").waitFor();
  assert.equal(await page.evaluate(() => document.body.classList.contains("busy")), false);
  assert.match(await page.locator("#preview h2").textContent(), /per day/);
});

test("a chart that cannot be drawn says why, with the server's reason", async () => {
  // The preview's request answered by the server for a chart that is not
  // there: its real error page (404, "no such chart in this project"), as a
  // read past the statement timeout or with ClickHouse down answers with its
  // own reason.
  const preview = /\/charts\/preview/;
  await page.route(preview, (route) =>
    route.continue({ url: `${hive.url}/charts/no-such-chart/draw?project=${P}` }),
  );
  try {
    await page.goto(`${hive.url}/charts?project=${P}&agg=count&bucket=hour&range=24h`);
    const box = page.locator("#preview .chartbody");
    await page.waitForFunction(() => !document.querySelector("#preview [aria-busy]"));
    assert.equal(
      (await box.textContent()).trim(),
      "This chart could not be drawn now: no such chart in this project. Reload the page to try again.",
    );
  } finally {
    await page.unroute(preview);
  }
});

test("a chart saved from the builder appears on the project dashboard", async () => {
  await page.goto(
    `${hive.url}/charts?project=${P}&agg=sum&metric=metadata.cost&group=user_properties.plan&bucket=hour&range=24h&ff=event_type&fo=is&fv=model`,
  );
  await page.fill("#preview input[name=name]", "Cost per plan");
  await Promise.all([page.waitForURL(/\/charts\?/), page.click("#preview button[type=submit]")]);
  const card = page.locator(".chartcard.saved", { hasText: "Cost per plan" });
  await card.waitFor();
  // The page answers first; the chart is drawn into its card after.
  await card.locator("svg.chart").waitFor();
  assert.equal(await card.locator("[aria-busy]").count(), 0);
  assert.ok((await card.locator("svg.chart circle").count()) > 0);
  assert.deepEqual(await card.locator(".legend li").allTextContents(), ["free", "pro"]);
  const saved = await api(hive, "GET", `/v1/charts?project=${P}`);
  assert.equal(saved.data.length, 1);
  assert.equal(saved.data[0].func, "sum");
  await card.scrollIntoViewIfNeeded();
  await shot(page, "charts-dashboard");
  // Its title opens it in the builder, to change and update in place.
  await Promise.all([page.waitForURL(/chart=/), card.locator("h2 a").click()]);
  assert.equal(await page.inputValue("#update-chart input[name=name]"), "Cost per plan");
  await Promise.all([page.waitForURL(/bucket=day/), page.selectOption("select[name=bucket]", "day")]);
  assert.match(page.url(), /chart=/, "the builder keeps editing the saved chart");
  await page.fill("#update-chart input[name=name]", "Cost per plan per day");
  await Promise.all([page.waitForURL(/\/charts\?/), page.click("#update-chart button[type=submit]")]);
  const updated = await api(hive, "GET", `/v1/charts?project=${P}`);
  assert.equal(updated.data.length, 1, "updated, not added");
  assert.equal(updated.data[0].name, "Cost per plan per day");
  assert.equal(updated.data[0].bucketing, "day");
  assert.equal(updated.data[0].id, saved.data[0].id);
  await page.locator(".chartcard.saved", { hasText: "Cost per plan per day" }).waitFor();
});

test("saved charts over the same dates are drawn together, in one request", async () => {
  const ids = [];
  for (const [name, func, metric] of [
    ["Latency by variant", "avg", "metrics.latency_ms"],
    ["Events by variant", "count", null],
  ]) {
    const saved = await api(hive, "POST", "/v1/charts", {
      project: P, name, func, metric, groupBy: "metadata.variant", bucketing: "hour",
      dateRange: { relative: "24h" },
    });
    ids.push(saved.data.id);
  }
  const draws = [];
  const seen = (req) => {
    if (/\/charts\/(draw\?|[^/?]+\/draw)/.test(req.url())) draws.push(req.url());
  };
  page.on("request", seen);
  await page.goto(`${hive.url}/charts?project=${P}`);
  for (const name of ["Latency by variant", "Events by variant"]) {
    const card = page.locator(".chartcard.saved", { hasText: name });
    await card.locator("svg.chart").waitFor();
    const legend = await card.locator(".legend li").allTextContents();
    assert.ok(legend.includes("a") && legend.includes("b"), legend.join());
  }
  await page.locator(".chartcard.saved", { hasText: "Cost per plan per day" }).locator("svg.chart").waitFor();
  page.off("request", seen);
  assert.equal(await page.locator("[aria-busy]").count(), 0);
  // Both new charts came in one request (with the first chart, when its
  // dates are the same), not one each.
  const both = draws.filter((u) => ids.every((id) => u.includes(`id=${id}`)));
  assert.equal(both.length, 1, draws.join("\n"));
  assert.ok(draws.length <= 2, draws.join("\n"));
  await shot(page, "charts-drawn-together");
});

test("a chart being drawn says for how long, and one waiting for those above says so", async () => {
  // Each chart's request held back 3 s, as a wide range over millions of
  // events keeps it.
  const draws = /\/charts\/(preview|draw\?|[^/?]+\/draw)/;
  await page.route(draws, async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  try {
    await page.goto(`${hive.url}/charts?project=${P}`);
    const boxes = page.locator("[data-draw]");
    assert.ok((await boxes.count()) >= 2, "the preview and the saved charts");
    // Charts are drawn one after another in page order: the last waits.
    assert.equal((await boxes.last().textContent()).trim(), "Waiting for the charts above…");
    await page.waitForFunction(() =>
      [...document.querySelectorAll("[data-draw][aria-busy]")].some((b) => /^Drawing… [2-9] s$/.test(b.textContent.trim())),
    );
    await page.waitForFunction(() => !document.querySelector("[aria-busy]"), null, { timeout: 60_000 });
    assert.equal(await page.locator(".chartcard.saved svg.chart").count(), await page.locator(".chartcard.saved").count());
  } finally {
    await page.unroute(draws);
  }
});

test("an alert created in the page fires a webhook, shows its history, and can be muted", async () => {
  const port = hook.address().port;
  await page.goto(`${hive.url}/alerts?project=${P}`);
  await page.fill("#new-alert input[name=name]", "Slow variant a");
  await page.selectOption("#new-alert select[name=agg]", "avg");
  await page.fill("#new-alert input[name=metric]", "metrics.latency_ms");
  await page.fill("#new-alert input[name=ff]", "metadata.variant");
  await page.fill("#new-alert input[name=fv]", "a");
  await page.fill("#new-alert input[name=threshold]", "150");
  await page.fill("#new-alert input[name=webhook]", `http://127.0.0.1:${port}/hook`);
  await Promise.all([page.waitForURL(/\/alerts\?/), page.click("#new-alert button[type=submit]")]);
  assert.ok(await page.isVisible("table.alerts >> text=Slow variant a"));
  // The evaluator runs at start and then every 15 s: wait for the webhook.
  const deadline = Date.now() + 40_000;
  while (!received.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  assert.equal(received.length, 1, "one webhook");
  assert.equal(received[0].body.status, "triggered");
  assert.equal(received[0].body.alert.name, "Slow variant a");
  assert.ok(received[0].body.value > 150);
  await page.reload();
  assert.equal(await page.locator("table.alerts .state").first().textContent(), "triggered");
  // The next check is an hour after the last (an hourly rule).
  const cells = await page.locator("table.alerts tbody tr").first().locator("td").allTextContents();
  const [last, next] = [cells[5], cells[6]].map((t) => Date.parse(t.trim().replace(" ", "T") + "Z"));
  assert.equal(next - last, 3_600_000, cells.join(" | "));
  await shot(page, "alerts");
  await Promise.all([page.waitForURL(/\/alerts\?/), page.click("table.alerts button:text('mute')")]);
  assert.equal(await page.locator("table.alerts .state").first().textContent(), "muted");
  await Promise.all([page.waitForURL(/\/alerts\?/), page.click("table.alerts button:text('unmute')")]);
  assert.equal(await page.locator("table.alerts .state").first().textContent(), "active");
  await page.click("table.alerts a:text('Slow variant a')");
  await page.locator("table.history").waitFor();
  const rows = await page.locator("table.history tbody tr").allTextContents();
  assert.ok(rows.some((r) => /active → triggered/.test(r) && /delivered after 1 attempt/.test(r)), rows.join("\n"));
  // What the rule watches: its query per hour over two days, with the
  // threshold as a dashed line.
  const recent = page.locator(".recent svg.chart");
  await recent.waitFor();
  assert.equal(await recent.locator(".threshold line").getAttribute("stroke-dasharray"), "6 4");
  assert.equal(await recent.locator(".threshold text").textContent(), "threshold 150");
  const points = await recent.locator("circle title").allTextContents();
  assert.ok(points.length >= 10, `hourly points of variant a: ${points.length}`);
  assert.ok(points.every((t) => /^\(none\) · \d{4}-\d\d-\d\dT\d\d:00:00\.000Z · [\d.]+ \(\d+ values\)$/.test(t)), points[0]);
  assert.match(await page.locator(".recent p").textContent(), /per hour \(UTC\) over the last 2 days, with its threshold/);
  await shot(page, "alert-history", { fullPage: true });
  // Edit the rule: a refused value is explained in place; a valid edit
  // keeps the query, the state, the history and the webhook.
  const url = page.url();
  await page.click("details.editrule summary");
  await page.fill("#edit-alert input[name=threshold]", "lots");
  await Promise.all([page.waitForURL(/\/alerts\/[^/]+\/edit$/), page.click("#edit-alert button[type=submit]")]);
  assert.match(await page.locator(".alert[role=alert]").textContent(), /threshold/);
  assert.equal(await page.locator("details.editrule").getAttribute("open"), "");
  assert.equal(await page.locator("#edit-alert input[name=threshold]").inputValue(), "lots", "what was typed stays");
  await shot(page, "alert-edit");
  await page.fill("#edit-alert input[name=name]", "Very slow variant a");
  await page.fill("#edit-alert input[name=threshold]", "250");
  await page.selectOption("#edit-alert select[name=frequency]", "daily");
  await Promise.all([page.waitForURL(/\/alerts\/[^/?]+\?project=/), page.click("#edit-alert button[type=submit]")]);
  assert.equal(page.url(), url);
  assert.equal(await page.locator("h1").textContent(), "Very slow variant a active");
  assert.match(await page.locator("header .muted").textContent(), /above 250, checked daily/);
  assert.equal(await page.locator(".recent .threshold text").textContent(), "threshold 250");
  assert.ok((await page.locator("table.history tbody tr").count()) >= 1, "history kept");
  const saved = (await api(hive, "GET", `/v1/alerts?project=${P}`)).data[0];
  assert.equal(saved.threshold, 250);
  assert.equal(saved.frequency, "daily");
  assert.equal(saved.webhook.url, `http://127.0.0.1:${port}/hook`, "webhook kept");
  assert.equal(saved.query.filters[0].value, "a", "query kept");
});
