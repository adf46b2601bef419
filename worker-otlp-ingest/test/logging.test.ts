/**
 * What the Worker logs — the lines `wrangler tail` and Workers Logs would show beside
 * the platform's own request records — over every route and both crons, good requests
 * and bad: only the fixed kinds listed in docs/operations.md, carrying counts, never
 * an installation ID, a client IP, its rate-limit bucket or any stored value.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { RETENTION_CRON, ROLLUP_CRON } from "../src/jobs/cron";
import { ipBucket } from "../src/ingest/ratelimit";
import { buildRequest, hourMs, toProtobuf, typicalRequest } from "./support/otlp";

const ID = "7d2e3f4a-6b7c-4d8e-9f0a-1b2c3d4e5f6a";
const IP = "203.0.113.77";
const IPV6 = "2001:db8::77";
type Fetch = Parameters<typeof worker.fetch>[0];

const logged: unknown[][] = [];
const LEVELS = ["log", "info", "warn", "error", "debug", "trace"] as const;

beforeEach(() => {
	logged.length = 0;
	for (const level of LEVELS) vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push([level, ...args]));
});
afterEach(() => vi.restoreAllMocks());

async function call(path: string, init: RequestInit = {}, extra: Partial<Env> = {}): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("CF-Connecting-IP", headers.get("CF-Connecting-IP") ?? IP);
	return worker.fetch(new Request(`https://ingest.test${path}`, { ...init, headers }) as Fetch, { ...env, ...extra });
}

const post = (body: BodyInit, extra: Partial<Env> = {}, ip = IP) =>
	call("/v1/metrics", { method: "POST", body, headers: { "Content-Type": "application/x-protobuf", "CF-Connecting-IP": ip } }, extra);

describe("the Worker's log lines", () => {
	it("carry no ID, IP or bucket over every route, error and cron, and are only the documented kinds", async () => {
		const now = Date.now();
		const report = toProtobuf(typicalRequest(ID, now));
		await post(report);
		await post(report); // duplicate
		await post(toProtobuf(buildRequest({ id: ID, startMs: hourMs(now, 30), endMs: hourMs(now, 2) }))); // overlap
		await post(report, {}, IPV6);
		await post(new Uint8Array([1, 2, 3])); // malformed
		await post(report, { IP_HASH_KEY: "" }); // not configured: refuses, logs why
		await call("/v1/metrics", { method: "POST", body: "x", headers: { "Content-Type": "text/plain" } });
		for (let i = 0; i < 11; i++) await post(toProtobuf(buildRequest({ id: ID, startMs: hourMs(now, 200 + 2 * i), endMs: hourMs(now, 199 + 2 * i) })));
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: ROLLUP_CRON }), env);
		for (const path of ["/v1/stats", "/v1/stats?series=day", "/v1/stats?series=week&days=90", "/", "/?days=7", "/v1/health", "/healthz", "/nope", `/v1/installations/${ID}x`]) await call(path);
		// A report waiting for the history backfill (as after migration 0005), so the cron logs that too.
		await post(toProtobuf(typicalRequest("8e3f4a5b-7c8d-4e9f-a0b1-2c3d4e5f6a7b", now)));
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: ROLLUP_CRON }), env);
		await env.DB.prepare("INSERT INTO series_backfill (telemetry_id, period_start) SELECT telemetry_id, period_start FROM reports WHERE telemetry_id != ?1").bind(ID).run();
		await call(`/v1/installations/${ID}`, { method: "DELETE" });
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: RETENTION_CRON }), env);
		// D1 gone: every route answers 503 and the router logs the error's class only.
		const broken = { DB: { prepare: () => { throw new Error(`boom ${ID} ${IP}`); }, batch: () => Promise.reject(new Error(`boom ${ID}`)) } as unknown as D1Database };
		for (const path of ["/v1/stats", "/", "/v1/health"]) await call(path, {}, broken);
		await post(report, broken);
		await call(`/v1/installations/${ID}`, { method: "DELETE" }, broken);
		// Every cron step fails on it: each is logged by step name and a description without values.
		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: RETENTION_CRON }), { ...env, ...broken });

		const text = JSON.stringify(logged);
		const bucket = (await ipBucket(env.IP_HASH_KEY, IP, now)).bucket;
		for (const secret of [ID, "8e3f4a5b", IP, IPV6, bucket, bucket.slice(3), env.IP_HASH_KEY, "kokoro", "8.12.0", "claude-code"]) expect(text).not.toContain(secret);
		expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-|\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b|[0-9a-f]{64}/i);
		// The documented kinds, each with numbers only.
		const kinds = new Set(logged.map(([level, first]) => `${String(level)} ${String(first)}`));
		expect([...kinds].sort()).toEqual(["error IP_HASH_KEY is not set: refusing to store reports", "error cron step failed", "error unhandled", "log history", "log retention", "log rollup"]);
		for (const [, first, json] of logged) {
			if (first === "cron step failed") expect(String(json)).toMatch(/^\{"step":"[a-z ]+","error":"[^"0-9]*"(,"setAside":\d+)?\}$/);
			if (first === "rollup" || first === "retention" || first === "history") expect(JSON.stringify(JSON.parse(String(json)))).toMatch(/^[{}\[\]":,a-zA-Z0-9_.-]*$/);
		}
	});

	it("logs an unexpected error by its class only", async () => {
		const failing = { DB: { prepare: () => { throw new TypeError(`bad ${ID}`); }, batch: () => { throw new TypeError(`bad ${ID}`); } } as unknown as D1Database };
		const res = await call("/v1/stats?series=day", {}, failing);
		expect(res.status).toBe(503);
		expect(JSON.stringify(logged)).not.toContain(ID);
	});
});
