/**
 * Reading a request body within hard caps: at most 64 KiB on the wire and at most
 * 1 MiB after gzip, counted while streaming, so neither a huge upload nor a gzip bomb
 * is ever held in memory. A report from the client is ~1 KiB.
 */

export const LIMITS = {
	/** Bytes on the wire (compressed or not). */
	wireBytes: 64 * 1024,
	/** Bytes after Content-Encoding: gzip is undone. */
	decodedBytes: 1024 * 1024,
} as const;

export type BodyResult =
	| { ok: true; bytes: Uint8Array }
	| { ok: false; status: 400 | 413 | 415; message: string };

/** Reads a stream to its end, or stops (and cancels it) once it passes `max` bytes. */
async function readCapped(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | null> {
	const reader = stream.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.byteLength;
		if (total > max) {
			await reader.cancel().catch(() => undefined);
			return null;
		}
		chunks.push(value);
	}
	const out = new Uint8Array(total);
	let offset = 0;
	for (const chunk of chunks) {
		out.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return out;
}

/** Undoes gzip within the decoded cap; a corrupt or truncated stream is a 400. */
async function gunzip(compressed: Uint8Array): Promise<BodyResult> {
	const stream = new Blob([compressed]).stream().pipeThrough(new DecompressionStream("gzip"));
	try {
		const bytes = await readCapped(stream, LIMITS.decodedBytes);
		if (!bytes) return { ok: false, status: 413, message: `decompressed body larger than ${LIMITS.decodedBytes} bytes` };
		return { ok: true, bytes };
	} catch {
		return { ok: false, status: 400, message: "body is not valid gzip" };
	}
}

/**
 * The request's body bytes with Content-Encoding undone. Only `gzip` and `identity`
 * are accepted (OTLP/HTTP defines no other); anything else is a 415.
 */
export async function readBody(request: Request): Promise<BodyResult> {
	const encoding = (request.headers.get("Content-Encoding") ?? "identity").trim().toLowerCase();
	if (encoding !== "gzip" && encoding !== "identity") {
		return { ok: false, status: 415, message: "Content-Encoding must be gzip or absent" };
	}
	const declared = Number(request.headers.get("Content-Length") ?? "0");
	const tooLarge = { ok: false, status: 413, message: `body larger than ${LIMITS.wireBytes} bytes` } as const;
	if (declared > LIMITS.wireBytes) return tooLarge;
	let wire: Uint8Array | null;
	try {
		wire = request.body ? await readCapped(request.body, LIMITS.wireBytes) : new Uint8Array();
	} catch {
		return { ok: false, status: 400, message: "body could not be read" };
	}
	if (!wire) return tooLarge;
	return encoding === "gzip" ? gunzip(wire) : { ok: true, bytes: wire };
}
