/**
 * DELETE /v1/installations/{id}: the client's `forget` command. Removes every row of
 * the installation and answers 204 whether or not anything was stored, so a retried
 * forget is harmless. The ID must look like one (the contract's UUIDv4 pattern), so a
 * typo is a 400 rather than a silent success.
 */
import { CONTRACT, TELEMETRY_ID, allows } from "./contract";
import { deleteInstallation } from "./db";
import { errorResponse } from "./http";
import { idBucket } from "./ratelimit";

export async function handleDeleteInstallation(env: Env, rawId: string): Promise<Response> {
	let id: string;
	try {
		id = decodeURIComponent(rawId);
	} catch {
		id = "";
	}
	const rule = CONTRACT.resourceAttributes.get(TELEMETRY_ID);
	if (!rule || !allows(rule, id)) return errorResponse(400, "not a telemetry ID (UUIDv4, lower case)");
	try {
		await deleteInstallation(env.DB, id, idBucket(id).bucket);
	} catch {
		return errorResponse(503, "storage unavailable", "json", { "Retry-After": "60" });
	}
	return new Response(null, { status: 204 });
}
