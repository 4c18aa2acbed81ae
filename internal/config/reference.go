package config

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Row describes one configuration key.
type Row struct {
	Key     string // dotted key, e.g. mysql.dsn
	Env     string // environment variable, e.g. OTP_MYSQL_DSN
	Default string // the default, "" when none; secrets are shown as "(secret)"
	Meaning string // from the field's `desc` tag
}

// Reference lists every key of cfg (a pointer to a struct holding defaults),
// sorted by key, for documentation.
func Reference(cfg any, prefix string) []Row {
	var rows []Row
	describe("", reflect.ValueOf(cfg).Elem(), prefix, &rows)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

func describe(parent string, v reflect.Value, prefix string, rows *[]Row) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("mapstructure")
		if tag == "-" {
			continue
		}
		name := strings.Split(tag, ",")[0]
		squash := strings.Contains(tag, ",squash")
		if name == "" && !squash {
			name = strings.ToLower(f.Name)
		}
		key := name
		if parent != "" {
			key = parent
			if name != "" {
				key = parent + "." + name
			}
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
			describe(key, fv, prefix, rows)
			continue
		}
		r := Row{Key: key, Meaning: f.Tag.Get("desc")}
		if f.Type.Kind() == reflect.Map {
			r.Key += ".<name>"
			r.Default = "(none)"
			r.Env = "(file only)"
		} else {
			r.Env = EnvName(prefix, key)
			r.Default = show(fv)
		}
		*rows = append(*rows, r)
	}
}

func show(v reflect.Value) string {
	if s, ok := v.Interface().(Secret); ok {
		if s == "" {
			return ""
		}
		return "(secret)"
	}
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	case reflect.Int64:
		if d, ok := v.Interface().(time.Duration); ok {
			return d.String()
		}
	}
	return fmt.Sprint(v.Interface())
}

// WriteMarkdown writes rows as a Markdown table.
func WriteMarkdown(w io.Writer, rows []Row) error {
	if _, err := fmt.Fprintln(w, "| key | environment variable | default | meaning |\n|---|---|---|---|"); err != nil {
		return err
	}
	for _, r := range rows {
		d := r.Default
		if d != "" {
			d = "`" + d + "`"
		}
		if _, err := fmt.Fprintf(w, "| `%s` | `%s` | %s | %s |\n", r.Key, r.Env, d, r.Meaning); err != nil {
			return err
		}
	}
	return nil
}
