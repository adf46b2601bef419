/**
 * CPU cost of shaping and suppressing a time series (src/stats/series.ts computeSeries), the
 * part of GET /v1/stats?series= and of the dashboard that is not D1, measured in Node
 * (workerd freezes its clocks). Rows shaped like a busy day: every contract cell, five
 * versions, three OS values, one small cell per bucket (so every bucket needs a
 * complement). Printed for docs/capacity.md; the assertion only guards against an
 * order-of-magnitude regression.
 */
import { describe, expect, it } from "vitest";
import { cellNames } from "../../src/db/cells";
import type { SeriesRow } from "../../src/db/buckets";
import { bucketStarts, computeSeries } from "../../src/stats/series";

const NOW = Date.UTC(2026, 10, 25, 12);

function rowsFor(grain: "day" | "week", days: number): SeriesRow[] {
	const rows: SeriesRow[] = [];
	for (const start of bucketStarts(grain, NOW, days)) {
		rows.push({ start, kind: "reports", name: "", a: "", b: "", total: 1300, installations: 1200 });
		rows.push({ start, kind: "sessions", name: "", a: "", b: "", total: 5000, installations: 1100 });
		for (const n of cellNames()) {
			const small = n.m === 0 && n.b === 5;
			rows.push({ start, kind: n.bin ? "bin" : "provider", name: n.metric, a: n.bin ?? n.role ?? "", b: n.provider ?? "", total: small ? 3 : 40, installations: small ? 3 : 50 });
		}
		for (const v of ["8.10.0", "8.11.2", "8.12.0", "8.13.0", "8.13.1.dev2"]) rows.push({ start, kind: "fact", name: "service_version", a: v, b: "", total: 0, installations: 240 });
		for (const o of ["linux", "darwin", "windows"]) rows.push({ start, kind: "fact", name: "os_type", a: o, b: "", total: 0, installations: 400 });
	}
	return rows;
}

function msPerSeries(grain: "day" | "week", days: number): number {
	const rows = rowsFor(grain, days);
	for (let i = 0; i < 20; i++) computeSeries(rows, grain, days, NOW, 5);
	const runs = 50;
	const start = performance.now();
	for (let i = 0; i < runs; i++) computeSeries(rows, grain, days, NOW, 5);
	return (performance.now() - start) / runs;
}

describe("series CPU", () => {
	it("shapes and suppresses 90 days of daily buckets in milliseconds", () => {
		const results = { "day, 90 days": msPerSeries("day", 90), "week, 90 days": msPerSeries("week", 90), "week, 730 days": msPerSeries("week", 730), "day, 730 days": msPerSeries("day", 730) };
		console.log("computeSeries ms per call:", JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Number(v.toFixed(2))]))));
		expect(results["day, 90 days"]).toBeLessThan(100);
	});
});
