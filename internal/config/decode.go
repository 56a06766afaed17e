package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Refs answers whether name is a declared thing of kind (a "feed", a
// "chain"), and lists the declared names for suggestions. A nil Refs checks
// nothing.
type Refs func(kind, name string) (ok bool, declared []string)

// Validator is implemented by configuration structs with rules that span
// fields. Validate runs after the struct's own fields were decoded and checked.
type Validator interface {
	Validate(v *Validation)
}

// Validation is handed to Validate to report problems below the struct's path.
type Validation struct {
	path     string
	problems *Problems
	refs     Refs
}

// Path returns the YAML path of key below the validated struct ("" for the
// struct itself). key may hold an index, e.g. "sources[1]".
func (v *Validation) Path(key string) string {
	switch {
	case key == "":
		return v.path
	case strings.HasPrefix(key, "["):
		return v.path + key
	}
	return Join(v.path, key)
}

// Errorf records a problem with key of the validated struct.
func (v *Validation) Errorf(key, format string, args ...any) {
	v.problems.Add(v.Path(key), format, args...)
}

// Ref reports whether name is a declared thing of kind, recording a problem at
// key (with a suggestion) when it is not. Without a Refs it accepts anything.
func (v *Validation) Ref(key, kind, name string) bool {
	return checkRef(v.refs, v.problems, v.Path(key), kind, name)
}

func checkRef(refs Refs, ps *Problems, path, kind, name string) bool {
	if refs == nil || name == "" {
		return true
	}
	ok, declared := refs(kind, name)
	if !ok {
		msg := fmt.Sprintf("no %s named %q is declared", kind, name)
		if len(declared) > 0 {
			msg += "; declared: " + strings.Join(declared, ", ") + didYouMean(name, declared)
		}
		ps.Add(path, "%s", msg)
	}
	return ok
}

// Decoder turns a configuration mapping into structs described by their tags.
type Decoder struct {
	// Refs checks fields tagged with ref; nil checks nothing.
	Refs Refs
}

// Decode fills out (a pointer to a struct) from in (a mapping as YAML yields
// it, or nil for all defaults), at path. Absent keys take their defaults; every
// problem found is added to ps, and decoding goes on past it so that one pass
// reports everything.
func (d Decoder) Decode(path string, in any, out any, ps *Problems) {
	d.DecodeAll(path, in, []any{out}, ps)
}

// DecodeAll decodes one mapping into several structs that share it: each
// takes the keys it declares, and a key that none declares is a problem. A
// plugin instance's entry is decoded this way, into the common instance fields
// and the plugin's own.
func (d Decoder) DecodeAll(path string, in any, outs []any, ps *Problems) {
	m, ok := asMap(in)
	if !ok {
		ps.Add(path, "want a mapping of keys to values, got %s", show(in))
		m = nil
	}
	var known []string
	for _, out := range outs {
		known = append(known, Keys(FieldsOf(out))...)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			ps.Add(Join(path, k), "unknown key%s (known: %s)", didYouMean(k, known), strings.Join(known, ", "))
		}
	}
	for _, out := range outs {
		rv := reflect.ValueOf(out)
		if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("config: Decode into %T, want a pointer to a struct", out))
		}
		d.decodeStruct(path, m, rv.Elem(), ps)
	}
}

