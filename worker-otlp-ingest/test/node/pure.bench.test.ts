/**
 * CPU cost of the pure part of ingestion (decode + validate + translate to rows) for a
 * typical report, measured in Node: workerd freezes its clocks during execution, so
 * this cannot be timed inside the Worker. Printed for docs/worker-api.md; the assertion only
 * guards against an order-of-magnitude regression.
 */
import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeRequest } from "../../src/ingest/otlp";
import { toRows } from "../../src/db/rows";
import { validateRequest } from "../../src/ingest/validate";
import { toOtlpJson, toProtobuf, typicalRequest } from "../support/otlp";

function perReport(body: Uint8Array, encoding: "protobuf" | "json", gzipped: boolean): number {
	const now = Date.now();
	const once = () => {
		const bytes = gzipped ? new Uint8Array(gunzipSync(body)) : body;
		const decoded = decodeRequest(bytes, encoding);
		if (!decoded.ok) throw new Error(decoded.reason);
		const [checked] = validateRequest(decoded.request, now);
		if (!checked?.ok) throw new Error("typical report must be valid");
		return toRows(checked.report, now);
	};
	for (let i = 0; i < 500; i++) once();
	const runs = 5000;
	const start = performance.now();
	for (let i = 0; i < runs; i++) once();
	return ((performance.now() - start) / runs) * 1000;
}

describe("pure ingestion cost per typical report", () => {
	it("decodes, validates and translates a typical report in well under a millisecond", () => {
		const request = typicalRequest(randomUUID());
		const pb = toProtobuf(request);
		const json = new TextEncoder().encode(toOtlpJson(request));
		const results = {
			protobuf: perReport(pb, "protobuf", false),
			"gzip protobuf": perReport(new Uint8Array(gzipSync(pb)), "protobuf", true),
			"OTLP/JSON": perReport(json, "json", false),
		};
		for (const [wire, us] of Object.entries(results)) {
			console.log(`decode+validate+rows, ${wire} (${wire === "OTLP/JSON" ? json.length : pb.length} B): ${us.toFixed(1)} µs`);
		}
		expect(Math.max(...Object.values(results))).toBeLessThan(1000);
	});
});
