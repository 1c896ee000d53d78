// Hostile data renders as inert text: metadata keys and values, event
// names, outputs, project, key and view names holding script and HTML.
// No script runs and no dialog opens on any page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHive, launch, shot, api, logIn } from "./lib.mjs";

const P = {
  script: `<script>window.__xss=(window.__xss||0)+1;alert("script")</script>`,
  img: `<img src=x onerror="window.__xss=(window.__xss||0)+1;alert('img')">`,
  attr: `"><svg onload="window.__xss=(window.__xss||0)+1;alert('attr')">`,
  single: `'><iframe srcdoc="<script>parent.__xss=1</script>">`,
  js: `javascript:alert('href')`,
};

let hive, browser, page;
const dialogs = [];
let sessionId;

before(async () => {
  hive = await startHive();
  const start = await api(hive, "POST", "/session/start", {
    session: {
      project: P.img,
      session_name: P.script,
      source: P.attr,
      metadata: { [P.script]: P.img, [P.attr]: { [P.single]: P.js }, plain: P.single },
      user_properties: { user_id: P.img },
      feedback: { [P.img]: P.script },
    },
  });
  sessionId = start.session_id;
  await api(hive, "POST", "/events", {
    event: {
      project: P.img,
      session_id: sessionId,
      parent_id: sessionId,
      event_type: "model",
      event_name: P.img,
      inputs: { chat_history: [{ role: P.attr, content: P.script }, { role: "user", content: P.img }] },
      outputs: { role: "assistant", content: P.attr, tool_calls: [{ function: { name: P.script, arguments: JSON.stringify({ q: P.img }) } }] },
      config: { model: P.script },
      metadata: { [P.img]: P.attr },
      error: P.script,
      duration: 12,
    },
  });
  await api(hive, "PUT", "/events", { event_id: sessionId, metadata: { [P.js]: P.script } });
  browser = await launch();
  page = await browser.context.newPage();
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await logIn(page, hive.loginUrl);
});

after(async () => {
  await browser?.close();
  await hive?.stop();
});

async function assertInert(where) {
  await page.waitForLoadState("load");
  await page.waitForTimeout(150);
  assert.deepEqual(dialogs, [], `${where}: a dialog opened`);
  const xss = await page.evaluate(() => window.__xss);
  assert.equal(xss, undefined, `${where}: injected script ran`);
  assert.equal(await page.locator("script:not([src])").count(), 0, `${where}: inline script element`);
  assert.equal(await page.locator("img, iframe, svg:not(.bar)").count(), 0, `${where}: injected element`);
}

test("the sessions list shows hostile names as text", async () => {
  const project = encodeURIComponent(P.img);
  await page.goto(`${hive.url}/sessions?project=${project}`);
  await assertInert("sessions");
  const text = await page.textContent("table.list");
  assert.ok(text.includes(P.script), "session name shown as text");
  assert.ok(text.includes(P.attr.slice(0, 20)), "source shown as text");
  assert.ok(text.includes(P.img), "user shown as text");
  await shot(page, "xss-sessions");
});

test("filter values from the URL are escaped", async () => {
  const project = encodeURIComponent(P.img);
  const q = `project=${project}&ff=${encodeURIComponent(`metadata.${P.attr}`)}&fo=is&fv=${encodeURIComponent(P.script)}`;
  await page.goto(`${hive.url}/sessions?${q}`);
  await assertInert("filtered sessions");
  assert.equal(await page.locator("[data-filter-row] .fv").first().inputValue(), P.script);
  await page.goto(`${hive.url}/events?${q}&sort=${encodeURIComponent(P.attr)}&range=${encodeURIComponent(P.img)}`);
  await assertInert("filtered events");
});

test("the session view renders metadata, outputs and history as text", async () => {
  const project = encodeURIComponent(P.img);
  await page.goto(`${hive.url}/sessions/${sessionId}?project=${project}`);
  await assertInert("session");
  const md = await page.textContent("#p-metadata");
  assert.ok(md.includes(P.script) && md.includes(P.img) && md.includes(P.single), "metadata as text");
  assert.ok((await page.textContent("#p-history")).includes(P.js), "history as text");
  await page.click("#tree a.evname >> nth=1");
  await page.waitForURL(/event=/);
  await assertInert("model event");
  const io = await page.textContent("#p-io");
  assert.ok(io.includes(P.script) && io.includes(P.attr) && io.includes(P.img), "messages as text");
  assert.ok((await page.textContent("#detail .alert")).includes(P.script), "error as text");
  await shot(page, "xss-session");
  // Every link on the page stays on this origin (no javascript: URLs).
  const hrefs = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href")));
  for (const h of hrefs) assert.ok(h.startsWith("/") || h.startsWith("#"), `link ${h}`);
});