func asMap(in any) (map[string]any, bool) {
	switch m := in.(type) {
	case nil:
		return nil, true
	case map[string]any:
		return m, true
	case Raw:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

func (d Decoder) decodeStruct(path string, m map[string]any, rv reflect.Value, ps *Problems) {
	for _, f := range fieldsOfType(rv.Type()) {
		fp := Join(path, f.Key)
		fv := rv.FieldByIndex(f.index)
		raw, present := m[f.Key]
		if raw == nil {
			present = false
		}
		if !present {
			if f.Default != "" {
				v, _ := convert(f.Default, f.rtype)
				fv.Set(v)
			} else if f.rtype.Kind() == reflect.Struct && f.rtype != durationType {
				d.decodeStruct(fp, nil, fv, ps)
			}
			if f.Required && f.Default == "" {
				ps.Add(fp, "required%s", docHint(f))
			}
			continue
		}
		before := len(*ps)
		d.decodeValue(fp, raw, fv, f, ps)
		if len(*ps) > before {
			continue
		}
		empty := fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0
		if f.Required && empty {
			ps.Add(fp, "required, got an empty value%s", docHint(f))
			continue
		}
		checkEnum(fp, fv, f, ps)
		checkBounds(fp, fv, f, ps)
		if f.Ref != "" {
			switch fv.Kind() {
			case reflect.String:
				checkRef(d.Refs, ps, fp, f.Ref, fv.String())
			case reflect.Slice:
				for i := 0; i < fv.Len(); i++ {
					if e := fv.Index(i); e.Kind() == reflect.String {
						checkRef(d.Refs, ps, Index(fp, i), f.Ref, e.String())
					}
				}
			}
		}
	}
	if v, ok := rv.Addr().Interface().(Validator); ok {
		v.Validate(&Validation{path: path, problems: ps, refs: d.Refs})
	}
}

func docHint(f Field) string {
	if f.Doc == "" {
		return ""
	}
	return " (" + f.Doc + ")"
}

func (d Decoder) decodeValue(path string, raw any, fv reflect.Value, f Field, ps *Problems) {
	t := fv.Type()
	switch {
	case t == rawType:
		m, ok := asMap(raw)
		if !ok || raw == nil {
			ps.Add(path, "want a mapping, got %s", show(raw))
			return
		}
		fv.Set(reflect.ValueOf(Raw(m)))
	case t.Kind() == reflect.Struct && t != durationType:
		m, ok := asMap(raw)
		if !ok {
			ps.Add(path, "want a mapping, got %s", show(raw))
			return
		}
		keys := Keys(f.Fields)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(keys, k) {
				ps.Add(Join(path, k), "unknown key%s (known: %s)", didYouMean(k, keys), strings.Join(keys, ", "))
			}
		}
		d.decodeStruct(path, m, fv, ps)
	case t.Kind() == reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			if s, isStr := raw.(string); isStr && scalarKind(t.Elem()) {
				list = splitList(s) // from an environment variable: "a,b c"
			} else {
				ps.Add(path, "want a list, got %s", show(raw))
				return
			}
		}
		out := reflect.MakeSlice(t, len(list), len(list))
		for i, e := range list {
			ef := Field{Key: f.Key, Fields: f.Fields, rtype: t.Elem()}
			d.decodeValue(Index(path, i), e, out.Index(i), ef, ps)
		}
		fv.Set(out)
	case t.Kind() == reflect.Map:
		m, ok := asMap(raw)
		if !ok {
			ps.Add(path, "want a mapping, got %s", show(raw))
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		ef := Field{rtype: t.Elem()}
		if t.Elem().Kind() == reflect.Struct && t.Elem() != durationType {
			ef.Fields = fieldsOfType(t.Elem())
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ev := reflect.New(t.Elem()).Elem()
			ef.Key = k
			d.decodeValue(Join(path, k), m[k], ev, ef, ps)
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		fv.Set(out)
	default:
		v, err := convert(raw, t)
		if err != nil {
			ps.Add(path, "%v", err)
			return
		}
		fv.Set(v)
	}
}

func splitList(s string) []any {
	var out []any
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, p)
	}
	return out
}

