/**
 * Ordering VoiceMode versions as releases follow each other (PEP 440, the scheme the
 * contract's `service.version` pattern allows): 8.9.0 < 8.10.0, and for one release
 * 8.12.0.dev1 < 8.12.0a1 < 8.12.0rc1 < 8.12.0 < 8.12.0.post1. Anything the pattern
 * does not match ("unknown") sorts before every version. Pure.
 */

const PATTERN = /^([0-9]+(?:\.[0-9]+)*)(?:(a|b|rc)([0-9]+))?(?:\.post([0-9]+))?(?:\.dev([0-9]+))?$/;
const PHASES: Readonly<Record<string, number>> = { a: 0, b: 1, rc: 2 };
const RELEASE_PARTS = 4;

/** A sort key compared element by element; null for a string that is not a version. */
function key(version: string): number[] | null {
	const m = PATTERN.exec(version);
	if (!m) return null;
	const release = (m[1] ?? "").split(".").map(Number);
	while (release.length < RELEASE_PARTS) release.push(0);
	const [, , phase, pre, post, dev] = m;
	// A dev release of a final version comes before its pre-releases; a final after them.
	const stage = phase !== undefined ? [PHASES[phase] ?? 0, Number(pre)] : post === undefined && dev !== undefined ? [-1, 0] : [3, 0];
	return [...release.slice(0, RELEASE_PARTS), ...stage, post === undefined ? -1 : Number(post), dev === undefined ? Infinity : Number(dev)];
}

/** Negative when `a` is older than `b`; ties between non-versions are broken alphabetically. */
export function compareVersions(a: string, b: string): number {
	const [x, y] = [key(a), key(b)];
	if (x === null || y === null) {
		if (x !== y) return x === null ? -1 : 1;
		return a < b ? -1 : a > b ? 1 : 0;
	}
	for (let i = 0; i < x.length; i++) {
		const d = (x[i] ?? 0) - (y[i] ?? 0);
		if (d !== 0 && !Number.isNaN(d)) return d < 0 ? -1 : 1;
	}
	return 0;
}
