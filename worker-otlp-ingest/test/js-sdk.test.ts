/**
 * Bodies from the official OpenTelemetry JS SDK and exporters (made in Node by
 * test/global-setup.ts). The SDK always sends histogram `sum` and real timestamps, so
 * the Worker must understand the foreign encoding (200, never 400), refuse every point
 * through partial_success naming those reasons, and store nothing.
 */
import { describe, expect, inject, it } from "vitest";
import { fromBase64 } from "./support/base64";
import { exportResult, post, snapshot } from "./support/worker";
import { JS_POINTS } from "./fixtures/js-points";

const fixtures = inject("jsFixtures");

describe("OpenTelemetry JS exporter bodies", () => {
	it("were captured from both official exporters (protobuf and JSON)", () => {
		expect(fixtures.map((f) => [f.wire, f.headers["content-type"]])).toEqual([
			["protobuf", "application/x-protobuf"],
			["json", "application/json"],
		]);
	});

	it.each(fixtures.map((f) => [f.wire, f] as const))(
		"%s body decodes (200) and every point is refused for sum and non-hour timestamps, storing nothing",
		async (_wire, fixture) => {
			const before = await snapshot();
			const res = await post(fromBase64(fixture.body), { contentType: fixture.headers["content-type"] ?? "" });
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Type")).toBe(fixture.headers["content-type"]);
			const { rejected, message } = await exportResult(res);
			expect(rejected).toBe(JS_POINTS);
			// The SDK's real timestamps may also differ between instruments, or start and
			// end may fall in one millisecond: those extra reasons are counted, not named.
			expect(message).toMatch(
				new RegExp(
					"^6 data points rejected: voicemode\\.session\\.duration: sum not allowed; " +
						"voicemode\\.session\\.exchanges: sum not allowed; period: start is not a whole UTC hour; " +
						"period: end is not a whole UTC hour( \\(\\+[12] more\\))?$",
				),
			);
			expect(await snapshot()).toEqual(before);
		},
	);
});
