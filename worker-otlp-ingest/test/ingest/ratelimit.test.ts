import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storeReport } from "../../src/db/reports";
import { LIMITS, WINDOW_SECONDS, currentWindow, idBucket, ipBucket } from "../../src/ingest/ratelimit";
import { toRows } from "../../src/db/rows";
import { tombstoneKey } from "../../src/ingest/tombstone";
import { validateRequest } from "../../src/ingest/validate";
import worker from "../../src/index";
import { buildRequest, DAY_MS, hourMs, toProtobuf, typicalRequest } from "../support/otlp";
import { exportResult, freshIp, reportsOf, send, snapshot, statusOf, uuid } from "../support/worker";

/** `n` one-hour reports of one installation, none overlapping. */
function hourlyReports(id: string, n: number, now = Date.now()) {
	return Array.from({ length: n }, (_, i) => buildRequest({ id, startMs: hourMs(now, i + 1), endMs: hourMs(now, i) }));
}

async function expect429(res: Response, before: number): Promise<void> {
	const after = currentWindow(Date.now()).retryAfter;
	expect(res.status).toBe(429);
	const retryAfter = Number(res.headers.get("Retry-After"));
	// Seconds until the UTC hour ends, as seen around the request.
	expect(retryAfter).toBeGreaterThanOrEqual(after);
	expect(retryAfter).toBeLessThanOrEqual(before);
	expect(await statusOf(res)).toEqual({ code: 8, message: "rate limit exceeded; retry after the hour" });
}

describe("rate limits (accepted reports per hour)", () => {
	it("accepts 10 reports of one ID in an hour and answers the 11th 429 with Retry-After, storing nothing", async () => {
		const id = uuid();
		const ip = freshIp();
		const [eleventh, ...ten] = hourlyReports(id, LIMITS.perId + 1);
		for (const request of ten) expect(await exportResult(await send(request, "protobuf", ip))).toEqual({});
		const before = await snapshot();
		const window = currentWindow(Date.now()).retryAfter;
		await expect429(await send(eleventh!, "protobuf", ip), window);
		expect(await snapshot()).toEqual(before);
		expect(await reportsOf(id)).toHaveLength(10);
	});

	it("accepts 100 reports from one IP in an hour and answers the 101st 429", async () => {
		const ip = freshIp();
		for (let i = 0; i < LIMITS.perIp; i++) {
			expect((await send(typicalRequest(uuid()), "protobuf", ip)).status).toBe(200);
		}
		const before = await snapshot();
		const window = currentWindow(Date.now()).retryAfter;
		await expect429(await send(typicalRequest(uuid()), "protobuf", ip), window);
		expect(await snapshot()).toEqual(before);
		// Another IP is not affected.
		expect(await exportResult(await send(typicalRequest(uuid()), "protobuf", freshIp()))).toEqual({});
	});

	it("holds under a concurrent burst: of 15 simultaneous reports of one ID exactly 10 are stored", async () => {
		const id = uuid();
		const ip = freshIp();
		const responses = await Promise.all(hourlyReports(id, 15).map((r) => send(r, "protobuf", ip)));
		const statuses = responses.map((r) => r.status).sort();
		expect(statuses).toEqual([...Array(10).fill(200), ...Array(5).fill(429)]);
		expect(await reportsOf(id)).toHaveLength(10);
	});

	it("holds under a concurrent burst from one IP: of 110 simultaneous reports exactly 100 are stored", async () => {
		const ip = freshIp();
		const ids = Array.from({ length: 110 }, uuid);
		const responses = await Promise.all(ids.map((id) => send(typicalRequest(id), "protobuf", ip)));
		expect(responses.filter((r) => r.status === 200)).toHaveLength(100);
		expect(responses.filter((r) => r.status === 429)).toHaveLength(10);
		const stored = await Promise.all(ids.map(reportsOf));
		expect(stored.filter((rows) => rows.length === 1)).toHaveLength(100);
	});

	it("holds both limits at once under a concurrent burst: 12 IDs × 12 reports from one IP store exactly 100, ≤ 10 per ID", async () => {
		const ip = freshIp();
		const ids = Array.from({ length: 12 }, uuid);
		const requests = ids.flatMap((id) => hourlyReports(id, 12));
		const responses = await Promise.all(requests.map((r) => send(r, "protobuf", ip)));
		expect(responses.filter((r) => r.status === 200)).toHaveLength(LIMITS.perIp);
		expect(responses.filter((r) => r.status === 429)).toHaveLength(requests.length - LIMITS.perIp);
		const stored = await Promise.all(ids.map(reportsOf));
		expect(stored.reduce((n, rows) => n + rows.length, 0)).toBe(LIMITS.perIp);
		for (const rows of stored) expect(rows.length).toBeLessThanOrEqual(LIMITS.perId);
		// The ID counts agree with what is stored: each accepted report counted once, refusals never.
		for (const [i, id] of ids.entries()) {
			const row = await env.DB.prepare("SELECT limit_hits FROM installations WHERE telemetry_id = ?1").bind(id).first<{ limit_hits: number }>();
			expect(row?.limit_hits ?? 0).toBe(stored[i]!.length);
		}
	});

	it("does not count a report the IP limit refused against its ID", async () => {
		const id = uuid();
		const full = freshIp();
		const [last, tenth, ...nine] = hourlyReports(id, LIMITS.perId + 1);
		for (const r of nine) expect((await send(r, "protobuf", freshIp())).status).toBe(200);
		for (let i = 0; i < LIMITS.perIp; i++) expect((await send(typicalRequest(uuid()), "protobuf", full)).status).toBe(200);
		expect((await send(tenth!, "protobuf", full)).status).toBe(429);
		expect(await reportsOf(id)).toHaveLength(9);
		expect((await send(tenth!, "protobuf", freshIp())).status).toBe(200);
		expect((await send(last!, "protobuf", freshIp())).status).toBe(429);
		expect(await reportsOf(id)).toHaveLength(LIMITS.perId);
	});

	it("starts an ID's count again in the next hour", async () => {
		const id = uuid();
		const now = Date.now();
		const window = currentWindow(now).start;
		const ip = await ipBucket("k", freshIp(), now);
		const outcomes: string[] = [];
		for (const [i, request] of hourlyReports(id, LIMITS.perId + 2, now).entries()) {
			const [checked] = validateRequest(request, now);
			if (!checked?.ok) throw new Error("fixture must be valid");
			const start = i <= LIMITS.perId ? window : window + WINDOW_SECONDS; // the 12th arrives an hour later
			outcomes.push((await storeReport(env.DB, toRows(checked.report, now), [idBucket(id), ip], start, await tombstoneKey(env.IP_HASH_KEY, id))).kind);
		}
		expect(outcomes).toEqual([...Array(LIMITS.perId).fill("stored"), "rate-limited", "stored"]);
	});

	it("does not count duplicates or refused reports: they write nothing", async () => {
		const id = uuid();
		const ip = freshIp();
		const request = typicalRequest(id);
		await send(request, "protobuf", ip);
		const before = await snapshot();
		const bad = typicalRequest(uuid());
		bad.resourceMetrics[0]!.scopeMetrics[0]!.scope!.name = "other";
		for (let i = 0; i < 20; i++) {
			expect((await send(request, "protobuf", ip)).status).toBe(200);
			expect((await send(bad, "protobuf", ip)).status).toBe(200);
		}
		expect(await snapshot()).toEqual(before);
	});

	it("answers 429 for a batch with an over-limit report, storing the others; the resend is then idempotent", async () => {
		const full = uuid();
		const other = uuid();
		const ip = freshIp();
		const now = Date.now();
		for (const r of hourlyReports(full, LIMITS.perId, now)) await send(r, "protobuf", ip);
		const batch = buildRequest(
			{ id: full, startMs: hourMs(now, 30), endMs: hourMs(now, 20) },
			{ id: other, startMs: hourMs(now, 30), endMs: hourMs(now, 20) },
		);
		expect((await send(batch, "protobuf", ip)).status).toBe(429);
		expect(await reportsOf(other)).toHaveLength(1);
		const before = await snapshot();
		expect((await send(batch, "protobuf", ip)).status).toBe(429);
		expect(await snapshot()).toEqual(before);
	});
});

