// Command otelcol-voicemode-prometheus is otelcol-voicemode plus what
// collector-config/voicemode-prometheus.yaml needs to write into Prometheus: the
// delta_to_cumulative processor and the prometheus_remote_write exporter. It is a separate
// binary because the exporter pulls in the Prometheus server's module, which doubles
// the download (0.5 GB more module cache) and compile time of the Collector the other
// configs run on, for 4 MB more binary.
package main

import (
	"log"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/processor"

	"voicemode-otel/collector/internal/components"
)

const contrib = "github.com/open-telemetry/opentelemetry-collector-contrib/"

func main() {
	command := components.Command(
		"otelcol-voicemode-prometheus",
		"OpenTelemetry Collector for voicemode-otel, with Prometheus remote write",
		components.Extra{
			Processors: map[processor.Factory]string{
				deltatocumulativeprocessor.NewFactory(): contrib + "processor/deltatocumulativeprocessor",
			},
			Exporters: map[exporter.Factory]string{
				prometheusremotewriteexporter.NewFactory(): contrib + "exporter/prometheusremotewriteexporter",
			},
		},
	)
	if err := command.Execute(); err != nil {
		log.Fatalf("collector server run finished with error: %v", err)
	}
}
