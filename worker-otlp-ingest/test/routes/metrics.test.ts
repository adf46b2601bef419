import { create } from "@bufbuild/protobuf";
import { env } from "cloudflare:workers";
import { KeyValueSchema } from "../../src/gen/opentelemetry/proto/common/v1/common_pb";
import { describe, expect, it } from "vitest";
import { storeReport } from "../../src/db/reports";
import { currentWindow, idBucket, ipBucket } from "../../src/ingest/ratelimit";
import { toRows } from "../../src/db/rows";
import { tombstoneKey } from "../../src/ingest/tombstone";
import { validateRequest } from "../../src/ingest/validate";
import { utcDay } from "../../src/ingest/period";
import {
	DAY_MS,
	HOUR_MS,
	TYPICAL_CELLS,
	TYPICAL_POINTS,
	TYPICAL_STORED,
	buildRequest,
	hourMs,
	resourceAttrs,
	toProtobuf,
	typicalRequest,
} from "../support/otlp";
import { handleMetrics } from "../../src/routes/metrics";
import { cellsOf, exportResult, installationOf, reportsOf, send, snapshot, uuid, type Wire } from "../support/worker";

describe("POST /v1/metrics stores a valid report", () => {
	it.each<Wire>(["protobuf", "gzip", "json", "json-gzip"])(
		"stores exactly the report's rows from a %s body and answers an empty ExportMetricsServiceResponse",
		async (wire) => {
			const id = uuid();
			const now = Date.now();
			const res = await send(typicalRequest(id, now), wire);
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Type")).toBe(wire.startsWith("json") ? "application/json" : "application/x-protobuf");
			expect(await exportResult(res)).toEqual({});
			expect(await reportsOf(id)).toEqual([
				{
					telemetry_id: id,
					period_start: hourMs(now, 24) / 1000,
					period_end: hourMs(now, 0) / 1000,
					received_day: utcDay(now),
					cells: TYPICAL_STORED,
				},
			]);
			const byName = (cells: readonly object[]) => cells.map((c) => JSON.stringify(c)).sort();
			expect(byName(await cellsOf(id))).toEqual(byName(TYPICAL_CELLS));
			expect(await env.DB.prepare("SELECT * FROM rollup_pending WHERE telemetry_id = ?1").bind(id).all().then((r) => r.results)).toEqual([
				{ telemetry_id: id, period_start: hourMs(now, 24) / 1000, failures: 0 },
			]);
			expect(await installationOf(id)).toEqual({
				telemetry_id: id,
				first_seen_day: utcDay(now),
				last_seen_day: utcDay(now),
				service_version: "8.12.0",
				os_type: "linux",
				install_method: "uv-tool",
				mcp_host: "claude-code",
				exec_source: "mcp",
				// The ID's hourly rate limit (migration 0004): this hour's window, one report of 10.
				limit_window: expect.any(Number),
				limit_hits: 1,
				limit_max: 10,
				// UTC days with a received report (migration 0008): when it counts as established.
				days_seen: 1,
			});
		},
	);

	it("answers a full success in JSON as the empty object {}", async () => {
		const res = await send(typicalRequest(uuid()), "json");
		expect(await res.text()).toBe("{}");
	});

	it("answers a full success in protobuf as an empty message (zero bytes)", async () => {
		const res = await send(typicalRequest(uuid()), "protobuf");
		expect((await res.arrayBuffer()).byteLength).toBe(0);
	});

	it("stores missing optional resource facts as NULL (unknown)", async () => {
		const id = uuid();
		const now = Date.now();
		const resource = { "service.name": "voicemode", "voicemode.telemetry.id": id };
		const res = await send(buildRequest({ id, startMs: hourMs(now, 3), endMs: hourMs(now, 1), resource }));
		expect(await exportResult(res)).toEqual({});
		expect(await installationOf(id)).toMatchObject({ service_version: null, os_type: null, install_method: null, mcp_host: null, exec_source: null });
	});

	it("accepts and ignores telemetry.sdk.* resource attributes, of any value type", async () => {
		const id = uuid();
		const now = Date.now();
		const resource = { ...resourceAttrs(id), "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.45.2" };
		const request = buildRequest({ id, startMs: hourMs(now, 3), endMs: hourMs(now, 1), resource });
		// Whatever their type: they are not stored, so not checked.
		request.resourceMetrics[0]?.resource?.attributes.push(create(KeyValueSchema, { key: "telemetry.sdk.build", value: { value: { case: "intValue", value: 7n } } }));
		const res = await send(request);
		expect(await exportResult(res)).toEqual({});
		expect(await reportsOf(id)).toHaveLength(1);
	});

	it("writes only non-empty bins: a report of one session stores three cells", async () => {
		const id = uuid();
		const now = Date.now();
		const res = await send(
			buildRequest({
				id,
				startMs: hourMs(now, 2),
				endMs: hourMs(now, 1),
				duration: [{ transport: "local", counts: [0, 0, 0, 0, 1, 0] }],
				exchanges: [{ transport: "local", counts: [0, 0, 0, 1, 0] }],
				providers: [{ role: "tts", name: "kokoro", value: 1 }],
			}),
		);
		expect(await exportResult(res)).toEqual({});
		expect(await cellsOf(id)).toEqual([
			{ metric: "voicemode.session.duration", transport: "local", bin: "20-60min", sessions: 1 },
			{ metric: "voicemode.session.exchanges", transport: "local", bin: "11-20", sessions: 1 },
			{ metric: "voicemode.session.providers", role: "tts", provider: "kokoro", sessions: 1 },
		]);
	});

	it("stores each resource of a Collector-batched request as its own report", async () => {
		const [a, b] = [uuid(), uuid()];
		const now = Date.now();
		const res = await send(
			buildRequest({ id: a, startMs: hourMs(now, 5), endMs: hourMs(now, 1) }, { id: b, startMs: hourMs(now, 30), endMs: hourMs(now, 6) }),
		);
		expect(await exportResult(res)).toEqual({});
		expect((await reportsOf(a)).map((r) => r.period_start)).toEqual([hourMs(now, 5) / 1000]);
		expect((await reportsOf(b)).map((r) => r.period_start)).toEqual([hourMs(now, 30) / 1000]);
	});

	it("stores the valid report and rejects the invalid one of a mixed batch, counting only its points", async () => {
		const [good, bad] = [uuid(), uuid()];
		const now = Date.now();
		const request = buildRequest({ id: good, startMs: hourMs(now, 5), endMs: hourMs(now, 1) }, { id: bad, startMs: hourMs(now, 5), endMs: hourMs(now, 1) });
		const badPoint = request.resourceMetrics[1]?.scopeMetrics[0]?.metrics[0];
		if (badPoint?.data.case !== "histogram") throw new Error("fixture");
		badPoint.data.value.dataPoints[0]!.sum = 42;
		const res = await send(request);
		expect(await exportResult(res)).toEqual({
			rejected: TYPICAL_POINTS,
			message: "7 data points rejected: voicemode.session.duration: sum not allowed",
		});
		expect(await reportsOf(good)).toHaveLength(1);
		expect(await reportsOf(bad)).toEqual([]);
		expect(await installationOf(bad)).toBeNull();
	});

	it("answers 200 with nothing stored for a request without data points", async () => {
		const before = await snapshot();
		const res = await send(buildRequest({ id: uuid(), startMs: 0, endMs: 0, duration: [], exchanges: [], providers: [] }));
		expect(res.status).toBe(200);
		expect(await exportResult(res)).toEqual({});
		expect(await snapshot()).toEqual(before);
	});
});