describe("client IPs are never stored", () => {
	it("keys the IP bucket by HMAC-SHA256(IP_HASH_KEY, ip \\n UTC day) and stores the IP nowhere", async () => {
		const ip = "203.0.113.77";
		const now = Date.now();
		await send(typicalRequest(uuid()), "protobuf", ip);
		const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(env.IP_HASH_KEY), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
		const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${ip}\n${new Date(now).toISOString().slice(0, 10)}`));
		const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
		const { results } = await env.DB.prepare("SELECT hits FROM rate_limits WHERE bucket = ?1").bind(`ip:${hex}`).all();
		expect(results).toEqual([{ hits: 1 }]);
		expect(JSON.stringify(await snapshot())).not.toContain(ip);
	});

	it("gives the same IP unlinkable buckets on different days and under different keys", async () => {
		const now = Date.now();
		const today = await ipBucket("key", "203.0.113.1", now);
		expect(today).toEqual(await ipBucket("key", "203.0.113.1", now));
		expect(today.bucket).not.toBe((await ipBucket("key", "203.0.113.1", now + DAY_MS)).bucket);
		expect(today.bucket).not.toBe((await ipBucket("other key", "203.0.113.1", now)).bucket);
		expect(today.bucket).toMatch(/^ip:[0-9a-f]{64}$/);
	});

	it("answers 503 with Retry-After and stores nothing when IP_HASH_KEY is not configured", async () => {
		const before = await snapshot();
		const res = await worker.fetch(
			new Request("https://ingest.test/v1/metrics", { method: "POST", headers: { "Content-Type": "application/x-protobuf" }, body: toProtobuf(typicalRequest(uuid())) }),
			{ ...env, IP_HASH_KEY: "" },
		);
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
		expect(await statusOf(res)).toEqual({ code: 14, message: "storage unavailable" });
		expect(await snapshot()).toEqual(before);
	});
});

describe("windows", () => {
	it("uses fixed UTC hours and says how long until the next", () => {
		expect(currentWindow(Date.UTC(2026, 10, 25, 17, 0, 0))).toEqual({ start: Date.UTC(2026, 10, 25, 17) / 1000, retryAfter: 3600 });
		expect(currentWindow(Date.UTC(2026, 10, 25, 17, 59, 59, 999))).toEqual({ start: Date.UTC(2026, 10, 25, 17) / 1000, retryAfter: 1 });
	});
});
