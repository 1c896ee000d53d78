// A long list in headless Chromium: 300 sessions an hour apart. On
// ClickHouse the sessions page is found in the newest hours without
// counting every match (ADR 0015): it shows "of counting…" and the page's
// script fetches the count and puts it in place (and later pages of the
// list show it at once for a minute); on SQLite the count comes with the
// page. Either way the pages and the count are the same.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHive, launch, shot, api, logIn, CLICKHOUSE } from "./lib.mjs";

let hive, browser, page;
const P = "lists";
const N = 300;

before(async () => {
  hive = await startHive();
  // Logged in before the list exists: a login lands on the sessions of the
  // most active project, which would be this list, and its page's script
  // would count it (a count is then shown at once for a minute, so the
  // test's first look at the list could come counted).
  browser = await launch();
  page = await browser.context.newPage();
  await logIn(page, hive.loginUrl);
  const now = Date.now();
  const events = [];
  for (let i = 0; i < N; i++) {
    const hex = String(i).padStart(12, "0");
    const sid = `7a1b2c3d-0000-4000-8000-${hex}`;
    events.push({
      project: P,
      session_id: sid,
      event_id: sid,
      event_type: "session",
      event_name: `call-${i}`,
      start_time: now - i * 3_600_000 - 60_000,
      end_time: now - i * 3_600_000,
      metadata: { tenant: `t${i % 3}` },
    });
  }
  for (let i = 0; i < N; i += 100) await api(hive, "POST", "/events/batch", { project: P, events: events.slice(i, i + 100) });
  // Applied from the ingest log: wait until every session reads back.
  // (The project exists once its first event is.)
  for (let tries = 0; ; tries++) {
    const r = await api(hive, "POST", "/v1/events/export", { project: P, filters: [], limit: 1 }).catch((e) => ({ error: e }));
    if (r.totalEvents >= N) break;
    if (tries > 300) throw new Error(`only ${r.totalEvents ?? r.error} read back`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  await browser?.close();
  await hive?.stop();
});

test("a long list shows its page, then its count", async () => {
  const resp = await page.goto(`${hive.url}/sessions?project=${P}`);
  const html = await resp.text();
  if (CLICKHOUSE) {
    assert.match(html, /data-count/, "the page came without its count");
  } else {
    assert.doesNotMatch(html, /data-count/, "SQLite counts with the page");
  }
  // The count in place, from the page's script (or the page itself).
  await page.waitForFunction(() => document.querySelector("#list-count .num"), null, { timeout: 60_000 });
  assert.match(await page.textContent("#list-count"), /1–50 of 300\b/);
  assert.equal(await page.locator("#list-count a[data-count]").count(), 0);
  // Newest first: the first row is the newest call, the last the 50th.
  const names = await page.locator("table.list td.name").allTextContents();
  assert.equal(names.length, 50);
  assert.equal(names[0].trim(), "call-0");
  assert.equal(names[49].trim(), "call-49");
  await shot(page, "list-counted");
  // The next page, and a filter: the same pages whatever counts them.
  await page.click("a[rel=next]");
  await page.waitForFunction(() => document.querySelector("#list-count .num"), null, { timeout: 60_000 });
  assert.match(await page.textContent("#list-count"), /51–100 of 300\b/);
  assert.equal((await page.locator("table.list td.name").first().textContent()).trim(), "call-50");
  await page.goto(`${hive.url}/sessions?project=${P}&match=any&ff=metadata.tenant&fo=is&fv=t1`);
  await page.waitForFunction(() => document.querySelector("#list-count .num"), null, { timeout: 60_000 });
  assert.match(await page.textContent("#list-count"), /1–50 of 100\b/);
  assert.equal((await page.locator("table.list td.name").first().textContent()).trim(), "call-1");
});

test("without scripts, the count is a link away", async () => {
  // The pages as fetched, with the browser's login cookie (no script runs).
  const cookie = (await browser.context.cookies(hive.url)).map((c) => `${c.name}=${c.value}`).join("; ");
  const get = async (path) => {
    const r = await fetch(hive.url + path, { headers: { cookie } });
    assert.equal(r.status, 200, path);
    return r.text();
  };
  // A list not shown before (the first test's were counted, and are
  // remembered for a minute).
  const list = `/sessions?project=${P}&match=any&ff=metadata.tenant&fo=is&fv=t2`;
  const html = await get(list);
  if (CLICKHOUSE) {
    const link = html.match(/<a href="([^"]+)" data-count[^>]*>many<\/a>/);
    assert.ok(link, "1–50 of a link to the count");
    const counted = await get(link[1].replaceAll("&#38;", "&").replaceAll("&amp;", "&"));
    assert.match(counted, /1–50 of <span class="num">100<\/span>/);
    // The list was just counted: shown again, it has its count at once
    // (its page alone is still found in the newest hours).
    const again = await get(list);
    assert.match(again, /1–50 of <span class="num">100<\/span>/);
    assert.doesNotMatch(again, /data-count/);
  } else {
    assert.match(html, /1–50 of <span class="num">100<\/span>/);
  }
});

test("a count that cannot be made says so, with the server's reason", { skip: !CLICKHOUSE && "SQLite counts with the page" }, async () => {
  // The count's request answered by the server's real error page (a 404
  // here), as a count past the statement timeout or with ClickHouse down
  // answers with its own reason. A list not counted before (counts are
  // remembered for a minute).
  const counting = /[?&]count=1/;
  await page.route(counting, (route) => route.continue({ url: `${hive.url}/charts/no-such-chart/draw?project=${P}` }));
  try {
    await page.goto(`${hive.url}/sessions?project=${P}&match=any&ff=metadata.tenant&fo=is&fv=t0`);
    const link = page.locator("#list-count a[data-count]");
    await page.waitForFunction(() => document.querySelector("#list-count a[data-count]")?.textContent === "many (count again)");
    assert.equal(await link.getAttribute("title"), "The count could not be made: no such chart in this project.");
    // The page itself is there.
    assert.equal(await page.locator("table.list td.name").count(), 50);
  } finally {
    await page.unroute(counting);
  }
});

test("a count that takes a while says for how long", { skip: !CLICKHOUSE && "SQLite counts with the page" }, async () => {
  // The count's request held back 3 s, as one over millions of events
  // takes; a list not counted before.
  const counting = /[?&]count=1/;
  await page.route(counting, async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  try {
    await page.goto(`${hive.url}/sessions?project=${P}&match=any&ff=metadata.tenant&fo=is%20not&fv=t0`);
    await page.waitForFunction(() => /^counting… [2-9] s$/.test(document.querySelector("#list-count a[data-count]")?.textContent));
    await page.waitForFunction(() => document.querySelector("#list-count .num"), null, { timeout: 60_000 });
    assert.match(await page.textContent("#list-count"), /1–50 of 200\b/);
  } finally {
    await page.unroute(counting);
  }
});
