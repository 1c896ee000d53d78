// Deleting from the dashboard in headless Chromium: a session from its
// page, the sessions a filter matches from the list, each after a
// confirmation page that says how much goes; the project settings page
// sets the retention and shows the audit trail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startHive, launch, shot, api, logIn } from "./lib.mjs";

let hive, browser, page;

async function count(filters) {
  const r = await api(hive, "POST", "/v1/events/export", {
    project: "del", filters, level: "session", limit: 1,
  });
  return r.totalEvents;
}

before(async () => {
  hive = await startHive();
  const t = Date.now();
  for (let s = 0; s < 6; s++) {
    const sid = `del-s${s}`;
    await api(hive, "POST", "/v1/events/batch", {
      project: "del",
      events: [
        { event_id: sid, session_id: sid, event_type: "session", start_time: t + s, end_time: t + s + 1,
          event_name: s === 0 ? "<img src=x onerror=alert(1)>" : `chat ${s}`,
          user_properties: { user_id: `u${s % 2}` } },
        { event_id: `${sid}-e`, session_id: sid, event_type: "model", event_name: "llm",
          start_time: t + s, end_time: t + s + 1 },
      ],
    });
  }
  browser = await launch();
  page = await browser.context.newPage();
  page.on("dialog", () => assert.fail("no script may run"));
  await logIn(page, hive.loginUrl);
});

after(async () => {
  await browser?.close();
  await hive?.stop();
});

test("a session is deleted from its page after a confirmation", async () => {
  await page.goto(`${hive.url}/sessions/del-s0?project=del`);
  await Promise.all([page.waitForURL(/\/sessions\/del-s0\/delete/), page.click("text=Delete this session…")]);
  const text = await page.textContent("main, body");
  assert.match(text, /<img src=x onerror=alert\(1\)>/, "the name is shown as text");
  assert.match(text, /its 1 events/);
  await shot(page, "delete-session-confirm");
  await Promise.all([page.waitForURL(/\/sessions\?project=del/), page.click("#confirm-delete button.danger")]);
  const r = await fetch(`${hive.url}/v1/sessions/del-s0?project=del`, {
    headers: { authorization: `Bearer ${hive.key}` },
  });
  assert.equal(r.status, 404);
  assert.equal(await count([]), 5);
});

test("a form without the CSRF token deletes nothing", async () => {
  const r = await page.request.post(`${hive.url}/sessions/del-s1/delete`, {
    form: { project: "del" },
  });
  assert.equal(r.status(), 403);
  assert.equal(await count([]), 5);
});

test("the sessions a filter matches are counted, confirmed, deleted and audited", async () => {
  const filter = [{ field: "user_properties.user_id", operator: "is", value: "u1", type: "string" }];
  assert.equal(await count(filter), 3);
  await page.goto(`${hive.url}/sessions?project=del&ff=user_properties.user_id&fo=is&fv=u1&match=any`);
  await Promise.all([page.waitForURL(/\/delete\?/), page.click("text=Delete the sessions matching these filters…")]);
  assert.match(await page.textContent("body"), /3 sessions where user_properties\.user_id is u1/);
  await shot(page, "delete-filter-confirm");
  await Promise.all([page.waitForURL(/\/settings\?project=del/), page.click("#confirm-delete button.danger")]);
  for (let i = 0; i < 100 && (await count(filter)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await count(filter), 0);
  assert.equal(await count([]), 2);
  await page.reload();
  const rows = await page.locator("#deletions tbody tr").allTextContents();
  assert.equal(rows.length, 2, rows.join("\n"));
  assert.match(rows[0], /dashboard login/);
  assert.match(rows[0], /sessions where user_properties\.user_id is u1/);
  assert.match(rows[0], /done/);
  assert.match(rows[1], /session del-s0/);
  await shot(page, "settings-deletions", { fullPage: true });
});

test("the retention is set on the project settings page", async () => {
  await page.goto(`${hive.url}/settings?project=del`);
  assert.match(await page.textContent("body"), /Now: kept forever/);
  await page.fill("input[name=retention_days]", "30");
  await Promise.all([page.waitForURL(/\/settings\?project=del/), page.click("form[action=\"/settings/retention\"] button")]);
  assert.match(await page.textContent("body"), /Now: 30 days/);
  const p = await api(hive, "GET", "/v1/projects/del");
  assert.equal(p.effective_retention_days, 30);
  await page.fill("input[name=retention_days]", "a week");
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/settings/retention")),
    page.click("form[action=\"/settings/retention\"] button"),
  ]);
  assert.equal(resp.status(), 400);
  assert.match(await page.textContent("body"), /retention_days/);
});
