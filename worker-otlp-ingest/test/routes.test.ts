import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { buildRequest, hourMs, typicalRequest } from "./support/otlp";
import { installationOf, refresh, reportsOf, send, snapshot, statusOf, uuid } from "./support/worker";
import { env } from "cloudflare:workers";

const BASE = "https://ingest.test";

function call(path: string, method = "GET"): Promise<Response> {
	return exports.default.fetch(`${BASE}${path}`, { method });
}

describe("routing", () => {
	it("answers GET /healthz with 200 ok", async () => {
		const res = await call("/healthz");
		expect(res.status).toBe(200);
		expect(await res.text()).toBe("ok\n");
	});

	it.each([
		["/v1/metrics", "POST"],
		["/v1/metrics", "GET"],
		["/healthz", "GET"],
		["/v1/traces", "POST"],
	])("states its time in a Date header on %s %s, for clients to compare their clocks", async (path, method) => {
		const before = Math.floor(Date.now() / 1000) * 1000;
		const res = await call(path, method);
		const stated = Date.parse(res.headers.get("Date") ?? "");
		expect(res.headers.get("Date")).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
		expect(stated).toBeGreaterThanOrEqual(before);
		expect(stated).toBeLessThanOrEqual(Date.now());
	});

	it("answers unknown paths 404 with a JSON google.rpc.Status", async () => {
		const res = await call("/v1/traces", "POST");
		expect(res.status).toBe(404);
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(await res.json()).toEqual({ code: 5, message: "not found" });
	});

	it.each([
		["/v1/metrics", "GET", "POST"],
		["/v1/metrics", "PUT", "POST"],
		[`/v1/installations/${crypto.randomUUID()}`, "GET", "DELETE"],
		["/v1/stats", "POST", "GET"],
		["/healthz", "DELETE", "GET"],
	])("answers %s %s with 405 and Allow: %s", async (path, method, allow) => {
		const res = await call(path, method);
		expect(res.status).toBe(405);
		expect(res.headers.get("Allow")).toBe(allow);
		expect(await statusOf(res)).toEqual({ code: 12, message: `method not allowed; use ${allow}` });
	});
});

describe("DELETE /v1/installations/{id}", () => {
	it("deletes every row of the installation (reports, installation, rate-limit bucket) and nothing else", async () => {
		const [gone, kept] = [uuid(), uuid()];
		const now = Date.now();
		await send(buildRequest({ id: gone, startMs: hourMs(now, 48), endMs: hourMs(now, 24) }));
		await send(buildRequest({ id: gone, startMs: hourMs(now, 24), endMs: hourMs(now, 0) }));
		await send(typicalRequest(kept));
		const keptBefore = { reports: await reportsOf(kept), installation: await installationOf(kept) };

		const res = await call(`/v1/installations/${gone}`, "DELETE");
		expect(res.status).toBe(204);
		expect(await res.text()).toBe("");
		expect(await reportsOf(gone)).toEqual([]);
		expect(await installationOf(gone)).toBeNull();
		const { results } = await env.DB.prepare("SELECT * FROM rate_limits WHERE bucket = ?1").bind(`id:${gone}`).all();
		expect(results).toEqual([]);
		expect({ reports: await reportsOf(kept), installation: await installationOf(kept) }).toEqual(keptBefore);
	});

	it("changes no published number: what was counted stays, what was queued never will be, and no row names the ID", async () => {
		const [gone, kept] = [uuid(), uuid()];
		const now = Date.now();
		const totals = async () => {
			const body = (await (await call("/v1/stats?days=7")).json()) as { installations: number; reports: number };
			return { installations: body.installations, reports: body.reports };
		};
		await refresh(now); // whatever earlier tests of this file stored
		const before = await totals();
		await send(buildRequest({ id: gone, startMs: hourMs(now, 48), endMs: hourMs(now, 24) }));
		await send(typicalRequest(kept));
		await refresh(now);
		// A second report stays queued: it was never published, and never will be.
		await send(buildRequest({ id: gone, startMs: hourMs(now, 24), endMs: hourMs(now, 0) }));
		const counted = { installations: before.installations + 2, reports: before.reports + 2 };
		expect(await totals()).toEqual(counted);

		expect((await call(`/v1/installations/${gone}`, "DELETE")).status).toBe(204);
		expect(await totals()).toEqual(counted);
		for (const table of ["reports", "installations", "rollup_pending", "rollup_installations"]) {
			const { results } = await env.DB.prepare(`SELECT * FROM ${table} WHERE telemetry_id = ?1`).bind(gone).all();
			expect(results).toEqual([]);
		}
		await refresh(now);
		expect(await totals()).toEqual(counted);
	});

	it("is idempotent: deleting an unknown or already deleted ID answers 204 and changes no row but its tombstone and the address's count", async () => {
		const id = uuid();
		await send(typicalRequest(id));
		expect((await call(`/v1/installations/${id}`, "DELETE")).status).toBe(204);
		const rows = async () => {
			const { rate_limits, ...rest } = await snapshot();
			return { ...rest, rate_limits: rate_limits.filter((r) => !String(r.bucket).startsWith("erase:")) };
		};
		const before = await rows();
		const tombstones = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM erasures").first<{ n: number }>())?.n ?? 0;
		const count = await tombstones();
		expect((await call(`/v1/installations/${id}`, "DELETE")).status).toBe(204);
		expect(await tombstones()).toBe(count);
		expect((await call(`/v1/installations/${uuid()}`, "DELETE")).status).toBe(204);
		expect(await tombstones()).toBe(count + 1);
		expect(await rows()).toEqual(before);
	});

	it("refuses the deleted installation's reports from then on (test/routes/erasure.test.ts has the rest)", async () => {
		const id = uuid();
		await send(typicalRequest(id));
		await call(`/v1/installations/${id}`, "DELETE");
		expect((await send(typicalRequest(id))).status).toBe(200);
		expect(await reportsOf(id)).toEqual([]);
	});

	it.each(["not-a-uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "%27%3B%20DROP%20TABLE%20reports%3B--", "%E0%A4%A"])(
		"answers 400 for %s, which is no telemetry ID",
		async (id) => {
			const before = await snapshot();
			const res = await call(`/v1/installations/${id}`, "DELETE");
			expect(res.status).toBe(400);
			expect(await res.json()).toEqual({ code: 3, message: "not a telemetry ID (UUIDv4, lower case)" });
			expect(await snapshot()).toEqual(before);
		},
	);
});