describe("D1 cost of an accepted report", () => {
	// 6 since the rollups (migration 0002): the report's rollup_pending row (its trigger) is the one
	// added, so the hourly cron finds new reports without scanning (docs/capacity.md).
	it("writes exactly 5 rows as D1 counts them (report + its index entry, its rollup queue entry, installation with its ID limit, IP bucket)", async () => {
		const now = Date.now();
		const window = currentWindow(now);
		const ip = await ipBucket("k", "203.0.113.9", now);
		const costs: number[] = [];
		// The first report of an installation inserts everything; the next ones update
		// the installation and the IP bucket instead. Both cost the same.
		const id = uuid();
		for (let i = 0; i < 3; i++) {
			const [checked] = validateRequest(buildRequest({ id, startMs: hourMs(now, 3 * i + 3), endMs: hourMs(now, 3 * i) }), now);
			if (!checked?.ok) throw new Error("fixture must be valid");
			const outcome = await storeReport(env.DB, toRows(checked.report, now), [idBucket(id), ip], window.start, await tombstoneKey(env.IP_HASH_KEY, id));
			if (outcome.kind !== "stored") throw new Error(outcome.kind);
			costs.push(outcome.rowsWritten);
		}
		expect(costs).toEqual([5, 5, 5]);
	});
});

describe("the UTC days an installation reported on (migration 0008: establishment)", () => {
	it("counts each day on which the Worker received a report once, by the Worker's clock", async () => {
		const id = uuid();
		const day = Date.UTC(2026, 10, 20, 9);
		const at = async (receivedMs: number, hoursBack: number) => {
			const body = toProtobuf(buildRequest({ id, startMs: hourMs(receivedMs, hoursBack + 1), endMs: hourMs(receivedMs, hoursBack) }));
			const post = new Request("https://ingest.test/v1/metrics", { method: "POST", headers: { "Content-Type": "application/x-protobuf", "CF-Connecting-IP": "192.0.2.77" }, body });
			expect(await exportResult(await handleMetrics(post, env, receivedMs))).toEqual({});
			return (await installationOf(id))?.days_seen;
		};
		expect(await at(day, 4)).toBe(1);
		expect(await at(day + 2 * HOUR_MS, 1)).toBe(1);
		expect(await at(day + DAY_MS, 0)).toBe(2);
		expect(await at(day + 5 * DAY_MS, 0)).toBe(3);
		expect(await installationOf(id)).toMatchObject({ first_seen_day: "2026-11-20", last_seen_day: "2026-11-25", days_seen: 3 });
	});
});
