/**
 * GET / with a rich data set stored through POST /v1/metrics: the page's numbers are
 * /v1/stats's, window by window and threshold by threshold; one bar per contract bin;
 * the headers of a public, script-free page; bad windows answered without echo.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { DURATION, EXCHANGES } from "../../src/contract";
import { PAGE_CACHE_CONTROL } from "../../src/routes/dashboard";
import { DAY_MS, buildRequest, hourMs, resourceAttrs } from "../support/otlp";
import { exportResult, refresh, send, uuid } from "../support/worker";
import { get, parsePage, sha256Source } from "../support/dashboard";

/**
 * This file's D1: 5 typical installations (last day), 1 rare one alone in its cells,
 * 5 LiveKit-only ones 10 days ago, and 5 from 40 days ago — so the 7, 30 and 90 day
 * windows all differ, and the default threshold of 5 hides some cells but not all.
 */
beforeAll(async () => {
	const now = Date.now();
	const recent = { startMs: hourMs(now, 24), endMs: hourMs(now, 0) };
	const ago = (days: number) => ({ startMs: hourMs(now, 0) - days * DAY_MS - DAY_MS, endMs: hourMs(now, 0) - days * DAY_MS });
	const stored = async (init: Parameters<typeof buildRequest>[0]) => expect(await exportResult(await send(buildRequest(init)))).toEqual({});
	for (let i = 0; i < 5; i++) await stored({ id: uuid(), ...recent });
	const rare = uuid();
	await stored({
		id: rare,
		...recent,
		resource: { ...resourceAttrs(rare), "os.type": "darwin", "voicemode.mcp.host": "zed" },
		duration: [{ transport: "local", counts: [0, 0, 0, 0, 0, 1] }],
		exchanges: [{ transport: "local", counts: [0, 0, 0, 0, 1] }],
		providers: [{ role: "tts", name: "mlx-audio", value: 1 }],
	});
	for (let i = 0; i < 5; i++) {
		const id = uuid();
		await stored({
			id,
			...ago(10),
			resource: { ...resourceAttrs(id), "voicemode.mcp.host": "cursor" },
			duration: [{ transport: "livekit", counts: [0, 0, 0, 0, 2, 0] }],
			exchanges: [{ transport: "livekit", counts: [0, 0, 0, 2, 0] }],
			providers: [{ role: "stt", name: "openai-whisper", value: 2 }],
		});
	}
	for (let i = 0; i < 5; i++) {
		await stored({
			id: uuid(),
			...ago(40),
			duration: [{ transport: "unknown", counts: [1, 0, 0, 0, 0, 0] }],
			exchanges: [{ transport: "unknown", counts: [1, 0, 0, 0, 0] }],
			providers: [{ role: "stt", name: "local", value: 1 }],
		});
	}
	await refresh();
});

async function pageAndStats(query: string, min?: string) {
	const res = await get(`/${query}`, min);
	expect(res.status).toBe(200);
	const page = await parsePage(await res.text());
	const json = (await (await get(`/v1/stats${query}`, min)).json()) as Record<string, unknown>;
	return { page, json };
}

