/**
 * Reading a request body within hard caps: at most 64 KiB on the wire and at most
 * 1 MiB after gzip, counted while streaming, so neither a huge upload nor a gzip bomb
 * is ever held in memory. A report from the client is ~1 KiB.
 *
 * gzip is undone in lockstep, INFLATE_STEP compressed bytes at a time: workerd's
 * DecompressionStream inflates each written chunk whole as soon as it is written (its
 * writes never wait for the reader), so handing it the 64 KiB body in one piece — or
 * writing ahead of the reader — inflated a bomb completely, 64 MiB, before the cap
 * could apply. Here the next step is written only once everything the last one made
 * has been read (its output is ready before the event loop's next turn), so what is in
 * memory at any moment is at most the cap plus one step's output (deflate expands at
 * most 1,032×: 258 KiB for 256 bytes). A body so small that even that much expansion
 * stays within the cap — every report a client sends (~0.5 KiB) — is written in one
 * piece and read to its end, with no step and no turn of the event loop in between.
 * `scripts/bomb_memory.py` measures workerd.
 */

export const LIMITS = {
	/** Bytes on the wire (compressed or not). */
	wireBytes: 64 * 1024,
	/** Bytes after Content-Encoding: gzip is undone. */
	decodedBytes: 1024 * 1024,
} as const;

/** Compressed bytes handed to the decompressor at a time. */
export const INFLATE_STEP = 256;
/** The most deflate can expand its input (zlib's documented limit: a 258-byte match per ~2 bits). */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bodies up to this size cannot inflate past the cap: one piece, no steps. */
const WHOLE = Math.floor(LIMITS.decodedBytes / MAX_DEFLATE_RATIO);

export type BodyResult =
	| { ok: true; bytes: Uint8Array }
	| { ok: false; status: 400 | 413 | 415; message: string };

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
	const out = new Uint8Array(total);
	let offset = 0;
	for (const chunk of chunks) {
		out.set(chunk, offset);
		offset += chunk.byteLength;
	}
	return out;
}

/** A stream's chunks, gathered up to a cap: `take` reads what there is, or to the end. */
class Gathered {
	readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
	readonly #max: number;
	readonly #chunks: Uint8Array[] = [];
	#total = 0;
	#pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

	constructor(stream: ReadableStream<Uint8Array>, max: number) {
		this.#reader = stream.getReader();
		this.#max = max;
	}

	/**
	 * Reads until the stream ends ("done"), passes the cap ("over": the stream is then
	 * cancelled), or — unless `toEnd` — has nothing more before the event loop's next
	 * turn ("drained"). A read still waiting is kept for the next call.
	 */
	async take(toEnd: boolean): Promise<"done" | "over" | "drained"> {
		for (;;) {
			this.#pending ??= this.#reader.read();
			const next = toEnd ? await this.#pending : await Promise.race([this.#pending, nextTurn()]);
			if (next === DRAINED) return "drained";
			this.#pending = null;
			if (next.done) return "done";
			this.#total += next.value.byteLength;
			if (this.#total > this.#max) {
				await this.#reader.cancel().catch(() => undefined);
				return "over";
			}
			this.#chunks.push(next.value);
		}
	}

	bytes(): Uint8Array {
		return concat(this.#chunks, this.#total);
	}
}

const DRAINED = Symbol("drained");
function nextTurn(): Promise<typeof DRAINED> {
	return new Promise((resolve) => setTimeout(() => resolve(DRAINED), 0));
}

/** Reads a stream to its end, or stops (and cancels it) once it passes `max` bytes. */
async function readCapped(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | null> {
	const gathered = new Gathered(stream, max);
	return (await gathered.take(true)) === "over" ? null : gathered.bytes();
}

const TOO_LARGE = { ok: false, status: 413, message: `decompressed body larger than ${LIMITS.decodedBytes} bytes` } as const;

/** Undoes gzip within the decoded cap, in lockstep steps (see above); a corrupt or truncated stream is a 400. */
async function gunzip(compressed: Uint8Array): Promise<BodyResult> {
	const inflater = new DecompressionStream("gzip");
	const writer = inflater.writable.getWriter();
	const output = new Gathered(inflater.readable, LIMITS.decodedBytes);
	const step = compressed.byteLength <= WHOLE ? compressed.byteLength : INFLATE_STEP;
	try {
		for (let offset = 0; offset < compressed.byteLength; offset += step) {
			await writer.write(compressed.subarray(offset, offset + step));
			// The last step's output is read to the end below.
			if (offset + step < compressed.byteLength && (await output.take(false)) === "over") {
				await writer.abort().catch(() => undefined);
				return TOO_LARGE;
			}
		}
		const closed = writer.close();
		closed.catch(() => undefined); // a truncated stream fails both sides: the read reports it
		if ((await output.take(true)) === "over") return TOO_LARGE;
		await closed;
		return { ok: true, bytes: output.bytes() };
	} catch {
		await writer.abort().catch(() => undefined);
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
