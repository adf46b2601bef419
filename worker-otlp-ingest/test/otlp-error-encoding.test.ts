/**
 * OTLP/HTTP: an error body is a google.rpc.Status in the request's encoding. The
 * Collector's otlphttp exporter reads a 4xx/5xx body as protobuf when it sent protobuf;
 * a JSON body there leaves the Collector's log without the reason (tests/
 * test_collector_worker_answers.py shows it). These are the answers outside the ingest
 * handler: a mistyped path (a Worker URL configured with /v1/metrics twice) and a failure
 * nobody handled.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { StatusSchema } from "../src/gen/google/rpc/status_pb";
import { toProtobuf, typicalRequest } from "./support/otlp";
import { statusOf } from "./support/worker";

const PROTOBUF = "application/x-protobuf";

function protobufPost(path: string): Request {
	return new Request(`https://ingest.test${path}`, {
		method: "POST",
		headers: { "Content-Type": PROTOBUF },
		body: toProtobuf(typicalRequest(crypto.randomUUID(), Date.now())),
	});
}

describe("error bodies follow the request's OTLP encoding", () => {
	it("answers a protobuf POST to an unknown path 404 with a protobuf Status", async () => {
		const res = await exports.default.fetch(protobufPost("/v1/metrics/v1/metrics"));
		expect(res.status).toBe(404);
		expect(res.headers.get("Content-Type")).toBe(PROTOBUF);
		const status = fromBinary(StatusSchema, new Uint8Array(await res.arrayBuffer()));
		expect({ code: status.code, message: status.message }).toEqual({ code: 5, message: "not found" });
	});

	it("still answers a request without an OTLP Content-Type in JSON", async () => {
		const res = await exports.default.fetch("https://ingest.test/v1/traces", { method: "POST" });
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(await statusOf(res)).toEqual({ code: 5, message: "not found" });
	});

	it("answers an unhandled failure of a protobuf request 503 with a protobuf Status and Retry-After", async () => {
		const broken = {
			...env,
			get IP_HASH_KEY(): string {
				throw new Error("binding unavailable");
			},
		} as Env;
		const res = await worker.fetch(protobufPost("/v1/metrics") as Parameters<typeof worker.fetch>[0], broken);
		expect(res.status).toBe(503);
		expect(res.headers.get("Retry-After")).toBe("60");
		expect(res.headers.get("Content-Type")).toBe(PROTOBUF);
		expect(await statusOf(res)).toEqual({ code: 14, message: "temporarily unavailable" });
	});
});
