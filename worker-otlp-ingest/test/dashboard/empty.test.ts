/**
 * GET / before any report (this file's D1 stays empty), and during a D1 outage.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { get, parsePage } from "../support/dashboard";

describe("GET / with no data", () => {
	it.each([7, 30, 90])("says no reports in the last %i days yet, with zero totals equal to /v1/stats", async (days) => {
		const res = await get(`/?days=${days}`);
		expect(res.status).toBe(200);
		const text = await res.text();
		expect(text).toContain(`No reports in the last ${days} days yet`);
		const page = await parsePage(text);
		const json = (await (await get(`/v1/stats?days=${days}`)).json()) as Record<string, unknown>;
		expect(page.stats).toEqual({ days, as_of: null, installations: json.installations, reports: json.reports });
		expect(json).toMatchObject({ as_of: null, installations: 0, reports: 0 });
	});

	it("shows no empty charts, but still what is collected, the rule and how to opt out", async () => {
		const text = await (await get("/")).text();
		expect((await parsePage(text)).charts).toEqual([]);
		for (const id of ["collected", "suppression", "opt-out"]) expect(text).toContain(`id="${id}"`);
	});
});

describe("GET / when D1 fails", () => {
	const TABLES = ["rollup_hours", "rollup_state"];
	beforeEach(async () => {
		await env.DB.batch(TABLES.map((t) => env.DB.prepare(`ALTER TABLE ${t} RENAME TO ${t}_away`)));
	});
	afterEach(async () => {
		await env.DB.batch(TABLES.map((t) => env.DB.prepare(`ALTER TABLE ${t}_away RENAME TO ${t}`)));
	});

	it("answers a 503 page with Retry-After, not cached, and no error text", async () => {
		const res = await get("/");
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
		const text = await res.text();
		expect(text).toContain("Statistics are unavailable right now");
		expect(text).not.toMatch(/D1|SQLITE|no such table/i);
	});
});
