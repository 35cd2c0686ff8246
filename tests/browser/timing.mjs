// Times a page in headless Chromium: from navigation until every chart has drawn.
//
//   node timing.mjs URL [REPEAT]
//
// Prints one JSON line per load: {"ms": ..., "charts": N}. Used by `scripts/bench.py web`.
import { chromium } from "playwright-core";

const [url, repeat = "1"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
for (let i = 0; i < Number(repeat); i++) {
  const page = await context.newPage();
  const started = Date.now();
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForFunction(() => {
    const charts = [...document.querySelectorAll(".chart")];
    return charts.length > 0 && charts.every((c) => c.dataset.state === "drawn" || c.dataset.state === "empty");
  }, null, { timeout: 120_000, polling: 10 });
  const charts = await page.$$eval(".chart", (cs) => cs.length);
  console.log(JSON.stringify({ ms: Date.now() - started, charts }));
  await page.close();
}
await browser.close();