// convert turns a scalar from YAML (or a default tag, or an environment
// variable, both strings) into a value of type t.
func convert(raw any, t reflect.Type) (reflect.Value, error) {
	out := reflect.New(t).Elem()
	s, isString := raw.(string)
	switch {
	case t == durationType:
		switch x := raw.(type) {
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(x))
			if err != nil {
				return out, fmt.Errorf("want a duration such as \"500ms\", \"10s\" or \"1m30s\", got %q", x)
			}
			if d < 0 {
				return out, fmt.Errorf("want a duration of zero or more, got %q", x)
			}
			out.SetInt(int64(d))
		case int:
			if x != 0 {
				return out, fmt.Errorf("want a duration with a unit such as \"%ds\", got %d", x, x)
			}
		default:
			return out, fmt.Errorf("want a duration such as \"10s\", got %s", show(raw))
		}
	case t.Kind() == reflect.String:
		switch x := raw.(type) {
		case string, int, int64, float64, bool, uint64:
			out.SetString(fmt.Sprint(raw))
		case time.Time: // YAML reads an unquoted 2024-01-02 as a timestamp
			if x.Equal(x.Truncate(24*time.Hour)) && x.Location() == time.UTC {
				out.SetString(x.Format(time.DateOnly))
			} else {
				out.SetString(x.Format(time.RFC3339Nano))
			}
		default:
			return out, fmt.Errorf("want a string, got %s", show(raw))
		}
	case t.Kind() == reflect.Bool:
		switch x := raw.(type) {
		case bool:
			out.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				return out, fmt.Errorf("want true or false, got %q", x)
			}
			out.SetBool(b)
		default:
			return out, fmt.Errorf("want true or false, got %s", show(raw))
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64, t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		var n int64
		switch x := raw.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case uint64:
			if x > math.MaxInt64 {
				return out, fmt.Errorf("want a whole number, got %v (too large)", x)
			}
			n = int64(x)
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return out, fmt.Errorf("want a whole number, got %v", x)
			}
			n = int64(x)
		case string:
			var err error
			n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return out, fmt.Errorf("want a whole number, got %q", x)
			}
		default:
			return out, fmt.Errorf("want a whole number, got %s", show(raw))
		}
		if t.Kind() >= reflect.Uint {
			if n < 0 {
				return out, fmt.Errorf("want a whole number of zero or more, got %d", n)
			}
			if out.OverflowUint(uint64(n)) {
				return out, fmt.Errorf("want a whole number, got %d (out of range)", n)
			}
			out.SetUint(uint64(n))
		} else {
			if out.OverflowInt(n) {
				return out, fmt.Errorf("want a whole number, got %d (out of range)", n)
			}
			out.SetInt(n)
		}
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		var x float64
		switch v := raw.(type) {
		case float64:
			x = v
		case int:
			x = float64(v)
		case int64:
			x = float64(v)
		case uint64:
			x = float64(v)
		case string:
			var err error
			x, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return out, fmt.Errorf("want a number, got %q", v)
			}
		default:
			return out, fmt.Errorf("want a number, got %s", show(raw))
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return out, fmt.Errorf("want a finite number, got %v", x)
		}
		if out.OverflowFloat(x) {
			return out, fmt.Errorf("want a number, got %v (out of range)", x)
		}
		out.SetFloat(x)
	default:
		if isString {
			return out, fmt.Errorf("unsupported configuration type %s for %q", t, s)
		}
		return out, fmt.Errorf("unsupported configuration type %s", t)
	}
	return out, nil
}

func checkEnum(path string, fv reflect.Value, f Field, ps *Problems) {
	if len(f.Enum) == 0 {
		return
	}
	check := func(p string, v reflect.Value) {
		s := fmt.Sprint(v.Interface())
		if !slices.Contains(f.Enum, s) {
			ps.Add(p, "%q is not allowed; want one of %s%s", s, strings.Join(f.Enum, ", "), didYouMean(s, f.Enum))
		}
	}
	if fv.Kind() == reflect.Slice {
		for i := 0; i < fv.Len(); i++ {
			check(Index(path, i), fv.Index(i))
		}
		return
	}
	check(path, fv)
}

func checkBounds(path string, fv reflect.Value, f Field, ps *Problems) {
	if f.Min == "" && f.Max == "" {
		return
	}
	if fv.Kind() == reflect.Slice {
		for i := 0; i < fv.Len(); i++ {
			checkBounds(Index(path, i), fv.Index(i), f, ps)
		}
		return
	}
	num := func(v reflect.Value) float64 {
		switch {
		case v.CanInt():
			return float64(v.Int())
		case v.CanUint():
			return float64(v.Uint())
		case v.CanFloat():
			return v.Float()
		}
		return math.NaN()
	}
	bound := func(s string) float64 {
		b, err := convert(s, fv.Type())
		if err != nil {
			panic(fmt.Sprintf("config: bound %q of %s: %v", s, path, err))
		}
		return num(b)
	}
	x := num(fv)
	if math.IsNaN(x) {
		return
	}
	shown := fmt.Sprint(fv.Interface())
	if f.Min != "" && x < bound(f.Min) {
		ps.Add(path, "%s is too small; want at least %s", shown, f.Min)
	}
	if f.Max != "" && x > bound(f.Max) {
		ps.Add(path, "%s is too large; want at most %s", shown, f.Max)
	}
}

// scalarKind reports whether t is decoded from a single YAML scalar.
func scalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
