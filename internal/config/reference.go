package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Row is one key of a reference: its full dotted path and description.
type Row struct {
	Path string
	Field
}

// Rows flattens fields into reference rows, with prefix before each path;
// the keys of a list of objects are written path[].key.
func Rows(prefix string, fields []Field) []Row {
	var out []Row
	for _, f := range fields {
		p := f.Key
		if prefix != "" {
			p = prefix + "." + f.Key
		}
		out = append(out, Row{Path: p, Field: f})
		switch {
		case strings.HasPrefix(f.Type, "list of object") && f.Fields != nil:
			out = append(out, Rows(p+"[]", f.Fields)...)
		case f.Fields != nil:
			out = append(out, Rows(p, f.Fields)...)
		}
	}
	return out
}

// describe is a row's doc with its constraints appended.
func (r Row) describe() string {
	d := r.Doc
	var extra []string
	if r.Required {
		extra = append(extra, "required")
	}
	if len(r.Enum) > 0 {
		extra = append(extra, "one of "+strings.Join(r.Enum, ", "))
	}
	if r.Min != "" {
		extra = append(extra, "at least "+r.Min)
	}
	if r.Max != "" {
		extra = append(extra, "at most "+r.Max)
	}
	if r.Ref != "" {
		extra = append(extra, "names a declared "+r.Ref)
	}
	if len(extra) > 0 {
		if d != "" {
			d += "; "
		}
		d += strings.Join(extra, "; ")
	}
	return d
}

// WriteMarkdown writes rows as a Markdown table.
func WriteMarkdown(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| key | type | default | description |\n| --- | --- | --- | --- |\n")
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	for _, r := range rows {
		def := ""
		if r.Default != "" {
			def = "`" + r.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.Path, r.Type, def, esc.Replace(r.describe()))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes rows as aligned plain-text columns for a terminal.
func WriteText(w io.Writer, indent string, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		def := r.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", indent, r.Path, r.Type, def, r.describe())
	}
	return tw.Flush()
}
