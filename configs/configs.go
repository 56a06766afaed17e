// Package configs embeds the example configurations and the data they
// refer to, so that the daemon runs on its defaults with nothing else on disk.
package configs

import "embed"

// FS holds the YAML files of this folder and data/.
//
//go:embed *.yaml data
var FS embed.FS

// Default is the name in FS of the configuration `feedd run` uses without -c.
const Default = "default.yaml"