test("key and view names are escaped too", async () => {
  const project = encodeURIComponent(P.img);
  await page.goto(`${hive.url}/keys?project=${project}`);
  await page.fill("input[name=name]", P.attr);
  await page.click("form.card button.primary");
  await assertInert("key created");
  assert.ok((await page.textContent("table.list")).includes(P.attr));
  await page.goto(`${hive.url}/sessions?project=${project}`);
  await page.fill("form.saveview input[name=name]", P.script);
  await Promise.all([page.waitForURL(/\/views/), page.click("form.saveview button")]);
  await assertInert("views");
  assert.ok((await page.textContent("table.list")).includes(P.script));
});

test("error pages escape what they echo", async () => {
  await page.goto(`${hive.url}/sessions?project=${encodeURIComponent(P.script)}`);
  await assertInert("unknown project");
  assert.ok((await page.textContent("body")).includes("<script>window.__xss"));
  await page.goto(`${hive.url}/sessions/${encodeURIComponent(P.img)}?project=${encodeURIComponent(P.img)}`);
  await assertInert("unknown session");
});

test("alert names, conditions and chart groups are escaped, in the list, the page and its edit form", async () => {
  const project = encodeURIComponent(P.img);
  const created = await api(hive, "POST", "/v1/alerts", {
    project: P.img,
    name: P.attr,
    type: "aggregate",
    comparison: "above",
    threshold: 1,
    frequency: "hourly",
    query: { aggregation: "count", groupBy: "event_name", filters: [{ field: "metadata.plain", operator: "is", value: P.single }] },
  });
  const id = created.data.id;
  const inert = async (where) => {
    await page.waitForLoadState("load");
    await page.waitForTimeout(150);
    assert.deepEqual(dialogs, [], `${where}: a dialog opened`);
    assert.equal(await page.evaluate(() => window.__xss), undefined, `${where}: injected script ran`);
    assert.equal(await page.locator("script:not([src])").count(), 0, `${where}: inline script element`);
    assert.equal(await page.locator("img, iframe, svg:not(.chart)").count(), 0, `${where}: injected element`);
  };
  await page.goto(`${hive.url}/alerts?project=${project}`);
  await inert("alerts list");
  assert.ok((await page.textContent("table.alerts")).includes(P.attr));
  await page.goto(`${hive.url}/alerts/${id}?project=${project}`);
  await page.locator(".recent svg.chart").waitFor();
  await inert("alert page");
  assert.equal(await page.locator("h1").evaluate((h) => h.firstChild.textContent.trim()), P.attr);
  assert.equal(await page.locator("#edit-alert input[name=name]").inputValue(), P.attr);
  // The chart's group (the session's hostile name) is text in the legend
  // and in the points' titles.
  assert.deepEqual(await page.locator(".recent .legend li").allTextContents(), [P.script]);
  assert.ok((await page.locator(".recent svg.chart circle title").first().textContent()).startsWith(P.script));
  // A refused edit shows back what was typed, still as text.
  await page.click("details.editrule summary");
  await page.fill("#edit-alert input[name=threshold]", P.script);
  await Promise.all([page.waitForURL(/\/edit$/), page.click("#edit-alert button[type=submit]")]);
  await inert("refused edit");
  assert.equal(await page.locator("#edit-alert input[name=threshold]").inputValue(), P.script);
  // A saved chart with a hostile name, grouped by the hostile event names,
  // drawn into the dashboard page once the page is shown.
  await api(hive, "POST", "/v1/charts", { project: P.img, name: P.img, groupBy: "event_name", dateRange: { relative: "30d" } });
  await page.goto(`${hive.url}/charts?project=${project}`);
  const card = page.locator(".chartcard.saved");
  await card.locator("svg.chart").waitFor();
  await inert("saved chart");
  assert.equal(await card.locator("h2 a").textContent(), P.img);
  assert.ok((await card.locator(".legend li").allTextContents()).includes(P.script));
});
