/**
 * HMAC-SHA256 under the Worker's secret (IP_HASH_KEY), hex-encoded: how a client
 * address becomes a rate-limit bucket and an erased ID a tombstone, so neither is ever
 * stored. The imported key is kept per isolate: one import, however many requests.
 */
const encoder = new TextEncoder();
const imported = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
	let key = imported.get(secret);
	if (!key) {
		key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
		// A secret is set once per deployment; tests use a few. Never let the map grow.
		if (imported.size >= 4) imported.clear();
		imported.set(secret, key);
	}
	return key;
}

/** HMAC-SHA256(secret, message) as 64 hex digits. */
export async function hmacHex(secret: string, message: string): Promise<string> {
	const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await keyFor(secret), encoder.encode(message)));
	let hex = "";
	for (const b of mac) hex += b.toString(16).padStart(2, "0");
	return hex;
}
