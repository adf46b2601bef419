/**
 * GET / with a small data set: 3 installations, fewer than the default threshold of 5,
 * so every breakdown is suppressed — and shown as withheld, never as zero.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { DURATION, EXCHANGES } from "../../src/contract";
import { typicalRequest } from "../support/otlp";
import { exportResult, refresh, send, uuid } from "../support/worker";
import { get, parsePage } from "../support/dashboard";

beforeAll(async () => {
	for (let i = 0; i < 3; i++) expect(await exportResult(await send(typicalRequest(uuid())))).toEqual({});
	await refresh();
});

describe("GET / with fewer installations than STATS_MIN_INSTALLATIONS", () => {
	it("has the same numbers as /v1/stats: totals only, every cell suppressed", async () => {
		const page = await parsePage(await (await get("/")).text());
		const json = (await (await get("/v1/stats")).json()) as Record<string, unknown>;
		expect(page.stats).toEqual(json);
		expect(json).toMatchObject({ installations: 3, reports: 3, transport: {} });
	});

	it("says why nothing is broken down, and states the rule with the live threshold", async () => {
		const text = await (await get("/")).text();
		expect(text).toContain("Too few installations to break down yet");
		expect(text).toContain("3 of the 5 installations needed");
		expect(text).toContain("<code>STATS_MIN_INSTALLATIONS</code> = 5");
		expect(text).not.toContain("No reports in the last");
	});

	it("keeps every histogram bin as a row and a bar, each shown as — and none as 0", async () => {
		const page = await parsePage(await (await get("/")).text());
		for (const spec of [DURATION, EXCHANGES]) {
			const chart = page.charts.find((c) => c.path[1] === spec.name);
			expect(chart?.bars).toEqual(spec.bins);
			expect(chart?.rows.map((r) => [r.key, r.count, ...r.cells])).toEqual(spec.bins.map((bin) => [bin, null, "—", "—"]));
		}
		const others = page.charts.filter((c) => c.path[2] !== "bins");
		expect(others.every((c) => c.rows.length === 0 && c.bars.length === 0)).toBe(true);
	});

	it("shows every cell once the threshold is 1", async () => {
		const page = await parsePage(await (await get("/", "1")).text());
		const json = (await (await get("/v1/stats", "1")).json()) as Record<string, unknown>;
		expect(page.stats).toEqual(json);
		expect(page.charts.find((c) => c.path[1] === DURATION.name)?.rows.filter((r) => r.count !== null).length).toBeGreaterThan(0);
	});
});
