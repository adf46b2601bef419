/**
 * POST /v1/metrics: body → decode → contract check → one DB.batch per report, and the
 * OTLP/HTTP response for the outcome:
 *   - 200 ExportMetricsServiceResponse for every decodable request; points the
 *     contract refused, and reports of an erased ID, are counted in partial_success
 *     (never retried by exporters);
 *   - 400 google.rpc.Status only when the body is not an ExportMetricsServiceRequest;
 *   - 413 / 415 for oversized bodies and unsupported types or encodings;
 *   - 429 + Retry-After when a rate limit is full, 503 + Retry-After when D1 fails:
 *     exporters retry these, and stored reports then come back as duplicates.
 */
import { storeReport } from "../db/reports";
import { readBody } from "../ingest/body";
import { errorResponse, otlpResponse } from "./http";
import { decodeRequest, encodeResponse, encodingOf } from "../ingest/otlp";
import { currentWindow, idBucket, ipBucket, LIMITS as RATE_LIMITS } from "../ingest/ratelimit";
import { toRows } from "../db/rows";
import { tombstoneKey } from "../ingest/tombstone";
import { validateRequest, type ValidReport } from "../ingest/validate";

/** More reports than one IP may store in an hour can never all be accepted: refuse the request. */
export const MAX_REPORTS_PER_REQUEST = RATE_LIMITS.perIp;
/** Seconds a client should wait after a storage failure. */
export const UNAVAILABLE_RETRY_AFTER = 60;
/** How many distinct reasons partial_success.error_message names. */
const MAX_REASONS = 4;

export const OVERLAP_REASON = "period: overlaps a stored report with other bounds";
/**
 * The reason for a report of an erased ID (ingest/tombstone.ts): the same shape as every
 * refusal, and no more than the sender needs — this ID's reports are not taken.
 */
export const ERASED_REASON = "voicemode.telemetry.id: not accepted";

/** partial_success.error_message: the count and the first few distinct reasons. */
export function summarize(rejected: number, reasons: readonly string[]): string {
	if (rejected === 0) return "";
	const distinct = [...new Set(reasons)];
	const more = distinct.length > MAX_REASONS ? ` (+${distinct.length - MAX_REASONS} more)` : "";
	const noun = rejected === 1 ? "data point" : "data points";
	return `${rejected} ${noun} rejected: ${distinct.slice(0, MAX_REASONS).join("; ")}${more}`;
}

export async function handleMetrics(request: Request, env: Env, nowMs: number): Promise<Response> {
	const encoding = encodingOf(request.headers.get("Content-Type"));
	if (!encoding) return errorResponse(415, "Content-Type must be application/x-protobuf or application/json");
	const body = await readBody(request);
	if (!body.ok) return errorResponse(body.status, body.message, encoding);
	const decoded = decodeRequest(body.bytes, encoding);
	if (!decoded.ok) return errorResponse(400, decoded.reason, encoding);

	const checked = validateRequest(decoded.request, nowMs);
	if (checked.length > MAX_REPORTS_PER_REQUEST) {
		return errorResponse(413, `at most ${MAX_REPORTS_PER_REQUEST} reports (resources) per request`, encoding);
	}
	let rejected = 0;
	const reasons: string[] = [];
	const valid: ValidReport[] = [];
	for (const c of checked) {
		if (c.ok) {
			valid.push(c.report);
		} else {
			rejected += c.rejected.points;
			reasons.push(...c.rejected.reasons);
		}
	}

	const window = currentWindow(nowMs);
	let limited = false;
	if (valid.length > 0) {
		if (!env.IP_HASH_KEY) {
			console.error("IP_HASH_KEY is not set: refusing to store reports");
			return errorResponse(503, "storage unavailable", encoding, { "Retry-After": String(UNAVAILABLE_RETRY_AFTER) });
		}
		const ip = await ipBucket(env.IP_HASH_KEY, request.headers.get("CF-Connecting-IP") ?? "unknown", nowMs);
		for (const report of valid) {
			const erased = await tombstoneKey(env.IP_HASH_KEY, report.telemetryId);
			const outcome = await storeReport(env.DB, toRows(report, nowMs), [idBucket(report.telemetryId), ip], window.start, erased);
			if (outcome.kind === "unavailable") {
				return errorResponse(503, "storage unavailable", encoding, { "Retry-After": String(UNAVAILABLE_RETRY_AFTER) });
			}
			if (outcome.kind === "rate-limited") limited = true;
			if (outcome.kind === "overlap" || outcome.kind === "erased") {
				rejected += report.points;
				reasons.push(outcome.kind === "overlap" ? OVERLAP_REASON : ERASED_REASON);
			}
		}
	}
	if (limited) {
		return errorResponse(429, "rate limit exceeded; retry after the hour", encoding, { "Retry-After": String(window.retryAfter) });
	}
	return otlpResponse(encodeResponse(encoding, rejected, summarize(rejected, reasons)), encoding);
}
