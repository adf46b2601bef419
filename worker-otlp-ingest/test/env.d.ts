// Types only the tests need.
declare namespace Cloudflare {
	// Bindings set in vitest.config.ts.
	interface Env {
		TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
	}
	// Types `exports.default` (the Worker's own handler) from "cloudflare:workers".
	interface GlobalProps {
		mainModule: typeof import("../src/index");
	}
}
