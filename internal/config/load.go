package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/viper"
)

// EnvPrefix starts the name of every environment variable that overrides a
// configuration key: server.listen is FEEDD_SERVER_LISTEN.
const EnvPrefix = "FEEDD"

// EnvName returns the environment variable that overrides the dotted key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// Document is one configuration as loaded: its name, its mapping after
// environment overrides and ${VAR} expansion, and where its keys stand.
type Document struct {
	// Name is the file's path, or "embedded:<name>" for a built-in default.
	Name string
	// Values is the configuration mapping, keys in lower case.
	Values map[string]any
	// Positions locates keys of Values in the file.
	Positions Positions
	// FromEnv maps the paths whose values came from environment variables
	// to the variables' names.
	FromEnv map[string]string
}

// Locate places problems found in the document's values: file and line, or
// the environment variable the value came from.
func (d *Document) Locate(ps Problems) { ps.Locate(d.Name, d.Positions, d.FromEnv) }

// Load parses the YAML data of the configuration called name through viper.
// Each key in envKeys (dotted paths of scalar settings) may be overridden by
// its environment variable (EnvName); afterwards ${VAR} references in string
// values are expanded from the environment. Problems carry file and line.
func Load(name string, data []byte, envKeys []string) (*Document, Problems) {
	pos, ps := indexYAML(data)
	doc := &Document{Name: name, Positions: pos, FromEnv: map[string]string{}}
	// "::" as key delimiter keeps dotted keys (such as OTel resource
	// attributes) whole; viper lower-cases every key.
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, Problems{{File: name, Msg: fmt.Sprintf("parse YAML: %v", unwrapViper(err))}}
	}
	for _, k := range envKeys {
		if err := v.BindEnv(strings.ReplaceAll(k, ".", "::"), EnvName(k)); err != nil {
			return nil, Problems{{File: name, Msg: fmt.Sprintf("bind %s: %v", EnvName(k), err)}}
		}
		if val, set := os.LookupEnv(EnvName(k)); set && val != "" { // viper ignores empty variables
			doc.FromEnv[k] = EnvName(k)
		}
	}
	doc.Values, _ = Expand("", v.AllSettings(), os.LookupEnv, &ps).(map[string]any)
	doc.Locate(ps)
	return doc, ps
}

// unwrapViper drops viper's generic wrapper text so the YAML error's own line
// number leads.
func unwrapViper(err error) error {
	var pe viper.ConfigParseError
	if ok := asParseError(err, &pe); ok {
		if u := pe.Unwrap(); u != nil {
			return u
		}
	}
	return err
}

func asParseError(err error, target *viper.ConfigParseError) bool {
	pe, ok := err.(viper.ConfigParseError)
	if ok {
		*target = pe
	}
	return ok
}
