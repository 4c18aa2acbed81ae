package magentosandbox

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/magefleet/platform/internal/magento"
)

type criteria struct {
	groups      [][]magento.FilterEcho
	sortField   string
	sortDesc    bool
	pageSize    int
	currentPage int
}

var (
	filterKey = regexp.MustCompile(`^searchCriteria\[(?:filterGroups|filter_groups)\]\[(\d+)\]\[filters\]\[(\d+)\]\[(field|value|conditionType|condition_type)\]$`)
	sortKey   = regexp.MustCompile(`^searchCriteria\[(?:sortOrders|sort_orders)\]\[(\d+)\]\[(field|direction)\]$`)
)

// parseCriteria reads Magento's bracketed searchCriteria query parameters.
func parseCriteria(q url.Values) (criteria, error) {
	var c criteria
	present := false
	groups := map[int]map[int]*magento.FilterEcho{}
	for k, vs := range q {
		if !strings.HasPrefix(k, "searchCriteria") {
			continue
		}
		present = true
		v := vs[0]
		if m := filterKey.FindStringSubmatch(k); m != nil {
			g, _ := strconv.Atoi(m[1])
			f, _ := strconv.Atoi(m[2])
			if groups[g] == nil {
				groups[g] = map[int]*magento.FilterEcho{}
			}
			if groups[g][f] == nil {
				groups[g][f] = &magento.FilterEcho{}
			}
			switch m[3] {
			case "field":
				groups[g][f].Field = v
			case "value":
				groups[g][f].Value = v
			default:
				groups[g][f].ConditionType = v
			}
			continue
		}
		if m := sortKey.FindStringSubmatch(k); m != nil && m[1] == "0" {
			if m[2] == "field" {
				c.sortField = v
			} else {
				c.sortDesc = strings.EqualFold(v, "DESC")
			}
			continue
		}
		switch k {
		case "searchCriteria[pageSize]", "searchCriteria[page_size]":
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, errf(http.StatusBadRequest, `The "%1" value's type is invalid. The "%2" type was expected. Verify and try again.`, []string{v, "int"})
			}
			c.pageSize = n
		case "searchCriteria[currentPage]", "searchCriteria[current_page]":
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, errf(http.StatusBadRequest, `The "%1" value's type is invalid. The "%2" type was expected. Verify and try again.`, []string{v, "int"})
			}
			c.currentPage = n
		}
	}
	if !present {
		return c, errf(http.StatusBadRequest, `"%fieldName" is required. Enter and try again.`, map[string]string{"fieldName": "searchCriteria"})
	}
	gi := make([]int, 0, len(groups))
	for g := range groups {
		gi = append(gi, g)
	}
	sort.Ints(gi)
	for _, g := range gi {
		fi := make([]int, 0, len(groups[g]))
		for f := range groups[g] {
			fi = append(fi, f)
		}
		sort.Ints(fi)
		var group []magento.FilterEcho
		for _, f := range fi {
			flt := *groups[g][f]
			if flt.ConditionType == "" {
				flt.ConditionType = "eq"
			}
			group = append(group, flt)
		}
		c.groups = append(c.groups, group)
	}
	return c, nil
}

// fieldsOf flattens a record's top-level scalar JSON fields to strings.
func fieldsOf(v any) map[string]string {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch t := x.(type) {
		case string:
			out[k] = t
		case float64:
			out[k] = strconv.FormatFloat(t, 'f', -1, 64)
		case bool:
			if t {
				out[k] = "1"
			} else {
				out[k] = "0"
			}
		}
	}
	return out
}

func compare(a, b string) int {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(collate(a), collate(b))
}

// collate returns the form in which Magento's MySQL collation
// (utf8mb4_general_ci, the default of its text columns) compares s: case
// and accents are ignored, so "JÄNE@Gmáil.com" equals "jane@gmail.com".
// Letters of other scripts stay distinct (Cyrillic а is not a).
func collate(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func likeRE(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func matchFilter(f magento.FilterEcho, fields map[string]string) bool {
	v, has := fields[f.Field]
	switch strings.ToLower(f.ConditionType) {
	case "neq":
		return compare(v, f.Value) != 0
	case "like":
		return has && likeRE(f.Value).MatchString(v)
	case "nlike":
		return !has || !likeRE(f.Value).MatchString(v)
	case "gt":
		return has && compare(v, f.Value) > 0
	case "gteq", "from":
		return has && compare(v, f.Value) >= 0
	case "lt":
		return has && compare(v, f.Value) < 0
	case "lteq", "to":
		return has && compare(v, f.Value) <= 0
	case "in", "nin":
		in := false
		for _, x := range strings.Split(f.Value, ",") {
			if has && compare(v, strings.TrimSpace(x)) == 0 {
				in = true
			}
		}
		return in == (strings.ToLower(f.ConditionType) == "in")
	case "null":
		return !has || v == ""
	case "notnull":
		return has && v != ""
	case "finset":
		for _, x := range strings.Split(v, ",") {
			if x == f.Value {
				return true
			}
		}
		return false
	default: // eq
		return has && compare(v, f.Value) == 0
	}
}

// apply filters (groups ANDed, filters within a group ORed), sorts and pages
// records. Like Magento's collections, a currentPage beyond the last page
// answers the last page.
func apply[T any](c criteria, records []T, extra func(T, map[string]string)) ([]T, int) {
	type row struct {
		rec    T
		fields map[string]string
	}
	var rows []row
	for _, rec := range records {
		f := fieldsOf(rec)
		if extra != nil {
			extra(rec, f)
		}
		ok := true
		for _, g := range c.groups {
			any := false
			for _, flt := range g {
				if matchFilter(flt, f) {
					any = true
					break
				}
			}
			if !any {
				ok = false
				break
			}
		}
		if ok {
			rows = append(rows, row{rec, f})
		}
	}
	if c.sortField != "" {
		sort.SliceStable(rows, func(i, j int) bool {
			cmp := compare(rows[i].fields[c.sortField], rows[j].fields[c.sortField])
			if c.sortDesc {
				return cmp > 0
			}
			return cmp < 0
		})
	}
	total := len(rows)
	if c.pageSize > 0 && total > 0 {
		pages := (total + c.pageSize - 1) / c.pageSize
		page := c.currentPage
		if page < 1 {
			page = 1
		}
		if page > pages {
			page = pages
		}
		start := (page - 1) * c.pageSize
		end := min(start+c.pageSize, total)
		rows = rows[start:end]
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = r.rec
	}
	return out, total
}

func (c criteria) echo() magento.SearchCriteriaEcho {
	e := magento.SearchCriteriaEcho{FilterGroups: []magento.FilterGroupEcho{}, PageSize: c.pageSize, CurrentPage: c.currentPage}
	for _, g := range c.groups {
		e.FilterGroups = append(e.FilterGroups, magento.FilterGroupEcho{Filters: g})
	}
	return e
}
