/**
 * Storage failures answer 503 with Retry-After (exporters retry, and a stored report
 * then comes back as a duplicate), never 500 and never an error message. The outage
 * is real: this file's own D1 loses its tables for the duration of each test.
 */
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { typicalRequest } from "./support/otlp";
import { send, statusOf, uuid } from "./support/worker";

const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "rollup_state"];

beforeEach(async () => {
	await env.DB.batch(TABLES.map((t) => env.DB.prepare(`ALTER TABLE ${t} RENAME TO ${t}_away`)));
});

afterEach(async () => {
	await env.DB.batch(TABLES.map((t) => env.DB.prepare(`ALTER TABLE ${t}_away RENAME TO ${t}`)));
});

describe("when D1 fails", () => {
	it.each(["protobuf", "json"] as const)("answers POST /v1/metrics (%s) 503 + Retry-After with a bare Status", async (wire) => {
		const res = await send(typicalRequest(uuid()), wire);
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
		expect(res.headers.get("Content-Type")).toBe(wire === "json" ? "application/json" : "application/x-protobuf");
		expect(await statusOf(res)).toEqual({ code: 14, message: "storage unavailable" });
	});

	it("answers GET /v1/stats 503 + Retry-After", async () => {
		const res = await exports.default.fetch("https://ingest.test/v1/stats");
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
		expect(await res.json()).toEqual({ code: 14, message: "storage unavailable" });
	});

	it("answers DELETE /v1/installations/{id} 503 + Retry-After", async () => {
		const res = await exports.default.fetch(`https://ingest.test/v1/installations/${uuid()}`, { method: "DELETE" });
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
	});

	it("still answers an undecodable body 400: decoding needs no storage", async () => {
		const res = await exports.default.fetch("https://ingest.test/v1/metrics", { method: "POST", headers: { "Content-Type": "application/x-protobuf" }, body: new Uint8Array([0xff]) });
		expect(res.status).toBe(400);
	});
});
