import { describe, expect, it } from "vitest";
import { OVERLAP_REASON } from "../../src/routes/metrics";
import { TYPICAL_POINTS, buildRequest, hourMs, typicalRequest } from "../support/otlp";
import { exportResult, freshIp, reportsOf, send, snapshot, uuid } from "../support/worker";
import { env } from "cloudflare:workers";

/** The ID's accepted reports this hour, as its rate limit counts them (installations, migration 0004). */
async function hitsOf(id: string): Promise<number[]> {
	const { results } = await env.DB.prepare("SELECT limit_hits FROM installations WHERE telemetry_id = ?1").bind(id).all<{ limit_hits: number }>();
	return results.map((r) => r.limit_hits);
}

describe("idempotency: a report is (telemetry_id, period_start, period_end)", () => {
	it("answers a resent report 200 with nothing added or counted", async () => {
		const id = uuid();
		const request = typicalRequest(id);
		expect(await exportResult(await send(request))).toEqual({});
		const before = await snapshot();
		const res = await send(request);
		expect(res.status).toBe(200);
		expect(await exportResult(res)).toEqual({});
		expect(await snapshot()).toEqual(before);
	});

	it("treats a resend in another encoding (gzip'd OTLP/JSON) as the same report", async () => {
		const id = uuid();
		const request = typicalRequest(id);
		await send(request, "protobuf");
		const before = await snapshot();
		expect(await exportResult(await send(request, "json-gzip"))).toEqual({});
		expect(await snapshot()).toEqual(before);
	});

	it("stores racing identical requests exactly once and counts them once", async () => {
		const id = uuid();
		const request = typicalRequest(id);
		const ip = freshIp();
		const responses = await Promise.all(Array.from({ length: 8 }, () => send(request, "protobuf", ip)));
		expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
		expect(await Promise.all(responses.map(exportResult))).toEqual(Array(8).fill({}));
		expect(await reportsOf(id)).toHaveLength(1);
		expect(await hitsOf(id)).toEqual([1]);
	});

	it("rejects a report overlapping a stored period with other bounds, changing nothing", async () => {
		const id = uuid();
		const now = Date.now();
		await send(buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 12) }));
		const before = await snapshot();
		const res = await send(buildRequest({ id, startMs: hourMs(now, 18), endMs: hourMs(now, 6) }));
		expect(res.status).toBe(200);
		expect(await exportResult(res)).toEqual({ rejected: TYPICAL_POINTS, message: `7 data points rejected: ${OVERLAP_REASON}` });
		expect(await snapshot()).toEqual(before);
	});

	it("rejects a report containing a stored period (same start, longer) as an overlap", async () => {
		const id = uuid();
		const now = Date.now();
		await send(buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 12) }));
		const res = await send(buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 0) }));
		expect(await exportResult(res)).toEqual({ rejected: TYPICAL_POINTS, message: `7 data points rejected: ${OVERLAP_REASON}` });
		expect((await reportsOf(id)).map((r) => [r.period_start, r.period_end])).toEqual([[hourMs(now, 24) / 1000, hourMs(now, 12) / 1000]]);
	});

	it("stores back-to-back periods (one ends where the next starts): they do not overlap", async () => {
		const id = uuid();
		const now = Date.now();
		await send(buildRequest({ id, startMs: hourMs(now, 24), endMs: hourMs(now, 12) }));
		expect(await exportResult(await send(buildRequest({ id, startMs: hourMs(now, 12), endMs: hourMs(now, 0) })))).toEqual({});
		expect(await reportsOf(id)).toHaveLength(2);
	});

	it("lets exactly one of racing overlapping reports in and rejects the others", async () => {
		const id = uuid();
		const now = Date.now();
		const ip = freshIp();
		const requests = [0, 1, 2, 3].map((shift) => buildRequest({ id, startMs: hourMs(now, 20 + shift), endMs: hourMs(now, 2 + shift) }));
		const results = await Promise.all(requests.map(async (r) => exportResult(await send(r, "protobuf", ip))));
		expect(results.filter((r) => r.rejected === undefined)).toHaveLength(1);
		expect(results.filter((r) => r.message === `7 data points rejected: ${OVERLAP_REASON}`)).toHaveLength(3);
		expect(await reportsOf(id)).toHaveLength(1);
		expect(await hitsOf(id)).toEqual([1]);
	});
});
