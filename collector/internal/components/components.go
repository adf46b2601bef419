// Package components lists the Collector components the configs in collector-config/ use,
// and nothing more: every extra component is code a user runs and nobody reviewed for
// what it could add to a report.
//
// It is what the OpenTelemetry Collector Builder generates as components.go, written by
// hand so the module set stays exactly the one go.mod pins (one release for every module).
package components

import (
	"runtime/debug"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/cumulativetodeltaprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// Extra names components a distribution adds to the base set (the Prometheus binary adds
// delta_to_cumulative and prometheus_remote_write).
type Extra struct {
	Processors map[processor.Factory]string
	Exporters  map[exporter.Factory]string
}

// Factories is what otelcol.CollectorSettings.Factories calls: the base set plus extra.
//
// Telemetry must be set: without it the service refuses to start ("telemetry factory not
// provided"). The module paths recorded per component are what `components` prints.
func Factories(extra Extra) (otelcol.Factories, error) {
	extensions := map[extension.Factory]string{
		filestorage.NewFactory(): contrib + "extension/storage/filestorage",
	}
	receivers := map[receiver.Factory]string{
		otlpreceiver.NewFactory(): "go.opentelemetry.io/collector/receiver/otlpreceiver",
	}
	processors := map[processor.Factory]string{
		memorylimiterprocessor.NewFactory():     "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
		filterprocessor.NewFactory():            contrib + "processor/filterprocessor",
		transformprocessor.NewFactory():         contrib + "processor/transformprocessor",
		cumulativetodeltaprocessor.NewFactory(): contrib + "processor/cumulativetodeltaprocessor",
	}
	exporters := map[exporter.Factory]string{
		otlphttpexporter.NewFactory(): "go.opentelemetry.io/collector/exporter/otlphttpexporter",
		debugexporter.NewFactory():    "go.opentelemetry.io/collector/exporter/debugexporter",
	}
	for factory, module := range extra.Processors {
		processors[factory] = module
	}
	for factory, module := range extra.Exporters {
		exporters[factory] = module
	}

	var err error
	factories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if factories.Extensions, err = otelcol.MakeFactoryMap(keys(extensions)...); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Connectors, err = otelcol.MakeFactoryMap[connector.Factory](); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Receivers, err = otelcol.MakeFactoryMap(keys(receivers)...); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Processors, err = otelcol.MakeFactoryMap(keys(processors)...); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Exporters, err = otelcol.MakeFactoryMap(keys(exporters)...); err != nil {
		return otelcol.Factories{}, err
	}
	factories.ExtensionModules = modules(extensions)
	factories.ReceiverModules = modules(receivers)
	factories.ProcessorModules = modules(processors)
	factories.ExporterModules = modules(exporters)
	return factories, nil
}

const contrib = "github.com/open-telemetry/opentelemetry-collector-contrib/"

type comparableFactory interface {
	comparable
	Type() component.Type
}

func keys[F comparable](m map[F]string) []F {
	out := make([]F, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	return out
}

// modules maps each component type to "module version", as the Builder's generated code does;
// the version is read from the binary's own build info, so go.mod stays its only source.
func modules[F comparableFactory](m map[F]string) map[component.Type]string {
	out := make(map[component.Type]string, len(m))
	for f, module := range m {
		out[f.Type()] = module + " " + ModuleVersion(module)
	}
	return out
}

// ModuleVersion is the version of module compiled into this binary ("(unknown)" in a build
// without module information, which `go build` always records).
func ModuleVersion(module string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "(unknown)"
}
