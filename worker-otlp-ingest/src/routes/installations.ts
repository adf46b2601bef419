/**
 * DELETE /v1/installations/{id}: the client's erasure (`forget`, and every opt-out once
 * a report was delivered). Removes every row of the installation and leaves a tombstone
 * (ingest/tombstone.ts) so that no row of the ID is ever stored again; answers 204 whether or
 * not anything was stored, so a retried erasure is harmless and the answer says nothing
 * about whether the ID was known. Limited per client address like reports (429 with
 * Retry-After past it, for known and unknown IDs alike). The ID must look like one (the
 * contract's UUIDv4 pattern), so a typo is a 400 rather than a silent success.
 */
import { CONTRACT, TELEMETRY_ID, allows } from "../contract";
import { deleteInstallation } from "../db/reports";
import { errorResponse } from "./http";
import { currentWindow, eraseBucket, idBucket } from "../ingest/ratelimit";
import { tombstone } from "../ingest/tombstone";

const UNAVAILABLE = { "Retry-After": "60" };

export async function handleDeleteInstallation(request: Request, env: Env, rawId: string, nowMs: number): Promise<Response> {
	let id: string;
	try {
		id = decodeURIComponent(rawId);
	} catch {
		id = "";
	}
	const rule = CONTRACT.resourceAttributes.get(TELEMETRY_ID);
	if (!rule || !allows(rule, id)) return errorResponse(400, "not a telemetry ID (UUIDv4, lower case)");
	if (!env.IP_HASH_KEY) {
		console.error("IP_HASH_KEY is not set: refusing to erase without a tombstone");
		return errorResponse(503, "storage unavailable", "json", UNAVAILABLE);
	}
	const window = currentWindow(nowMs);
	try {
		const limit = { bucket: await eraseBucket(env.IP_HASH_KEY, request.headers.get("CF-Connecting-IP") ?? "unknown", nowMs), windowStart: window.start };
		const outcome = await deleteInstallation(env.DB, id, idBucket(id).bucket, await tombstone(env.IP_HASH_KEY, id, nowMs), limit);
		if (outcome === "rate-limited") {
			return errorResponse(429, "rate limit exceeded; retry after the hour", "json", { "Retry-After": String(window.retryAfter) });
		}
	} catch {
		return errorResponse(503, "storage unavailable", "json", UNAVAILABLE);
	}
	return new Response(null, { status: 204 });
}
