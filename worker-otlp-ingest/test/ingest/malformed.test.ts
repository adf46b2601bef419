/**
 * Hostile and broken input: never a 5xx, never a stack trace, never a stored row.
 * Undecodable bodies are 400 with a google.rpc.Status in the request's encoding;
 * oversized ones 413; unknown types or encodings 415. Input that decodes but breaks
 * the contract (huge values, SQL-looking strings) is refused through partial_success.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import contract from "../../../voicemode_otel/contract.json";
import { LIMITS } from "../../src/ingest/body";
import { TYPICAL_POINTS, buildRequest, gzip, hourMs, resourceAttrs, toOtlpJson, toProtobuf, typicalRequest } from "../support/otlp";
import { exportResult, post, snapshot, statusOf, uuid, type Snapshot } from "../support/worker";

const PROTOBUF = { contentType: "application/x-protobuf" };
const JSON_TYPE = { contentType: "application/json" };

async function expectStatus(res: Response, status: number, message: string, contentType = "application/json"): Promise<void> {
	expect(res.status).toBe(status);
	expect(res.headers.get("Content-Type")).toBe(contentType);
	expect((await statusOf(res)).message).toBe(message);
}

describe("undecodable bodies are 400 with google.rpc.Status", () => {
	it.each([
		["malformed protobuf", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), PROTOBUF, "body is not an ExportMetricsServiceRequest in protobuf"],
		["a protobuf field with the wrong wire type", new Uint8Array([0x0d, 0x01, 0x02, 0x03, 0x04]), PROTOBUF, "body is not an ExportMetricsServiceRequest in protobuf"],
		["truncated protobuf", toProtobuf(typicalRequest(uuid())).slice(0, 100), PROTOBUF, "body is not an ExportMetricsServiceRequest in protobuf"],
		["invalid JSON", new TextEncoder().encode('{"resourceMetrics": ['), JSON_TYPE, "body is not an ExportMetricsServiceRequest in OTLP/JSON"],
		["JSON of the wrong shape", new TextEncoder().encode('{"resourceMetrics": 5}'), JSON_TYPE, "body is not an ExportMetricsServiceRequest in OTLP/JSON"],
		["JSON that is not UTF-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), JSON_TYPE, "body is not an ExportMetricsServiceRequest in OTLP/JSON"],
		["an empty protobuf body", new Uint8Array(), PROTOBUF, "empty body"],
		["an empty JSON body", new Uint8Array(), JSON_TYPE, "empty body"],
	])("%s", async (_what, body, headers, message) => {
		const before = await snapshot();
		await expectStatus(await post(body, headers), 400, message, headers.contentType);
		expect(await snapshot()).toEqual(before);
	});

	it("answers 400 in protobuf with code INVALID_ARGUMENT (3)", async () => {
		const res = await post(new Uint8Array([0xff]), PROTOBUF);
		expect(await statusOf(res)).toEqual({ code: 3, message: "body is not an ExportMetricsServiceRequest in protobuf" });
	});

	it("answers 400 for truncated gzip", async () => {
		const before = await snapshot();
		const zipped = await gzip(toProtobuf(typicalRequest(uuid())));
		await expectStatus(await post(zipped.slice(0, zipped.length - 12), { ...PROTOBUF, contentEncoding: "gzip" }), 400, "body is not valid gzip", "application/x-protobuf");
		expect(await snapshot()).toEqual(before);
	});

	it("answers 400 for a body labelled gzip that is not", async () => {
		await expectStatus(await post(toProtobuf(typicalRequest(uuid())), { ...PROTOBUF, contentEncoding: "gzip" }), 400, "body is not valid gzip", "application/x-protobuf");
	});
});

describe("size caps (413)", () => {
	it("refuses a gzip bomb once its output passes 1 MiB, without inflating it all", async () => {
		const before = await snapshot();
		const bomb = await gzip(new Uint8Array(16 * 1024 * 1024)); // 16 MiB of zeros in ~16 KB
		expect(bomb.byteLength).toBeLessThan(LIMITS.wireBytes);
		await expectStatus(await post(bomb, { ...PROTOBUF, contentEncoding: "gzip" }), 413, "decompressed body larger than 1048576 bytes", "application/x-protobuf");
		expect(await snapshot()).toEqual(before);
	});

	it("refuses a body over 64 KiB on the wire by its Content-Length", async () => {
		const res = await post(new Uint8Array(LIMITS.wireBytes + 1), PROTOBUF);
		await expectStatus(res, 413, "body larger than 65536 bytes", "application/x-protobuf");
	});

	it("refuses a streamed body (no Content-Length) once it passes 64 KiB", async () => {
		const chunk = new Uint8Array(16 * 1024);
		let sent = 0;
		const stream = new ReadableStream<Uint8Array>({
			pull(controller) {
				if (sent >= 10) return controller.close();
				sent += 1;
				controller.enqueue(chunk);
			},
		});
		const res = await post(stream, JSON_TYPE);
		await expectStatus(res, 413, "body larger than 65536 bytes");
		expect(sent).toBeLessThan(10);
	});

	it("refuses more than 100 reports (resources) in one request, storing none", async () => {
		const before = await snapshot();
		const now = Date.now();
		const reports = Array.from({ length: 101 }, () => ({ id: uuid(), startMs: hourMs(now, 2), endMs: hourMs(now, 1) }));
		const body = await gzip(toProtobuf(buildRequest(...reports)));
		expect(body.byteLength).toBeLessThan(LIMITS.wireBytes);
		const res = await post(body, { ...PROTOBUF, contentEncoding: "gzip" });
		await expectStatus(res, 413, "at most 100 reports (resources) per request", "application/x-protobuf");
		expect(await snapshot()).toEqual(before);
	});

	it("refuses a huge attribute value (over the wire cap) with 413 and stores nothing", async () => {
		const before = await snapshot();
		const id = uuid();
		const now = Date.now();
		const request = buildRequest({ id, startMs: hourMs(now, 2), endMs: hourMs(now, 1), resource: { ...resourceAttrs(id), "os.type": "x".repeat(100_000) } });
		await expectStatus(await post(toProtobuf(request), PROTOBUF), 413, "body larger than 65536 bytes", "application/x-protobuf");
		expect(await snapshot()).toEqual(before);
	});
});

describe("unsupported media (415)", () => {
	it.each([
		["text/plain", { contentType: "text/plain" }, "Content-Type must be application/x-protobuf or application/json"],
		["no Content-Type", {}, "Content-Type must be application/x-protobuf or application/json"],
		["application/protobuf (not OTLP's name)", { contentType: "application/protobuf" }, "Content-Type must be application/x-protobuf or application/json"],
		["Content-Encoding br", { ...PROTOBUF, contentEncoding: "br" }, "Content-Encoding must be gzip or absent"],
	])("refuses %s", async (_what, headers, message) => {
		const before = await snapshot();
		const res = await post(toProtobuf(typicalRequest(uuid())), headers);
		expect(res.status).toBe(415);
		expect((await statusOf(res)).message).toBe(message);
		expect(await snapshot()).toEqual(before);
	});

	it("accepts Content-Type parameters and any letter case (application/JSON; charset=utf-8)", async () => {
		const res = await post(toOtlpJson(typicalRequest(uuid())), { contentType: "application/JSON; charset=utf-8" });
		expect(res.status).toBe(200);
		expect(await exportResult(res)).toEqual({});
	});
});

describe("decodable but hostile values are refused by the contract", () => {
	it("refuses a 10 KB attribute value without echoing it", async () => {
		const before = await snapshot();
		const id = uuid();
		const now = Date.now();
		const request = buildRequest({ id, startMs: hourMs(now, 2), endMs: hourMs(now, 1), resource: { ...resourceAttrs(id), "voicemode.mcp.host": "y".repeat(10_000) } });
		const res = await post(toProtobuf(request), PROTOBUF);
		expect(await exportResult(res)).toEqual({ rejected: TYPICAL_POINTS, message: "7 data points rejected: resource: voicemode.mcp.host longer than 64 characters" });
		expect(await snapshot()).toEqual(before);
	});

	it.each([
		["the telemetry ID", (id: string) => ({ ...resourceAttrs(id), "voicemode.telemetry.id": "'; DROP TABLE reports; --" }), "resource: voicemode.telemetry.id value not allowed"],
		["a resource value", (id: string) => ({ ...resourceAttrs(id), "os.type": "linux'); DELETE FROM installations; --" }), "resource: os.type value not allowed"],
		["a resource key", (id: string) => ({ ...resourceAttrs(id), "x'); DROP TABLE rate_limits; --": "1" }), "resource: attribute (unprintable name) not allowed"],
	])("refuses SQL-looking strings in %s and leaves every table intact", async (_where, resource, reason) => {
		const before = await snapshot();
		const id = uuid();
		const now = Date.now();
		const res = await post(toProtobuf(buildRequest({ id, startMs: hourMs(now, 2), endMs: hourMs(now, 1), resource: resource(id) })), PROTOBUF);
		expect(await exportResult(res)).toEqual({ rejected: TYPICAL_POINTS, message: `7 data points rejected: ${reason}` });
		expect(await snapshot()).toEqual(before);
		const { results } = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('reports','installations','rate_limits') ORDER BY name").all();
		expect(results).toEqual([{ name: "installations" }, { name: "rate_limits" }, { name: "reports" }]);
	});

	it("never answers 5xx to deeply nested attribute values", async () => {
		let nested = '{"stringValue":"x"}';
		for (let i = 0; i < 1000; i++) nested = `{"kvlistValue":{"values":[{"key":"k","value":${nested}}]}}`;
		const body = `{"resourceMetrics":[{"resource":{"attributes":[{"key":"os.type","value":${nested}}]}}]}`;
		expect(body.length).toBeLessThan(LIMITS.wireBytes);
		const res = await post(body, JSON_TYPE);
		expect([200, 400]).toContain(res.status);
	});
});

/** Independent check that a stored row is inside the contract (read straight from contract.json). */
function assertRowsInContract(s: Snapshot): void {
	const metrics = contract.metrics as Record<string, { bins?: string[] }>;
	const values = (k: keyof typeof contract.point_attributes) => contract.point_attributes[k].values;
	for (const r of s.reports) {
		const [start, end] = [Number(r.period_start), Number(r.period_end)];
		expect(start % 3600).toBe(0);
		expect(end % 3600).toBe(0);
		expect(end - start).toBeGreaterThan(0);
		expect(end - start).toBeLessThanOrEqual(contract.period.server_max_seconds);
		// Cells are [metric, first attribute value, bin or second attribute value, sessions] indexes.
		for (const [m, a, b, sessions] of JSON.parse(String(r.cells)) as number[][]) {
			const name = Object.keys(metrics)[m ?? -1];
			const spec = metrics[name ?? ""];
			expect(spec).toBeDefined();
			const [first, second] = spec?.bins
				? [values("voicemode.transport"), spec.bins]
				: [values("voicemode.provider.role"), values("voicemode.provider.name")];
			expect(first[a ?? -1]).toBeDefined();
			expect(second[b ?? -1]).toBeDefined();
			expect(Number.isInteger(sessions) && Number(sessions) > 0).toBe(true);
		}
	}
	for (const i of s.installations) {
		expect(String(i.telemetry_id)).toMatch(new RegExp(contract.resource.attributes["voicemode.telemetry.id"].pattern));
		if (i.os_type !== null) expect(contract.resource.attributes["os.type"].values).toContain(i.os_type);
		if (i.mcp_host !== null) expect(contract.resource.attributes["voicemode.mcp.host"].values).toContain(i.mcp_host);
		if (i.install_method !== null) expect(contract.resource.attributes["voicemode.install.method"].values).toContain(i.install_method);
	}
}

