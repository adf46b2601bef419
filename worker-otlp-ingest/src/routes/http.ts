/**
 * Response helpers. Error bodies are always a google.rpc.Status (OTLP/HTTP requires
 * it on /v1/metrics; the other routes use its JSON form too, so clients parse one
 * shape) and never carry an exception message or a stack.
 */
import { CONTENT_TYPES, RPC_CODE, encodeStatus, type Encoding } from "../ingest/otlp";

const RPC_FOR_STATUS: Readonly<Record<number, number>> = {
	400: RPC_CODE.invalidArgument,
	404: RPC_CODE.notFound,
	405: RPC_CODE.unimplemented,
	413: RPC_CODE.invalidArgument,
	415: RPC_CODE.invalidArgument,
	429: RPC_CODE.resourceExhausted,
	503: RPC_CODE.unavailable,
};

/** A body in an OTLP encoding, with the matching Content-Type. */
export function otlpResponse(body: Uint8Array | string, encoding: Encoding, status = 200, headers: HeadersInit = {}): Response {
	return new Response(body, { status, headers: { ...headers, "Content-Type": CONTENT_TYPES[encoding] } });
}

/**
 * An error as google.rpc.Status, in the request's OTLP encoding (JSON when the request
 * had none we understand).
 */
export function errorResponse(status: number, message: string, encoding: Encoding = "json", headers: HeadersInit = {}): Response {
	return otlpResponse(encodeStatus(encoding, RPC_FOR_STATUS[status] ?? RPC_CODE.invalidArgument, message), encoding, status, headers);
}

/** A 404 in the request's OTLP encoding (JSON for anything else). */
export function notFound(encoding: Encoding = "json"): Response {
	return errorResponse(404, "not found", encoding);
}

export function methodNotAllowed(allow: string): Response {
	return errorResponse(405, `method not allowed; use ${allow}`, "json", { Allow: allow });
}

export function jsonResponse(value: unknown, headers: HeadersInit = {}, status = 200): Response {
	return new Response(JSON.stringify(value), { status, headers: { ...headers, "Content-Type": CONTENT_TYPES.json } });
}
