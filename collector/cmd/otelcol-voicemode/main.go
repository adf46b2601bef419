// Command otelcol-voicemode is the OpenTelemetry Collector for voicemode-otel's configs
// (collector-config/voicemode.yaml and voicemode-alternative-sink.yaml): the OTLP receiver,
// the memory_limiter, filter, transform and cumulative_to_delta processors, and the
// otlp_http and debug exporters. Nothing else is compiled in.
package main

import (
	"log"

	"voicemode-otel/collector/internal/components"
)

func main() {
	command := components.Command(
		"otelcol-voicemode",
		"OpenTelemetry Collector for voicemode-otel",
		components.Extra{},
	)
	if err := command.Execute(); err != nil {
		log.Fatalf("collector server run finished with error: %v", err)
	}
}
