package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// FromABI picks the event called name from an ABI JSON document.
//
// abiJSON is either the ABI's JSON array or a compiler artifact object with
// the array in its "abi" field (Hardhat, Foundry, Truffle). Only the event
// entries are read, so functions or errors go-ethereum cannot represent do
// not get in the way.
//
// name is the event's name, e.g. "Transfer", or, when the ABI overloads that
// name, its signature: canonical ("Transfer(address,address,uint256)") or any
// form ParseSignature accepts, matched by canonical signature. An ambiguous
// bare name is an error listing the candidates' signatures; a name or
// signature the ABI does not have is an error listing the events it has.
//
// Argument types are checked as in ParseSignature; unnamed arguments are
// named argN as go-ethereum does.
func FromABI(abiJSON []byte, name string) (abi.Event, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return abi.Event{}, fmt.Errorf("no event name given")
	}
	entries, err := abiEvents(abiJSON)
	if err != nil {
		return abi.Event{}, err
	}
	cands := make([]candidate, len(entries))
	for i := range entries {
		cands[i] = entries[i].build()
	}

	if strings.Contains(name, "(") {
		want, err := ParseSignature(name)
		if err != nil {
			return abi.Event{}, err
		}
		for _, c := range cands {
			if c.err == nil && c.ev.Sig == want.Sig {
				return c.ev, nil
			}
		}
		return abi.Event{}, fmt.Errorf("event %q (%s) is not in the ABI; %s", name, want.Sig, listEvents(cands))
	}

	var found []candidate
	for _, c := range cands {
		if c.name == name {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return abi.Event{}, fmt.Errorf("event %q is not in the ABI; %s", name, listEvents(cands))
	case 1:
		if found[0].err != nil {
			return abi.Event{}, found[0].err
		}
		return found[0].ev, nil
	}
	sigs := make([]string, len(found))
	for i, c := range found {
		sigs[i] = c.sig()
	}
	return abi.Event{}, fmt.Errorf("event name %q is ambiguous, the ABI overloads it: %s; name one by its signature", name, strings.Join(sigs, ", "))
}

// jsonEntry is the part of an ABI JSON entry FromABI reads.
type jsonEntry struct {
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Inputs    []jsonArg `json:"inputs"`
	Anonymous bool      `json:"anonymous"`
}

// jsonArg is an argument or tuple component in ABI JSON.
type jsonArg struct {
	Name         string    `json:"name"`
	Type         string    `json:"type"`
	InternalType string    `json:"internalType"`
	Components   []jsonArg `json:"components"`
	Indexed      bool      `json:"indexed"`
}

// abiEvents returns the event entries of an ABI JSON array or artifact.
func abiEvents(doc []byte) ([]jsonEntry, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil, fmt.Errorf("ABI JSON is empty")
	}
	if doc[0] == '{' {
		var artifact struct {
			ABI json.RawMessage `json:"abi"`
		}
		if err := json.Unmarshal(doc, &artifact); err != nil {
			return nil, fmt.Errorf("ABI JSON: %w", err)
		}
		if len(artifact.ABI) == 0 {
			return nil, fmt.Errorf("ABI JSON is an object without an \"abi\" field")
		}
		doc = artifact.ABI
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("ABI JSON: want an array of entries: %w", err)
	}
	var out []jsonEntry
	for i, r := range raw {
		var head struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(r, &head); err != nil {
			return nil, fmt.Errorf("ABI JSON entry %d: %w", i, err)
		}
		if head.Type != "event" {
			continue
		}
		var e jsonEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, fmt.Errorf("ABI JSON event %q (entry %d): %w", head.Name, i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// candidate is one event of the ABI, built or failed.
type candidate struct {
	name string
	ev   abi.Event
	err  error
}

// sig is the candidate's canonical signature, or its name and why it failed.
func (c candidate) sig() string {
	if c.err != nil {
		return c.name + "(?)"
	}
	return c.ev.Sig
}

func listEvents(cands []candidate) string {
	if len(cands) == 0 {
		return "the ABI has no events"
	}
	sigs := make([]string, len(cands))
	for i, c := range cands {
		sigs[i] = c.sig()
	}
	return "the ABI has: " + strings.Join(sigs, ", ")
}

// build checks an ABI JSON event entry and makes the abi.Event.
func (e *jsonEntry) build() candidate {
	c := candidate{name: e.Name}
	params := make([]param, len(e.Inputs))
	for i := range e.Inputs {
		p, err := e.Inputs[i].param(true)
		if err != nil {
			c.err = fmt.Errorf("ABI event %q: argument %d (%q): %w", e.Name, i, e.Inputs[i].Name, err)
			return c
		}
		params[i] = p
	}
	c.ev, c.err = buildEvent(e.Name, e.Anonymous, params)
	if c.err != nil {
		c.err = fmt.Errorf("ABI event %q: %w", e.Name, c.err)
	}
	return c
}

// param converts an ABI JSON argument, checking its type.
func (a *jsonArg) param(top bool) (param, error) {
	toks, err := tokenize(a.Type)
	if err != nil {
		return param{}, fmt.Errorf("type %q: %w", a.Type, err)
	}
	p := &parser{toks: toks}
	base := p.next()
	if base.kind != tokIdent {
		return param{}, fmt.Errorf("type %q: expected a type name, found %s", a.Type, base)
	}
	prm := param{name: a.Name, indexed: a.Indexed && top, internalType: a.InternalType}
	if base.text == "tuple" {
		if len(a.Components) == 0 {
			return param{}, fmt.Errorf("tuple type %q has no components", a.Type)
		}
		prm.base = "tuple"
		prm.components = make([]param, len(a.Components))
		for i := range a.Components {
			c, err := a.Components[i].param(false)
			if err != nil {
				return param{}, fmt.Errorf("component %d (%q): %w", i, a.Components[i].Name, err)
			}
			prm.components[i] = c
		}
	} else {
		if len(a.Components) != 0 {
			return param{}, fmt.Errorf("type %q has components but is not a tuple", a.Type)
		}
		if prm.base, err = canonicalElementary(base.text); err != nil {
			return param{}, err
		}
		// internalType ("contract IERC20", "enum Side") matters to
		// go-ethereum only for tuples (the struct's name).
		prm.internalType = ""
	}
	if prm.dims, err = p.dims(); err != nil {
		return param{}, fmt.Errorf("type %q: %w", a.Type, err)
	}
	if t := p.next(); t.kind != tokEOF {
		return param{}, fmt.Errorf("type %q: unexpected %s", a.Type, t)
	}
	return prm, nil
}
