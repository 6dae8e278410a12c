package domain

import (
	"time"

	"github.com/orgplane/orgplane/pkg/apperr"
)

// BulkCreateRequestRetention is how long a bulk create's request_id is remembered at least. A
// request id exists so a client can retry after a lost answer or a crash; a week covers any
// retry, and a repeat after that is a new request (whose names then collide with the first's).
const BulkCreateRequestRetention = 7 * 24 * time.Hour

// BulkCreateRecord is what a bulk create made with a request id left behind: the names it was
// asked for and the organizations they became, index for index, in its request order.
type BulkCreateRecord struct {
	Names           []string
	OrganizationIDs []string
}

// ErrRequestIDReused refuses a request id that an earlier bulk create used for other
// organizations: answering with the earlier organizations would hand the client ones it did not
// ask for, and creating the new ones would break the id's promise.
var ErrRequestIDReused = &apperr.Error{Kind: apperr.KindConflict, Reason: "REQUEST_ID_REUSED", Field: "requestId",
	Message: "was used by an earlier bulk create of other organization names; a different request needs a new id"}

// ReplayBulkCreate answers a repeat of the bulk create rec records: the ids of its organizations
// in the order of in, the repeat's own request. The repeat must ask for the same set of names
// (in any order, which is why each name is matched rather than each position); other fields
// are not compared, since the names alone say which organizations were meant.
func ReplayBulkCreate(rec BulkCreateRecord, in []Organization) ([]string, error) {
	if len(rec.Names) != len(in) || len(rec.OrganizationIDs) != len(rec.Names) {
		return nil, ErrRequestIDReused
	}
	byName := make(map[string]string, len(rec.Names))
	for i, n := range rec.Names {
		byName[n] = rec.OrganizationIDs[i]
	}
	ids := make([]string, len(in))
	for i, o := range in {
		id, ok := byName[o.Name]
		if !ok {
			return nil, ErrRequestIDReused
		}
		// Each name matches once: equal lengths and every name matched mean equal sets.
		delete(byName, o.Name)
		ids[i] = id
	}
	return ids, nil
}
