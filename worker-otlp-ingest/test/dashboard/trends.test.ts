/**
 * The dashboard's trends in workerd, on a simulated month of several installations:
 * every number in the trend tables and every point drawn equals /v1/stats?series= for
 * the same window and threshold; each chart is an <svg role="img"> named by its own
 * <title> and <desc>; versions are stacked with the newest on top; the median bin of
 * each week is the one the published numbers settle (recomputed here independently).
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { cellNames, encodeCells } from "../../src/db/cells";
import { DURATION } from "../../src/contract";
import { storeReport } from "../../src/db/reports";
import { renderTrends } from "../../src/dashboard/trends";
import { utcDay } from "../../src/ingest/period";
import { tombstoneKey } from "../../src/ingest/tombstone";
import type { Cell, Series, SeriesBucket } from "../../src/stats/series";
import { get, parseTrends } from "../support/dashboard";
import { refresh } from "../support/worker";

const HOUR = 3_600;
const DAY = 86_400;
const NOW = Date.now();
const NAMES = cellNames();
const cell = (metric: string, key: Record<string, string>, sessions: number) => {
	const n = NAMES.find((c) => c.metric === metric && Object.entries(key).every(([k, v]) => c[k as keyof typeof c] === v));
	if (!n) throw new Error(`no cell ${metric} ${JSON.stringify(key)}`);
	return { metric, ...key, sessions };
};

/** 12 installations over 35 days: most report daily, some every other day; versions move 8.11.2 → 8.12.0 → 8.13.0. */
beforeAll(async () => {
	const today = Math.floor(NOW / 1000 / HOUR) * HOUR;
	for (let i = 0; i < 12; i++) {
		const id = `${String(i).padStart(8, "0")}-1111-4111-8111-111111111111`;
		for (let day = 34; day >= 0; day--) {
			if (i >= 9 && day % 2 === 1) continue;
			const end = today - day * DAY - (i % 4) * HOUR;
			const version = day > 20 ? "8.11.2" : day > 8 - (i % 3) ? "8.12.0" : "8.13.0";
			const long = (day + i) % 5 === 0;
			const cells = [
				cell(DURATION.name, { transport: "local", bin: long ? "20-60min" : "5-10min" }, 2),
				cell(DURATION.name, { transport: "local", bin: "1-5min" }, 1 + (i % 2)),
				cell("voicemode.session.exchanges", { transport: "local", bin: "6-10" }, 3 + (i % 2)),
				cell("voicemode.session.providers", { role: "tts", provider: "kokoro" }, 3 + (i % 2)),
			];
			const rows = {
				installation: { telemetry_id: id, seen_day: utcDay(end * 1000), facts: { service_version: version, os_type: i % 3 ? "darwin" : "linux", install_method: "uv-tool", mcp_host: "claude-code", exec_source: "mcp" } },
				report: { telemetry_id: id, period_start: end - 20 * HOUR, period_end: end, received_day: utcDay(end * 1000), cells: encodeCells(cells) },
			};
			const outcome = await storeReport(env.DB, rows, [{ bucket: `id:${id}`, maxHits: 999 }, { bucket: "ip:sim", maxHits: 9_999 }], 0, await tombstoneKey(env.IP_HASH_KEY, id));
			expect(outcome.kind).toBe("stored");
			// The cron runs as the days pass, so each day's facts are that day's.
			await refresh((end + HOUR) * 1000);
		}
	}
	await refresh();
}, 120_000);

const json = async (path: string, min?: string): Promise<Series> => (await (await get(path, min)).json()) as Series;

function at(bucket: SeriesBucket, path: readonly string[]): Cell {
	let node: unknown = bucket;
	for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key];
	return typeof node === "number" ? node : null;
}

/** The median bin, recomputed: every way the unpublished sessions can fall into withheld bins must give the same bin. */
function median(bucket: SeriesBucket): number | null {
	const bins = DURATION.bins.map((b) => bucket.metrics[DURATION.name]?.bins?.[b] ?? null);
	const total = bucket.sessions;
	if (total === null || total === 0) return null;
	const rest = total - bins.reduce<number>((a, v) => a + (v ?? 0), 0);
	const withheld = bins.map((v, i) => (v === null ? i : -1)).filter((i) => i >= 0);
	const candidates = new Set<number>();
	for (const place of withheld.length ? withheld : [-1]) {
		const filled = bins.map((v, i) => (v ?? 0) + (i === place ? rest : 0));
		let cum = 0;
		candidates.add(filled.findIndex((v) => (cum += v) >= total / 2));
	}
	return candidates.size === 1 ? ([...candidates][0] ?? null) : null;
}

