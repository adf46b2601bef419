/** Fixture bodies travel from Node's global setup as base64. */
export function fromBase64(b64: string): Uint8Array {
	return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
