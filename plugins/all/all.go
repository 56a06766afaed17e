// Package all imports every built-in plugin type so that it registers with
// plugins.Default. Binaries import it for its side effect.
package all

import (
	_ "github.com/feedd/feedd/plugins/replay" // price.replay
)
