/**
 * A real HTTP run: `scripts/dev.sh` (what `make worker-dev` runs) serves the Worker on
 * 127.0.0.1 with its own local D1, and real clients talk to it over the loopback:
 * bodies of the Python pipeline, and the official OpenTelemetry JS exporters, which must
 * themselves read the Worker's partial-success answer as a success.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { exportOnce, ExportResultCode, recordWithJsSdk } from "../fixtures/js-exporters";
import { toProtobuf, typicalRequest } from "../support/otlp";

const WORKER_DIR = path.resolve(import.meta.dirname, "..", "..");
let server: ChildProcess;
let base = "";
let stateDir = "";

async function freePort(): Promise<number> {
	const probe = createServer();
	await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
	const address = probe.address();
	await new Promise((resolve) => probe.close(resolve));
	if (!address || typeof address === "string") throw new Error("no port");
	return address.port;
}

beforeAll(async () => {
	const port = await freePort();
	base = `http://127.0.0.1:${port}`;
	stateDir = mkdtempSync(path.join(tmpdir(), "voicemode-otel-dev-"));
	server = spawn(path.join(WORKER_DIR, "scripts", "dev.sh"), [String(port)], {
		cwd: WORKER_DIR,
		env: { ...process.env, PERSIST_TO: stateDir, STATS_MIN_INSTALLATIONS: "1", IP_HASH_KEY: "http-test-key" },
		stdio: ["ignore", "ignore", "pipe"],
	});
	let log = "";
	server.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
	const deadline = Date.now() + 90_000;
	for (;;) {
		if (server.exitCode !== null) throw new Error(`scripts/dev.sh exited ${server.exitCode}:\n${log}`);
		try {
			if ((await fetch(`${base}/healthz`)).ok) return;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) throw new Error(`wrangler dev did not start:\n${log}`);
		await new Promise((r) => setTimeout(r, 250));
	}
});

afterAll(async () => {
	// dev.sh execs wrangler, so this PID is the wrangler node process: SIGTERM stops it and workerd.
	if (server && server.exitCode === null) {
		const exited = new Promise((resolve) => server.once("exit", resolve));
		server.kill("SIGTERM");
		await exited;
	}
	if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

async function stats(): Promise<{ installations: number; reports: number }> {
	return (await (await fetch(`${base}/v1/stats?days=90`)).json()) as { installations: number; reports: number };
}

describe("over real HTTP (wrangler dev on 127.0.0.1)", () => {
	it("answers GET /healthz", async () => {
		const res = await fetch(`${base}/healthz`);
		expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
	});

	it("stores a gzip'd Python exporter body once, and a resend adds nothing", async () => {
		const provided = inject("pythonFixtures");
		if (!provided.ok) throw new Error(provided.error);
		const fixture = provided.fixtures.find((f) => f.name === "typical-day" && f.wire === "gzip");
		if (!fixture) throw new Error("no typical-day gzip fixture");
		const before = await stats();
		const post = () => fetch(`${base}/v1/metrics`, { method: "POST", headers: fixture.headers, body: Buffer.from(fixture.body, "base64") });
		for (let i = 0; i < 2; i++) {
			const res = await post();
			expect(res.status).toBe(200);
			expect(res.headers.get("content-type")).toBe("application/x-protobuf");
			expect((await res.arrayBuffer()).byteLength).toBe(0);
		}
		expect(await stats()).toMatchObject({ installations: before.installations + 1, reports: before.reports + 1 });
	});

	it.each(["protobuf", "json"] as const)(
		"lets the official JS %s exporter read the partial-success answer as SUCCESS, storing nothing",
		async (wire) => {
			const before = await stats();
			const result = await exportOnce(wire, `${base}/v1/metrics`, await recordWithJsSdk());
			expect(result.code).toBe(ExportResultCode.SUCCESS);
			expect(await stats()).toEqual(before);
		},
	);

	it("measures a typical report end to end (decode + validate + one D1 batch, over HTTP)", async () => {
		const runs = 40;
		const times: number[] = [];
		for (let i = 0; i < runs; i++) {
			const body = gzipSync(toProtobuf(typicalRequest(randomUUID())));
			const start = performance.now();
			const res = await fetch(`${base}/v1/metrics`, {
				method: "POST",
				headers: { "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip" },
				body,
			});
			await res.arrayBuffer();
			times.push(performance.now() - start);
			expect(res.status).toBe(200);
		}
		times.sort((a, b) => a - b);
		const median = times[Math.floor(runs / 2)] ?? 0;
		const p90 = times[Math.floor(runs * 0.9)] ?? 0;
		console.log(`typical report over HTTP (local workerd + D1): median ${median.toFixed(2)} ms, p90 ${p90.toFixed(2)} ms, n=${runs}`);
		expect(median).toBeLessThan(1000);
	});
});
