// Drives a headless Chromium (Debian's, via playwright-core) through a list of steps and
// prints one JSON document with what each step saw. Used by scripts/screenshot.py (the
// screenshots of `make demo` and docs/dashboard.png) and by tests/system/test_dashboard_browser.py.
//
//   node test/support/chromium.mjs JOB.json
//
// JOB: {"executablePath": "...", "args": [...], "steps": [...]}, where a step is one of
//   {"do": "viewport", "width": W, "height": H}
//   {"do": "colorScheme", "value": "dark"}          prefers-color-scheme for what follows
//   {"do": "goto", "url": "..."}                    navigate; the result is the HTTP status
//   {"do": "click", "link": "7 days"}               follow the link with that exact text
//   {"do": "inspect"}                               the dashboard's facts, read from the DOM
//   {"do": "screenshot", "path": "...", "fullPage": true}
// Output: {"browser": version, "results": [...one per step...], "console": [...errors]}.
// A fresh profile directory is made and removed here; the browser is always closed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

/** Runs in the page: everything the tests assert on, from the page's data attributes. */
function inspectPage() {
	const stat = (name) => {
		const el = document.querySelector(`[data-stat="${name}"]`);
		return el ? Number(el.getAttribute("data-value")) : null;
	};
	// as_of is a timestamp (ISO 8601), or "" before the first rollup run (null in the JSON).
	const asOf = document.querySelector('[data-stat="as_of"]')?.getAttribute("data-value") || null;
	const stats = { days: stat("days"), as_of: asOf, installations: stat("installations"), reports: stat("reports") };
	const charts = [...document.querySelectorAll("table[data-path]")].map((table) => {
		const rows = [...table.querySelectorAll("tbody tr[data-key]")];
		const chartPath = JSON.parse(table.getAttribute("data-path"));
		const counts = {};
		for (const row of rows) {
			if (row.hasAttribute("data-count")) counts[row.getAttribute("data-key")] = Number(row.getAttribute("data-count"));
		}
		let node = stats;
		chartPath.slice(0, -1).forEach((key) => (node = node[key] ??= {}));
		node[chartPath[chartPath.length - 1]] = counts;
		return {
			path: chartPath,
			title: document.getElementById(table.getAttribute("aria-labelledby"))?.textContent ?? "",
			labels: rows.map((row) => row.querySelector("th")?.textContent ?? ""),
			bars: [...table.querySelectorAll("rect.bar")].map((rect) => ({
				key: rect.getAttribute("data-key"),
				suppressed: rect.hasAttribute("data-suppressed"),
				width: rect.getBoundingClientRect().width,
			})),
			cells: rows.map((row) => [...row.querySelectorAll("td.num")].map((td) => td.textContent)),
		};
	});
	// The trends (src/dashboard/trends.ts): each chart's accessible name and description,
	// its points, its colours as rendered, and the numbers of its table.
	const trends = [...document.querySelectorAll("svg.trend")].map((svg) => {
		const [titleId, descId] = (svg.getAttribute("aria-labelledby") ?? "").split(" ");
		const box = svg.getBoundingClientRect();
		const texts = [...svg.querySelectorAll("text")].map((t) => t.getBoundingClientRect().height);
		const line = svg.querySelector(".line");
		return {
			role: svg.getAttribute("role"),
			title: (titleId && document.getElementById(titleId)?.textContent) || "",
			desc: (descId && document.getElementById(descId)?.textContent) || "",
			width: box.width,
			right: box.right,
			minTextHeight: texts.length ? Math.min(...texts) : null,
			lineStroke: line ? getComputedStyle(line).stroke : null,
			points: [...svg.querySelectorAll("circle.point")].map((c) => [c.getAttribute("data-start"), Number(c.getAttribute("data-value"))]),
			bands: [...svg.querySelectorAll("polygon.band")].map((b) => [b.getAttribute("data-key"), getComputedStyle(b).fill]),
		};
	});
	const trendTables = [...document.querySelectorAll("table[data-series]")].map((table) => ({
		grain: table.getAttribute("data-series"),
		rows: [...table.querySelectorAll("tbody tr[data-start]")].map((tr) => ({
			start: tr.getAttribute("data-start"),
			cells: [...tr.querySelectorAll("td[data-path]")].map((td) => ({
				path: JSON.parse(td.getAttribute("data-path")),
				value: td.getAttribute("data-value") === "" ? null : Number(td.getAttribute("data-value")),
			})),
		})),
	}));
	const root = document.documentElement;
	return {
		trends,
		trendTables,
		url: location.href,
		title: document.title,
		h1: document.querySelector("h1")?.textContent ?? "",
		windowHeading: document.getElementById("window")?.textContent ?? "",
		currentWindow: document.querySelector('.windows a[aria-current="page"]')?.textContent ?? null,
		stats,
		charts,
		scripts: document.scripts.length,
		// The inline stylesheet applied (a CSP hash mismatch would leave the default white).
		bodyBackground: getComputedStyle(document.body).backgroundColor,
		scrollWidth: root.scrollWidth,
		clientWidth: root.clientWidth,
		headings: [...document.querySelectorAll("h1, h2, h3")].map((h) => `${h.tagName}:${h.textContent}`),
		text: document.body.innerText,
	};
}

async function main() {
	const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
	const profile = mkdtempSync(path.join(tmpdir(), "voicemode-chromium-"));
	const consoleErrors = [];
	let context;
	try {
		context = await chromium.launchPersistentContext(profile, {
			executablePath: job.executablePath,
			headless: true,
			args: job.args,
			viewport: { width: 1280, height: 900 },
		});
		const page = context.pages()[0] ?? (await context.newPage());
		page.on("console", (msg) => {
			if (msg.type() === "error" || msg.type() === "warning") consoleErrors.push(`${msg.type()}: ${msg.text()}`);
		});
		page.on("pageerror", (err) => consoleErrors.push(`pageerror: ${err.message}`));
		const results = [];
		for (const step of job.steps) {
			if (step.do === "viewport") {
				await page.setViewportSize({ width: step.width, height: step.height });
				results.push(null);
			} else if (step.do === "colorScheme") {
				await page.emulateMedia({ colorScheme: step.value });
				results.push(null);
			} else if (step.do === "goto") {
				const response = await page.goto(step.url, { waitUntil: "load" });
				results.push(response ? response.status() : null);
			} else if (step.do === "click") {
				await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.getByRole("link", { name: step.link, exact: true }).click()]);
				results.push(page.url());
			} else if (step.do === "inspect") {
				results.push(await page.evaluate(inspectPage));
			} else if (step.do === "screenshot") {
				await page.screenshot({ path: step.path, fullPage: step.fullPage ?? true });
				results.push(step.path);
			} else {
				throw new Error(`unknown step ${JSON.stringify(step)}`);
			}
		}
		process.stdout.write(JSON.stringify({ browser: context.browser()?.version() ?? null, results, console: consoleErrors }));
	} finally {
		await context?.close();
		rmSync(profile, { recursive: true, force: true });
	}
}

main().catch((err) => {
	process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
	process.exit(1);
});
