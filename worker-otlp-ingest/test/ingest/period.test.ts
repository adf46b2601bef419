import { describe, expect, it } from "vitest";
import { checkPeriod } from "../../src/ingest/period";

const H = 3_600_000;
const NOW = Date.UTC(2026, 10, 25, 17, 56, 30); // 3.5 minutes before a whole hour
const ns = (ms: number) => BigInt(ms) * 1_000_000n;
const hour = (h: number) => Date.UTC(2026, 10, 25, h); // hours of 2026-11-25 (may be negative/over 24)

describe("checkPeriod (now injected)", () => {
	it.each<[string, number, number, string[]]>([
		["a day of whole hours", hour(-7), hour(17), []],
		["exactly 8 days", hour(17) - 192 * H, hour(17), []],
		["an end up to 5 minutes in the future (clock skew)", hour(17), hour(18), []],
		["an end just under 90 days ago", hour(18) - 1 * H - 90 * 24 * H, hour(18) - 90 * 24 * H, []],
		["8 days and an hour", hour(17) - 193 * H, hour(17), ["longer than 8 days"]],
		["an end more than 5 minutes in the future", hour(18), hour(19), ["ends in the future"]],
		["an end more than 90 days ago", hour(16) - 91 * 24 * H, hour(16) - 90 * 24 * H - H, ["ended more than 90 days ago"]],
		["start = end", hour(10), hour(10), ["start must be before end"]],
		["start after end", hour(11), hour(10), ["start must be before end"]],
		["a start one millisecond past the hour", hour(10) + 1, hour(11), ["start is not a whole UTC hour"]],
		["an end one nanosecond short of the hour", hour(10), hour(11), ["end is not a whole UTC hour"]],
	])("%s", (_what, startMs, endMs, reasons) => {
		const endNs = _what.includes("nanosecond") ? ns(endMs) - 1n : ns(endMs);
		const result = checkPeriod(ns(startMs), endNs, ns(NOW));
		expect(result.reasons).toEqual(reasons);
		expect(result.period).toEqual(reasons.length ? null : { start: startMs / 1000, end: endMs / 1000 });
	});
});
