package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Raw is a configuration mapping kept undecoded, for sections whose shape is
// decided later (a feed entry is decoded by its plugin type's spec).
type Raw map[string]any

// Field describes one configuration key, as declared by a struct field's tags:
//
//	yaml:"key"          the key (required; fields without it are not configuration)
//	default:"10s"       the value when the key is absent
//	doc:"one line"      what the key does, for the reference
//	required:"true"     the key must be present and non-empty
//	enum:"a,b,c"        the allowed values
//	min:"0" max:"1"     bounds for numbers and durations (durations are never negative)
//	ref:"feed"          the value (or each value of a list) names a declared thing of that kind
type Field struct {
	Key      string   `json:"key"`
	Type     string   `json:"type"`
	Default  string   `json:"default,omitempty"`
	Doc      string   `json:"doc,omitempty"`
	Required bool     `json:"required,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Min      string   `json:"min,omitempty"`
	Max      string   `json:"max,omitempty"`
	Ref      string   `json:"ref,omitempty"`
	// Fields describes the keys of an object or of each element of a list of objects.
	Fields []Field `json:"fields,omitempty"`

	index []int
	rtype reflect.Type
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	rawType      = reflect.TypeFor[Raw]()
)

// FieldsOf describes the configuration keys of the struct v (or *v), in
// declaration order. It panics when a tag is malformed: specs are fixed at
// compile time, so that is a programming error.
func FieldsOf(v any) []Field {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return fieldsOfType(t)
}

func fieldsOfType(t reflect.Type) []Field {
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: %s is not a struct", t))
	}
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !sf.IsExported() {
			continue
		}
		f := Field{
			Key:      key,
			Default:  sf.Tag.Get("default"),
			Doc:      sf.Tag.Get("doc"),
			Required: sf.Tag.Get("required") == "true",
			Min:      sf.Tag.Get("min"),
			Max:      sf.Tag.Get("max"),
			Ref:      sf.Tag.Get("ref"),
			index:    sf.Index,
			rtype:    sf.Type,
		}
		if e := sf.Tag.Get("enum"); e != "" {
			f.Enum = strings.Split(e, ",")
		}
		f.Type = typeName(sf.Type)
		switch {
		case sf.Type == rawType || sf.Type == durationType:
		case sf.Type.Kind() == reflect.Struct:
			f.Fields = fieldsOfType(sf.Type)
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct:
			f.Fields = fieldsOfType(sf.Type.Elem())
		}
		if f.Default != "" {
			if _, err := convert(f.Default, sf.Type); err != nil {
				panic(fmt.Sprintf("config: default of %s.%s: %v", t, sf.Name, err))
			}
		}
		out = append(out, f)
	}
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == rawType:
		return "object"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "int"
	case reflect.Float64, reflect.Float32:
		return "float"
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	}
	return t.String()
}

// Keys returns the keys of fields.
func Keys(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Key
	}
	return out
}

// Leaves returns the dotted key paths (joined by sep) of every scalar or
// scalar-list field below fields, descending into objects but not into lists
// of objects. Loaders use it to bind environment variables.
func Leaves(fields []Field, sep string) []string {
	var out []string
	var walk func(prefix string, fs []Field)
	walk = func(prefix string, fs []Field) {
		for _, f := range fs {
			k := f.Key
			if prefix != "" {
				k = prefix + sep + f.Key
			}
			switch {
			case f.Type == "object" && f.Fields != nil:
				walk(k, f.Fields)
			case f.Type == "object", strings.HasPrefix(f.Type, "list of object"), strings.HasPrefix(f.Type, "map of"):
			default:
				out = append(out, k)
			}
		}
	}
	walk("", fields)
	return out
}