describe.each([
	["?days=30", undefined],
	["?days=90", undefined],
	["?days=7", "1"],
	["?days=30", "12"],
])("the trends of GET /%s (threshold %s)", (query, min) => {
	it("show in their tables exactly the numbers of /v1/stats?series=", async () => {
		const days = Number(query.split("=")[1]);
		const page = await parseTrends(await (await get(`/${query}`, min)).text());
		const day = await json(`/v1/stats?series=day&days=${days}`, min);
		const week = await json(`/v1/stats?series=week&days=${days}`, min);
		expect(page.tables.map((t) => t.grain)).toEqual(["day", "day", "week", "week"]);
		for (const t of page.tables) {
			const series = t.grain === "day" ? day : week;
			expect(t.rows.map((r) => r.start)).toEqual(series.buckets.map((b) => b.start));
			t.rows.forEach((r, i) => {
				const bucket = series.buckets[i];
				if (!bucket) throw new Error("bucket");
				for (const c of r.cells) {
					expect(c.value).toBe(at(bucket, c.path));
					if (c.value === null) expect(c.text).toBe("—");
				}
				if (r.median !== undefined) expect(r.median).toBe(median(bucket));
			});
		}
		// The version table has a column per version published in the window's weeks.
		const published = new Set(week.buckets.flatMap((b) => Object.entries(b.environment["service.version"] ?? {}).filter(([, v]) => v !== null).map(([k]) => k)));
		expect(new Set(page.tables[2]?.rows[0]?.cells.slice(1).map((c) => c.path[2]))).toEqual(published);
	});

	it("draw a point for each published number, at its value", async () => {
		const days = Number(query.split("=")[1]);
		const page = await parseTrends(await (await get(`/${query}`, min)).text());
		const day = await json(`/v1/stats?series=day&days=${days}`, min);
		for (const [chart, field] of [[0, "installations"], [1, "sessions"]] as const) {
			expect(page.points.filter((p) => p.chart === chart).map((p) => [p.start, p.value])).toEqual(
				day.buckets.filter((b) => b[field] !== null).map((b) => [b.start, b[field]]),
			);
		}
		const week = await json(`/v1/stats?series=week&days=${days}`, min);
		expect(page.points.filter((p) => p.chart === 3).map((p) => [p.start, p.value])).toEqual(
			week.buckets.map((b) => [b.start, median(b)]).filter(([, m]) => m !== null),
		);
	});
});

describe("the trend charts", () => {
	it("are images named by their own title and described by their own desc", async () => {
		const page = await parseTrends(await (await get("/?days=30")).text());
		expect(page.svgs).toHaveLength(4);
		for (const svg of page.svgs) {
			expect(svg.role).toBe("img");
			expect(svg.labelledBy).toHaveLength(2);
			for (const id of svg.labelledBy) expect(page.texts.get(id)?.length ?? 0).toBeGreaterThan(10);
		}
		expect(page.texts.get("trend-installations-svg-title")).toBe("Active installations per day");
		expect(page.texts.get("trend-installations-svg-desc")).toMatch(/^Active installations per day, \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d .*: lowest \d+, highest \d+, latest \d+/);
		// The adoption desc names the latest week with active installations and each version
		// published for it, newest first, as a share of that week's installations: derived from
		// /v1/stats for the same window and threshold, because which numbers protection withholds
		// depends on the hour (early on a Monday the new week holds only a few installations).
		const week = await json("/v1/stats?series=week&days=30");
		const latest = week.buckets.findLast((b) => b.installations !== null && b.installations > 0);
		if (!latest?.installations) throw new Error("the seeded month publishes no week");
		const whole = latest.installations;
		const shown = Object.entries(latest.environment["service.version"] ?? {})
			.filter((e): e is [string, number] => e[1] !== null && e[1] > 0)
			.sort(([a], [b]) => b.localeCompare(a, "en", { numeric: true }))
			.map(([v, n]) => `${v} ${Math.round((100 * n) / whole)}%`);
		expect(page.texts.get("trend-versions-svg-desc")).toMatch(/^Share of each week's active installations per VoiceMode version .*: on \d{4}-\d\d-\d\d, .+\.$/);
		expect(page.texts.get("trend-versions-svg-desc")?.endsWith(`: on ${latest.start}, ${shown.join(", ") || "no version shown"}.`)).toBe(true);
	});

	it("stack the versions with the newest on top, and list them newest first", async () => {
		const page = await parseTrends(await (await get("/?days=30", "1")).text());
		const order = page.bands.filter((b, i) => page.bands.indexOf(b) === i && b !== "");
		expect(order).toEqual(["8.11.2", "8.12.0", "8.13.0"]);
		expect(page.legend.slice(0, 3)).toEqual(["8.13.0", "8.12.0", "8.11.2"]);
	});

	it("are left out when nothing is published for the window", async () => {
		const text = await (await get("/?days=7", "1000")).text();
		expect(text).not.toContain('class="trend');
		expect(text).toContain("Too few installations");
	});

	it("escape every value and hold no script or style attribute", () => {
		const hostile = `"><script>x</script>`;
		const bucket: SeriesBucket = {
			start: "2026-11-02",
			installations: 9,
			reports: 9,
			sessions: 10,
			metrics: { [DURATION.name]: { bins: { "<1min": 10 } } },
			transport: {},
			environment: { "service.version": { [hostile]: 9 } },
		};
		const series = (grain: "day" | "week"): Series => ({ days: 7, series: grain, as_of: null, buckets: [bucket] });
		const out = renderTrends({ day: series("day"), week: series("week"), minInstallations: 5 }).toString();
		expect(out).not.toContain("<script");
		expect(out).not.toMatch(/\sstyle=|\son[a-z]+=/i);
		expect(out).toContain("&lt;script&gt;");
	});
});
