// Package channels is feedd's hub: named channels with offsets, epochs,
// history and snapshots; the broker that carries publications; WebSocket
// sessions speaking protocol v1; and the HTTP API around them. It knows no
// chain: what a channel name means is given to it as Namespace rules.
package channels

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ReadPolicy says who may subscribe to a namespace's channels.
type ReadPolicy string

// The read policies.
const (
	// ReadPublic: anyone.
	ReadPublic ReadPolicy = "public"
	// ReadToken: any connection with a valid token.
	ReadToken ReadPolicy = "token"
	// ReadClaims: a valid token whose channels claim matches the channel.
	ReadClaims ReadPolicy = "claims"
)

// Namespace holds the rules of the channels named "<Name>:<rest>".
type Namespace struct {
	// Name is the part before the first colon.
	Name string
	// Read is who may subscribe.
	Read ReadPolicy
	// PublishAPI allows POST /api/v1/publish to write to the namespace.
	PublishAPI bool
	// Coalesce marks state channels: a slow client gets the newest
	// publication and skips older ones. Event channels (false) are never
	// coalesced; a client too slow for one is closed with 4008.
	Coalesce bool
	// HistorySize and HistoryTTL bound the history kept per channel for
	// recovery. Zero size keeps none.
	HistorySize int
	HistoryTTL  time.Duration
	// Interest marks namespaces whose subscriptions are requests to watch
	// something: interest handlers hear of their first and last subscriber.
	Interest bool
	// Canon checks the part after the colon and returns its canonical form
	// (e.g. a lower-cased EVM address); its error is shown to the client in
	// a bad_channel error. Nil accepts any non-empty rest as it is.
	Canon func(rest string) (string, error)
}

// ErrBadChannel wraps every reason a channel name is refused.
var ErrBadChannel = errors.New("bad channel")

// maxChannelLen bounds channel names.
const maxChannelLen = 256

// splitName splits "ns:rest", checking the characters.
func splitName(name string) (ns, rest string, err error) {
	if name == "" {
		return "", "", fmt.Errorf("%w: empty channel name", ErrBadChannel)
	}
	if len(name) > maxChannelLen {
		return "", "", fmt.Errorf("%w: channel name longer than %d bytes", ErrBadChannel, maxChannelLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '*' {
			return "", "", fmt.Errorf("%w: channel %q has a character that is not allowed", ErrBadChannel, name)
		}
	}
	ns, rest, ok := strings.Cut(name, ":")
	if !ok || ns == "" || rest == "" {
		return "", "", fmt.Errorf("%w: channel %q: want <namespace>:<name>", ErrBadChannel, name)
	}
	return ns, rest, nil
}

// needsToken reports whether reading the namespace needs a token.
func (ns *Namespace) needsToken() bool { return ns.Read == ReadToken || ns.Read == ReadClaims }

// claimsAllow reports whether ident's claims let it read the canonical
// channel: always, unless the namespace reads by claims.
func (ns *Namespace) claimsAllow(ident *Identity, canon string) bool {
	return ns.Read != ReadClaims || ident != nil && ident.Allows != nil && ident.Allows(canon)
}