describe("GET / numbers", () => {
	it.each([
		["", "5 (default)"],
		["?days=7", "5 (default)"],
		["?days=30", "5 (default)"],
		["?days=90", "5 (default)"],
		["?days=7", "1"],
		["?days=90", "1"],
		["?days=30", "100"],
	])("equal /v1/stats%s with STATS_MIN_INSTALLATIONS=%s", async (query, label) => {
		const min = label.endsWith("(default)") ? undefined : label;
		const { page, json } = await pageAndStats(query, min);
		expect(page.stats).toEqual(json);
		expect(page.minInstallations).toBe(Number.parseInt(label, 10));
	});

	it("shows the data set's known totals per window", async () => {
		const totals = async (q: string) => (await pageAndStats(q)).page.stats;
		expect(await totals("?days=7")).toMatchObject({ days: 7, installations: 6, reports: 6 });
		expect(await totals("")).toMatchObject({ days: 30, installations: 11, reports: 11 });
		expect(await totals("?days=90")).toMatchObject({ days: 90, installations: 16, reports: 16 });
	});

	it("draws one bar per contract bin for each histogram, published or not, in contract order", async () => {
		const { page, json } = await pageAndStats("?days=30");
		for (const spec of [DURATION, EXCHANGES]) {
			const chart = page.charts.find((c) => c.path[1] === spec.name);
			expect(chart?.bars).toEqual(spec.bins);
			const bins = (json.metrics as Record<string, { bins: Record<string, number> }>)[spec.name]?.bins ?? {};
			for (const row of chart?.rows ?? []) expect(row.count).toBe(bins[row.key] ?? null);
		}
		// With 5 installations needed, the rare session over an hour is withheld, shown as —.
		const duration = page.charts.find((c) => c.path[1] === DURATION.name);
		expect(duration?.rows.find((r) => r.key === ">60min")?.cells).toEqual(["—", "—"]);
	});

	it("draws one bar per published value for the other charts, and shares add up to about 100%", async () => {
		const { page } = await pageAndStats("?days=90", "1");
		for (const chart of page.charts.filter((c) => c.path[0] !== "metrics" || c.path[2] !== "bins")) {
			expect(chart.bars).toEqual(chart.rows.map((r) => r.key));
			const shares = chart.rows.map((r) => Number.parseInt(r.cells[1] ?? "", 10)).filter(Number.isFinite);
			if (shares.length) expect(Math.abs(shares.reduce((a, b) => a + b, 0) - 100)).toBeLessThanOrEqual(shares.length);
		}
	});

	it("shows the visible counts as the data attributes say", async () => {
		const { page } = await pageAndStats("?days=90", "1");
		for (const row of page.charts.flatMap((c) => c.rows)) {
			expect(row.cells[0]).toBe(row.count === null ? "—" : row.count.toLocaleString("en-US"));
		}
	});
});

describe("GET / page", () => {
	it("sends a strict CSP whose only source is the hash of the page's one stylesheet", async () => {
		const res = await get("/");
		const page = await parsePage(await res.text());
		expect(page.styles).toHaveLength(1);
		expect(page.scripts).toBe(0);
		expect(res.headers.get("Content-Security-Policy")).toBe(
			`default-src 'none'; style-src ${await sha256Source(page.styles[0] ?? "")}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
		);
	});

	it("is a cacheable, nosniff, no-referrer HTML page", async () => {
		const res = await get("/?days=7");
		expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
		expect(res.headers.get("Cache-Control")).toBe(PAGE_CACHE_CONTROL);
		expect(PAGE_CACHE_CONTROL).toBe("public, max-age=300, stale-while-revalidate=3600");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
	});

	it("loads nothing from anywhere: no src, no external link, no stylesheet link", async () => {
		const text = await (await get("/")).text();
		expect(text).not.toMatch(/\ssrc=|<link|@import|url\(|https?:\/\//i);
	});

	it.each([7, 30, 90])("links the three windows relatively and marks the current one (days=%i)", async (days) => {
		const page = await parsePage(await (await get(`/?days=${days}`)).text());
		expect(page.windows).toEqual([7, 30, 90].map((d) => ({ href: `?days=${d}`, current: d === days, text: `${d} days` })));
	});

	it("answers HEAD with the headers and no body, and other methods 405", async () => {
		const head = await get("/", undefined, { method: "HEAD" });
		expect(head.status).toBe(200);
		expect(head.headers.get("Content-Security-Policy")).toMatch(/^default-src 'none'/);
		expect(await head.text()).toBe("");
		const post = await get("/", undefined, { method: "POST" });
		expect(post.status).toBe(405);
		expect(post.headers.get("Allow")).toBe("GET, HEAD");
	});
});

describe("GET / with a bad window", () => {
	it.each(["<script>alert(1)</script>", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "\"'><img src=x onerror=alert(1)>", "14", "0", "abc"])(
		"answers days=%s with a fixed 400 page that echoes nothing",
		async (value) => {
			const res = await get(`/?days=${value}`);
			expect(res.status).toBe(400);
			expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
			expect(res.headers.get("Cache-Control")).toBe("no-store");
			expect(res.headers.get("Content-Security-Policy")).toMatch(/^default-src 'none'; style-src 'sha256-/);
			const text = await res.text();
			expect(text).toContain("This page shows the last 7, 30 or 90 days.");
			expect(text).not.toMatch(/alert|<script|<img|abc/);
		},
	);

	it("ignores other query parameters and reflects none of them", async () => {
		const res = await get("/?days=7&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&utm_source=%22%3E%3Cb%3E");
		expect(res.status).toBe(200);
		const text = await res.text();
		expect(text).not.toMatch(/alert|<script|<b>|utm_source|q=/);
	});
});
