// Package config loads a service's typed configuration from a YAML file and
// environment variables through a private viper instance.
//
// Every key has a default (the zero value of a service's Defaults), every key
// can be overridden by an environment variable named PREFIX_SECTION_KEY (for
// example OTP_MYSQL_DSN for mysql.dsn), unknown keys in the file are refused,
// and Validate on the result turns a bad value into a message that names the
// key, its environment variable and the problem. Nothing outside this package
// touches viper.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Validator is implemented by configuration structs.
type Validator interface {
	Validate() error
}

// Load fills dst, which must be a pointer to a struct already holding the
// defaults, from the YAML file at path (skipped when path is empty) and from
// environment variables with the given prefix, then validates it. The
// environment is read through getenv so tests can inject one.
func Load(dst Validator, prefix, path string, getenv func(string) string) error {
	v := viper.New()
	v.SetConfigType("yaml")
	defaults := map[string]any{}
	flatten("", reflect.ValueOf(dst).Elem(), defaults)
	keys := make([]string, 0, len(defaults))
	for k := range defaults {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := defaults[k].(mapMarker); !ok {
			v.SetDefault(k, defaults[k])
		}
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		defer f.Close()
		if err := v.ReadConfig(f); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		for _, k := range v.AllKeys() {
			if _, ok := defaults[k]; !ok && !underKnownMap(k, defaults) {
				return fmt.Errorf("config file %s: unknown key %q", path, k)
			}
		}
	}
	for _, k := range keys {
		if _, ok := defaults[k].(mapMarker); ok {
			continue
		}
		if val := getenv(EnvName(prefix, k)); val != "" {
			v.Set(k, val)
		}
	}
	err := v.Unmarshal(dst, func(dc *mapstructure.DecoderConfig) {
		dc.TagName = "mapstructure"
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
			mapstructure.TextUnmarshallerHookFunc(),
		)
	})
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := dst.Validate(); err != nil {
		var p Problems
		if errors.As(err, &p) {
			p.prefix = prefix
			return p
		}
		return err
	}
	return nil
}

// underKnownMap reports whether key lies under a map-typed default (such as
// a map of named gateways), whose entries are free-form.
func underKnownMap(key string, defaults map[string]any) bool {
	for k, d := range defaults {
		if _, ok := d.(mapMarker); ok && strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

type mapMarker struct{}

// flatten records every leaf of v under its dotted mapstructure key.
func flatten(prefix string, v reflect.Value, out map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Tag.Get("mapstructure")
		if name == "-" {
			continue
		}
		squash := strings.Contains(name, ",squash")
		name = strings.Split(name, ",")[0]
		if name == "" && !squash {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" && name != "" {
			key = prefix + "." + name
		} else if prefix != "" {
			key = prefix
		}
		fv := v.Field(i)
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}):
			flatten(key, fv, out)
		case f.Type.Kind() == reflect.Map:
			out[key] = mapMarker{} // free-form: no default, entries come from the file
		default:
			out[key] = fv.Interface()
		}
	}
}

// EnvName returns the environment variable that overrides key, for example
// EnvName("OTP", "mysql.dsn") == "OTP_MYSQL_DSN".
func EnvName(prefix, key string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Problems collects validation failures, each naming a key. It is returned by
// Validate methods; Load adds the environment variable names to its message.
type Problems struct {
	list   []problem
	prefix string
}

type problem struct{ key, msg string }

// Add records that key has a problem.
func (p *Problems) Add(key, format string, args ...any) {
	p.list = append(p.list, problem{key, fmt.Sprintf(format, args...)})
}

// Merge records q's problems under the key prefix section.
func (p *Problems) Merge(section string, err error) {
	if err == nil {
		return
	}
	var q Problems
	if !errors.As(err, &q) {
		p.Add(section, "%v", err)
		return
	}
	for _, pr := range q.list {
		key := pr.key
		if section != "" {
			key = section + "." + key
		}
		p.list = append(p.list, problem{key, pr.msg})
	}
}

// Err returns p when it holds problems, else nil.
func (p Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return p
}

func (p Problems) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, pr := range p.list {
		b.WriteString("\n  ")
		b.WriteString(pr.key)
		if p.prefix != "" {
			b.WriteString(" (" + EnvName(p.prefix, pr.key) + ")")
		}
		b.WriteString(": ")
		b.WriteString(pr.msg)
	}
	return b.String()
}

// Keys returns the keys that have problems, in order.
func (p Problems) Keys() []string {
	out := make([]string, len(p.list))
	for i, pr := range p.list {
		out[i] = pr.key
	}
	return out
}