describe("property-based fuzzing (fast-check)", () => {
	const statuses = [200, 400, 413];

	it("answers random bytes as protobuf, gzip or JSON with 200/400/413 and stores nothing", async () => {
		const before = await snapshot();
		await fc.assert(
			fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom("protobuf", "gzip", "json"), async (bytes, wire) => {
				const res = await post(bytes, wire === "json" ? JSON_TYPE : { ...PROTOBUF, ...(wire === "gzip" ? { contentEncoding: "gzip" } : {}) });
				expect(statuses).toContain(res.status);
				await res.arrayBuffer();
			}),
			{ numRuns: 300 },
		);
		expect(await snapshot()).toEqual(before);
	});

	it("answers mutated valid bodies (flips, cuts, inserts) without 5xx and stores only contract-clean rows", async () => {
		const now = Date.now();
		const id = uuid();
		const valid = toProtobuf(buildRequest({ id, startMs: hourMs(now, 26), endMs: hourMs(now, 25) }));
		const mutation = fc.oneof(
			fc.record({ kind: fc.constant("flip" as const), at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }),
			fc.record({ kind: fc.constant("cut" as const), at: fc.nat(valid.length - 1), value: fc.constant(0) }),
			fc.record({ kind: fc.constant("insert" as const), at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }),
		);
		await fc.assert(
			fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (mutations, zipped) => {
				let body = valid;
				for (const m of mutations) {
					const at = Math.min(m.at, body.length);
					if (m.kind === "flip") body = Uint8Array.from(body, (b, i) => (i === at ? m.value : b));
					else if (m.kind === "cut") body = body.slice(0, at);
					else body = Uint8Array.from([...body.slice(0, at), m.value, ...body.slice(at)]);
				}
				const res = await post(zipped ? await gzip(body) : body, { ...PROTOBUF, ...(zipped ? { contentEncoding: "gzip" } : {}) });
				expect(statuses).toContain(res.status);
				await res.arrayBuffer();
			}),
			{ numRuns: 300 },
		);
		assertRowsInContract(await snapshot());
	});

	it("answers mutated OTLP/JSON (random values at random keys) without 5xx and stores only contract-clean rows", async () => {
		const now = Date.now();
		const base = JSON.parse(toOtlpJson(buildRequest({ id: uuid(), startMs: hourMs(now, 28), endMs: hourMs(now, 27) }))) as unknown;
		const paths: (string | number)[][] = [];
		const walk = (v: unknown, path: (string | number)[]): void => {
			paths.push(path);
			if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
			else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
		};
		walk(base, []);
		await fc.assert(
			fc.asyncProperty(fc.nat(paths.length - 1), fc.jsonValue(), async (which, value) => {
				const doc = structuredClone(base) as Record<string | number, unknown>;
				const path = paths[which] ?? [];
				if (path.length === 0) return;
				let target = doc as Record<string | number, unknown>;
				for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
				target[path[path.length - 1] as string] = value;
				const res = await post(JSON.stringify(doc), JSON_TYPE);
				expect(statuses).toContain(res.status);
				await res.arrayBuffer();
			}),
			{ numRuns: 300 },
		);
		assertRowsInContract(await snapshot());
	});
});
