/**
 * Two vitest projects, both run by `npx vitest run`:
 *  - "workerd": the Worker's tests inside workerd (Workers vitest integration), with
 *    real local D1 built from migrations/;
 *  - "node": real-HTTP runs against `wrangler dev` (scripts/dev.sh), including the
 *    official OpenTelemetry JS exporters reading the Worker's responses.
 * test/global-setup.ts makes the Python and JS fixture bodies first.
 */
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const root = import.meta.dirname;
/** What a deployment sets with `wrangler secret put IP_HASH_KEY`. Also exported to
 * process.env, where wrangler's required-secrets check looks for it. */
const TEST_IP_HASH_KEY = "test-ip-hash-key";
process.env.IP_HASH_KEY ??= TEST_IP_HASH_KEY;

export default defineConfig(async () => {
	const migrations = await readD1Migrations(path.join(root, "migrations"));
	return {
		test: {
			projects: [
				{
					plugins: [
						cloudflareTest({
							wrangler: { configPath: "./wrangler.jsonc" },
							miniflare: {
								// Test-only bindings: the migrations for the setup file, the
								// secret a deployment sets with `wrangler secret put`, and
								// STATS_ESTABLISHED "1/0" (every installation counts at once, as
								// in local `wrangler dev`) for the tests about everything else:
								// test/published.test.ts runs the deployed rule, and
								// test/contract.test.ts checks wrangler.jsonc ships it.
								bindings: { TEST_MIGRATIONS: migrations, IP_HASH_KEY: TEST_IP_HASH_KEY, STATS_ESTABLISHED: "1/0" },
								// A second database, migrated step by step by test/db/migrations.test.ts.
								d1Databases: { MIGRATION_DB: "migration-test-db" },
							},
						}),
					],
					// contract.json lives beside the Python package, outside this folder.
					server: { fs: { allow: [path.join(root, "..")] } },
					test: {
						name: "workerd",
						include: ["test/**/*.test.ts"],
						exclude: ["test/node/**"],
						globalSetup: ["./test/global-setup.ts"],
						setupFiles: ["./test/apply-migrations.ts"],
					},
				},
				{
					test: {
						name: "node",
						include: ["test/node/**/*.test.ts"],
						environment: "node",
						globalSetup: ["./test/global-setup.ts"],
						testTimeout: 120_000,
						hookTimeout: 120_000,
					},
				},
			],
		},
	};
});
