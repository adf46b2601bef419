/**
 * An erased ID stays erased: after DELETE /v1/installations/{id} answered 204, no row
 * for that ID is ever stored again — not a replay of a report stored before, not a report
 * still in flight, not one racing the DELETE — while the Worker keeps no ID, only a keyed
 * hash of it, for as long as a report of the ID could still be accepted. DELETE has a
 * per-address rate limit like POST, and answers known and unknown IDs identically.
 */
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { RETENTION_CRON } from "../../src/jobs/cron";
import { CONTRACT } from "../../src/contract";
import { LIMITS } from "../../src/ingest/ratelimit";
import { DAY_MS, TYPICAL_POINTS, buildRequest, hourMs } from "../support/otlp";
import { exportResult, freshIp, installationOf, reportsOf, send, snapshot, statusOf, uuid } from "../support/worker";

function erase(id: string, ip = freshIp()): Promise<Response> {
	return exports.default.fetch(`https://ingest.test/v1/installations/${id}`, { method: "DELETE", headers: { "CF-Connecting-IP": ip } });
}

/** One installation's consecutive daily reports, oldest first, ending at the current hour. */
function days(id: string, n: number, now = Date.now()) {
	return Array.from({ length: n }, (_, i) => buildRequest({ id, startMs: hourMs(now, 24 * (n - i)), endMs: hourMs(now, 24 * (n - i - 1)) }));
}

const REFUSED = { rejected: TYPICAL_POINTS, message: `${TYPICAL_POINTS} data points rejected: voicemode.telemetry.id: not accepted` };

describe("an erased ID", () => {
	it("refuses a replay of a report stored before the erasure, storing nothing", async () => {
		const id = uuid();
		const [first, second] = days(id, 2);
		for (const report of [first!, second!]) expect(await exportResult(await send(report))).toEqual({});
		expect((await erase(id)).status).toBe(204);
		const before = await snapshot();
		for (const report of [first!, second!]) expect(await exportResult(await send(report))).toEqual(REFUSED);
		expect(await snapshot()).toEqual(before);
		expect(await reportsOf(id)).toEqual([]);
		expect(await installationOf(id)).toBeNull();
	});

	it("refuses a report that was in flight when the erasure came, and a new one", async () => {
		const id = uuid();
		const [stored, inFlight] = days(id, 2);
		expect(await exportResult(await send(stored!))).toEqual({});
		expect((await erase(id)).status).toBe(204);
		expect(await exportResult(await send(inFlight!))).toEqual(REFUSED);
		expect(await reportsOf(id)).toEqual([]);
		expect(await installationOf(id)).toBeNull();
	});

	it("leaves no row of the ID whichever of a racing POST and DELETE D1 runs first", async () => {
		for (let round = 0; round < 8; round++) {
			const id = uuid();
			const [stored, racing] = days(id, 2);
			expect(await exportResult(await send(stored!))).toEqual({});
			const [posted, deleted] = await Promise.all([send(racing!), erase(id)]);
			expect([posted.status, deleted.status]).toEqual([200, 204]);
			expect(await reportsOf(id)).toEqual([]);
			expect(await installationOf(id)).toBeNull();
			for (const table of ["rollup_pending", "rollup_installations"]) {
				expect((await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE telemetry_id = ?1`).bind(id).first<{ n: number }>())?.n).toBe(0);
			}
		}
	});

	it("is remembered only as a keyed hash, for as long as a report of it could be accepted, then forgotten", async () => {
		const id = uuid();
		const now = Date.now();
		expect((await erase(id)).status).toBe(204);
		const { results } = await env.DB.prepare("SELECT * FROM erasures").all<{ key: string; until: number }>();
		const text = JSON.stringify(results);
		expect(text).not.toContain(id);
		expect(text).not.toContain(id.replaceAll("-", ""));
		const mine = results.filter((r) => r.until >= Math.floor(now / 1000));
		expect(mine.length).toBeGreaterThan(0);
		for (const row of mine) expect(row.key).toMatch(/^[0-9a-f]{64}$/);
		const until = Math.max(...mine.map((r) => r.until));
		const keep = CONTRACT.period.maxAgeSeconds + CONTRACT.period.serverMaxSeconds;
		expect(until - Math.floor(now / 1000)).toBeGreaterThanOrEqual(keep);
		expect(until - Math.floor(now / 1000)).toBeLessThanOrEqual(keep + 60);
		// Retention keeps it until then, and deletes it after.
		const scheduled = (at: number) => worker.scheduled(createScheduledController({ scheduledTime: at, cron: RETENTION_CRON }), env);
		await scheduled(until * 1000 - DAY_MS);
		expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM erasures WHERE until = ?1").bind(until).first<{ n: number }>())?.n).toBeGreaterThan(0);
		await scheduled(until * 1000 + DAY_MS);
		expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM erasures WHERE until <= ?1").bind(until).first<{ n: number }>())?.n).toBe(0);
	});
});

describe("DELETE /v1/installations/{id} from one address", () => {
	it("answers 204 to the first 100 in an hour, then 429, the same for known and unknown IDs", async () => {
		const ip = freshIp();
		const known = uuid();
		expect(await exportResult(await send(days(known, 1)[0]!))).toEqual({});
		for (let i = 0; i < LIMITS.perIp; i++) {
			const res = await erase(i === 50 ? known : uuid(), ip);
			expect(res.status).toBe(204);
			expect(await res.text()).toBe("");
		}
		const answers = await Promise.all([erase(known, ip), erase(uuid(), ip)]);
		const shapes = await Promise.all(
			answers.map(async (res) => ({ status: res.status, retryAfter: res.headers.get("Retry-After") !== null, type: res.headers.get("Content-Type"), body: await statusOf(res) })),
		);
		expect(shapes[0]).toEqual({ status: 429, retryAfter: true, type: "application/json", body: { code: 8, message: "rate limit exceeded; retry after the hour" } });
		expect(shapes[1]).toEqual(shapes[0]);
		// Another address is not affected.
		expect((await erase(uuid())).status).toBe(204);
	});
});
