// Times a page in headless Chromium: from navigation until every chart has drawn.
//
//   node timing.mjs URL [REPEAT] [URL...]
//
// Loads URL REPEAT times, then each further URL once, one after another in one browser (its cache
// kept, as a reader's is from page to page, unless FRESH is set).
//
// Prints one JSON line per load: {"ms": ..., "paint": P, "charts": N, "bytes": B}, where paint is
// the first contentful paint (ms from navigation) and bytes is what came over the wire (bodies as
// sent, compressed or not, and headers). Used by `scripts/bench.py web`.
//
// Environment: THROTTLE="KBIT_PER_S,LATENCY_MS" emulates a network link (Chromium's DevTools
// throttling); FRESH=1 gives every load an empty browser cache, as a first visit has.
//
// IN_PAGE=1 (the registry dashboard): loads URL once, then goes to each further URL the way a
// filter change does, in place (`cohort.swapRegistry`); paint is then the time from the change
// until its figures are on screen (the page's `cohort:painted` mark), ms until every chart has
// drawn again.
import { chromium } from "playwright-core";

const [url, repeat = "1", ...more] = process.argv.slice(2);
const inPage = Boolean(process.env.IN_PAGE);
const loads = inPage ? [url] : [...Array(Number(repeat)).fill(url), ...more];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const throttle = process.env.THROTTLE ? process.env.THROTTLE.split(",").map(Number) : null;
let context = await browser.newContext();
for (const [i, url] of loads.entries()) {
  if (process.env.FRESH && i > 0) {
    await context.close();
    context = await browser.newContext();
  }
  const page = await context.newPage();
  if (throttle) {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: throttle[1],
      downloadThroughput: (throttle[0] * 1000) / 8,
      uploadThroughput: (throttle[0] * 1000) / 8,
    });
  }
  const responses = [];
  page.on("response", (r) => responses.push(r));
  const started = Date.now();
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForFunction(() => {
    const charts = [...document.querySelectorAll(".chart")];
    return charts.length > 0 && charts.every((c) => c.dataset.state === "drawn" || c.dataset.state === "empty");
  }, null, { timeout: 300_000, polling: 10 });
  const ms = Date.now() - started;
  const charts = await page.$$eval(".chart", (cs) => cs.length);
  const paint = await page.evaluate(
    () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
  );
  let bytes = 0;
  for (const r of responses) {
    const sizes = await r.request().sizes().catch(() => null);
    if (sizes) bytes += sizes.responseBodySize + sizes.responseHeadersSize;
  }
  console.log(JSON.stringify({ ms, paint: paint === null ? null : Math.round(paint), charts, bytes }));
  if (inPage) {
    for (const next of more) {
      responses.length = 0;
      const measured = await page.evaluate(async (next) => {
        const drawn = () => {
          const charts = [...document.querySelectorAll(".chart")];
          return charts.length > 0 && charts.every((c) => c.dataset.state === "drawn" || c.dataset.state === "empty");
        };
        await cohort.swapRegistry(next, true);
        while (!drawn()) await new Promise((r) => setTimeout(r, 5));
        const done = performance.now();
        const change = performance.getEntriesByName("cohort:change").at(-1).startTime;
        while (performance.getEntriesByName("cohort:painted").filter((m) => m.startTime > change).length === 0) {
          await new Promise((r) => requestAnimationFrame(r));
        }
        const painted = performance.getEntriesByName("cohort:painted").at(-1).startTime;
        return { ms: done - change, paint: painted - change, charts: document.querySelectorAll(".chart").length };
      }, next);
      let bytes = 0;
      for (const r of responses) {
        const sizes = await r.request().sizes().catch(() => null);
        if (sizes) bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      }
      console.log(JSON.stringify({ ms: Math.round(measured.ms), paint: Math.round(measured.paint), charts: measured.charts, bytes }));
    }
  }
  await page.close();
}
await browser.close();
