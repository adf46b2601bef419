/**
 * Calling the Worker through its real fetch handler inside workerd, decoding its
 * responses, and reading D1 directly to assert exact rows.
 */
import { fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";
import { ROLLUP_CRON } from "../../src/jobs/cron";
import {
	ExportMetricsServiceResponseSchema,
	type ExportMetricsServiceRequest,
} from "../../src/gen/opentelemetry/proto/collector/metrics/v1/metrics_service_pb";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb";
import { deleteInstallation } from "../../src/db/reports";
import { establishedFrom } from "../../src/db/established";
import { currentWindow, idBucket } from "../../src/ingest/ratelimit";
import { tombstone } from "../../src/ingest/tombstone";
import { gzip, toOtlpJson, toProtobuf } from "./otlp";

export type Wire = "protobuf" | "gzip" | "json" | "json-gzip";

export interface PostOptions {
	contentType?: string;
	contentEncoding?: string;
	/** CF-Connecting-IP; each test uses its own so IP limits never leak across tests. */
	ip?: string;
	headers?: Record<string, string>;
}

let ipCounter = 0;
/** A client IP no other test uses (documentation range 198.18.0.0/15 as a label only). */
export function freshIp(): string {
	ipCounter += 1;
	return `198.18.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`;
}

export async function post(body: BodyInit | Uint8Array, options: PostOptions = {}): Promise<Response> {
	const headers: Record<string, string> = { ...options.headers };
	if (options.contentType !== undefined) headers["Content-Type"] = options.contentType;
	if (options.contentEncoding !== undefined) headers["Content-Encoding"] = options.contentEncoding;
	headers["CF-Connecting-IP"] = options.ip ?? freshIp();
	return exports.default.fetch("https://ingest.test/v1/metrics", { method: "POST", headers, body });
}

/** Sends a request the way an exporter would, in one of the wire formats. */
export async function send(request: ExportMetricsServiceRequest, wire: Wire = "protobuf", ip?: string): Promise<Response> {
	const json = wire === "json" || wire === "json-gzip";
	const raw = json ? toOtlpJson(request) : toProtobuf(request);
	const zipped = wire === "gzip" || wire === "json-gzip";
	return post(zipped ? await gzip(raw) : raw, {
		contentType: json ? "application/json" : "application/x-protobuf",
		...(zipped ? { contentEncoding: "gzip" } : {}),
		...(ip ? { ip } : {}),
	});
}

/** The body of a 200 as plain data: {} on full success, else rejected count and message. */
export async function exportResult(res: Response): Promise<{ rejected?: number; message?: string }> {
	const bytes = new Uint8Array(await res.arrayBuffer());
	const isJson = res.headers.get("Content-Type") === "application/json";
	const msg = isJson
		? fromJson(ExportMetricsServiceResponseSchema, JSON.parse(new TextDecoder().decode(bytes)) as JsonValue)
		: fromBinary(ExportMetricsServiceResponseSchema, bytes);
	if (!msg.partialSuccess) return {};
	return { rejected: Number(msg.partialSuccess.rejectedDataPoints), message: msg.partialSuccess.errorMessage };
}

/** The google.rpc.Status of an error response. */
export async function statusOf(res: Response): Promise<{ code: number; message: string }> {
	const bytes = new Uint8Array(await res.arrayBuffer());
	const isJson = res.headers.get("Content-Type") === "application/json";
	const status = isJson
		? fromJson(StatusSchema, JSON.parse(new TextDecoder().decode(bytes)) as JsonValue)
		: fromBinary(StatusSchema, bytes);
	return { code: status.code, message: status.message };
}

export interface Snapshot {
	installations: Record<string, unknown>[];
	reports: Record<string, unknown>[];
	rate_limits: Record<string, unknown>[];
	rollup_pending: Record<string, unknown>[];
	rollup_hours: Record<string, unknown>[];
	rollup_installations: Record<string, unknown>[];
	rollup_state: Record<string, unknown>[];
}

/** Every row of every table, to prove a request changed nothing. */
export async function snapshot(): Promise<Snapshot> {
	const all = async (sql: string): Promise<Record<string, unknown>[]> =>
		(await env.DB.prepare(sql).all<Record<string, unknown>>()).results;
	return {
		installations: await all("SELECT * FROM installations ORDER BY telemetry_id"),
		reports: await all("SELECT * FROM reports ORDER BY telemetry_id, period_start"),
		rate_limits: await all("SELECT * FROM rate_limits ORDER BY bucket, window_start"),
		rollup_pending: await all("SELECT * FROM rollup_pending ORDER BY telemetry_id, period_start"),
		rollup_hours: await all("SELECT * FROM rollup_hours ORDER BY hour, kind, name, a, b"),
		rollup_installations: await all("SELECT * FROM rollup_installations ORDER BY telemetry_id"),
		rollup_state: await all("SELECT * FROM rollup_state"),
	};
}

export async function reportsOf(id: string): Promise<Record<string, unknown>[]> {
	return (await env.DB.prepare("SELECT * FROM reports WHERE telemetry_id = ?1 ORDER BY period_start").bind(id).all<Record<string, unknown>>()).results;
}

export async function installationOf(id: string): Promise<Record<string, unknown> | null> {
	return env.DB.prepare("SELECT * FROM installations WHERE telemetry_id = ?1").bind(id).first<Record<string, unknown>>();
}

/** The installation's cells by name, read through the `report_cells` view (absent columns left out). */
export async function cellsOf(id: string): Promise<Record<string, string | number>[]> {
	const { results } = await env.DB.prepare(
		"SELECT metric, transport, bin, role, provider, sessions FROM report_cells WHERE telemetry_id = ?1 ORDER BY period_start",
	)
		.bind(id)
		.all<Record<string, string | number | null>>();
	return results.map((row) => Object.fromEntries(Object.entries(row).filter(([, v]) => v !== null)) as Record<string, string | number>);
}

/**
 * Runs the hourly cron as Cloudflare would (the Worker's own scheduled handler), so
 * the rollups — what /v1/stats and the dashboard read — take in what was stored.
 */
export async function refresh(nowMs: number = Date.now()): Promise<void> {
	await worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron: ROLLUP_CRON }), env);
}

export function uuid(): string {
	return crypto.randomUUID();
}

/**
 * For storeReport calls of tests about something else (a migration, the history on a
 * second database): a key no tombstone can have (a real one is 64 hex digits).
 */
export const NO_TOMBSTONE = "";

/** An erasure as DELETE /v1/installations/{id} makes it at `nowMs` (tombstone included), with no address limit in the way. */
export async function forget(id: string, nowMs: number = Date.now(), db: D1Database = env.DB): Promise<void> {
	const limit = { bucket: { bucket: "erase:test", maxHits: 1_000_000_000 }, windowStart: currentWindow(nowMs).start };
	await deleteInstallation(db, id, idBucket(id).bucket, await tombstone(env.IP_HASH_KEY, id, nowMs), limit);
}

/** The establishment rule of the tests' bindings (vitest.config.ts: "1/0", every installation counts at once). */
export const RULE = establishedFrom(env.STATS_ESTABLISHED);
