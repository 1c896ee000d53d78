// Manual helper: start a server, load the SDK examples, print a login URL,
// take screenshots of the main pages. `node dev.mjs` (stops on Ctrl-C).
import { startHive, startFakeOpenAI, runExample, launch, shot, logIn } from "./lib.mjs";

const hive = await startHive();
const openai = await startFakeOpenAI();
for (const ex of ["b05_all_together", "b04_use_cases", "a12_complex_data", "a08_pattern3_feedback", "b01_tracer_enrich_session"]) {
  await runExample(ex, { hive, openai });
}
const b = await launch();
const page = await b.context.newPage();
page.on("console", (m) => console.log("console:", m.text()));
await logIn(page, hive.loginUrl);
await shot(page, "dev-sessions");
const first = page.locator("table.list td.name a").first();
await first.click();
await shot(page, "dev-session");
console.log("server", hive.url, "key", hive.key);
await b.close();
openai.stop();
if (process.argv.includes("--keep")) {
  console.log("running; Ctrl-C to stop");
  await new Promise(() => {});
}
await hive.stop();
