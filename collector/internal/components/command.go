package components

import (
	"github.com/spf13/cobra"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// CollectorModule is the core module whose version names the release this binary is; every
// other Collector module in go.mod is at the same release.
const CollectorModule = "go.opentelemetry.io/collector/otelcol"

// Command is the Collector's command line (run, validate, components, print-config) for a
// binary named name with the base components plus extra.
//
// The config can come only from files (--config FILE) and may read environment variables
// (${env:NAME:-default}); no HTTP, YAML-inline or other providers, so a config cannot make
// the Collector fetch anything at start-up.
func Command(name, description string, extra Extra) *cobra.Command {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     name,
			Description: description,
			Version:     ModuleVersion(CollectorModule),
		},
		Factories: func() (otelcol.Factories, error) { return Factories(extra) },
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
	return otelcol.NewCommand(settings)
}
