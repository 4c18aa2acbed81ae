package magento

import (
	"net/url"
	"strconv"
	"time"
)

// Filter is one searchCriteria filter. ConditionType is one of Magento's
// condition types (eq, neq, like, gt, gteq, lt, lteq, in, nin, null, notnull…);
// empty means eq.
type Filter struct {
	Field         string
	Value         string
	ConditionType string
}

// SortOrder sorts a search; Direction is ASC or DESC.
type SortOrder struct {
	Field     string
	Direction string
}

// SearchCriteria is Magento's searchCriteria: filters within a group are ORed,
// groups are ANDed.
type SearchCriteria struct {
	FilterGroups [][]Filter
	SortOrders   []SortOrder
	PageSize     int
	CurrentPage  int
}

// Where returns criteria with one group holding one filter.
func Where(field, condition, value string) SearchCriteria {
	return SearchCriteria{FilterGroups: [][]Filter{{{Field: field, Value: value, ConditionType: condition}}}}
}

// And adds a group holding one filter.
func (s SearchCriteria) And(field, condition, value string) SearchCriteria {
	s.FilterGroups = append(append([][]Filter(nil), s.FilterGroups...), []Filter{{Field: field, Value: value, ConditionType: condition}})
	return s
}

// Page sets the page size and the 1-based page.
func (s SearchCriteria) Page(size, page int) SearchCriteria {
	s.PageSize, s.CurrentPage = size, page
	return s
}

// Sort adds a sort order.
func (s SearchCriteria) Sort(field, direction string) SearchCriteria {
	s.SortOrders = append(append([]SortOrder(nil), s.SortOrders...), SortOrder{field, direction})
	return s
}

// Query encodes the criteria as Magento's bracketed query parameters.
func (s SearchCriteria) Query() url.Values {
	q := url.Values{}
	for g, group := range s.FilterGroups {
		for f, flt := range group {
			p := "searchCriteria[filterGroups][" + strconv.Itoa(g) + "][filters][" + strconv.Itoa(f) + "]"
			q.Set(p+"[field]", flt.Field)
			q.Set(p+"[value]", flt.Value)
			if flt.ConditionType != "" {
				q.Set(p+"[conditionType]", flt.ConditionType)
			}
		}
	}
	for i, so := range s.SortOrders {
		p := "searchCriteria[sortOrders][" + strconv.Itoa(i) + "]"
		q.Set(p+"[field]", so.Field)
		q.Set(p+"[direction]", so.Direction)
	}
	if s.PageSize > 0 {
		q.Set("searchCriteria[pageSize]", strconv.Itoa(s.PageSize))
	}
	if s.CurrentPage > 0 {
		q.Set("searchCriteria[currentPage]", strconv.Itoa(s.CurrentPage))
	}
	if len(q) == 0 {
		// Magento requires searchCriteria to be present.
		q.Set("searchCriteria", "")
	}
	return q
}

// MagentoTime formats t as Magento's UTC "2006-01-02 15:04:05" timestamps.
func MagentoTime(t time.Time) string { return t.UTC().Format(time.DateTime) }
