package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/orgplane/orgplane/pkg/apperr"
	orgv1 "github.com/orgplane/orgplane/pkg/gen/orgplane/org/v1"
	"github.com/orgplane/orgplane/pkg/identity"
	"github.com/orgplane/orgplane/pkg/postgres"
)

// MaxDepth bounds sub-organization nesting: a top-level organization is depth 1.
const MaxDepth = 5

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func restrictedCaller(id identity.Identity) bool {
	r, _ := visibility(id)
	return r
}

// ReactivationCooldown is how long a deactivated organization stays deactivated before it may
// take a license again (without a platform operator's override).
const ReactivationCooldown = 12 // months

const orgColumns = `o.id::text, o.name, coalesce(o.type_id::text, ''), coalesce(o.status_id::text, ''),
	coalesce(o.parent_id::text, ''), coalesce(o.default_engineer_id::text, ''), coalesce(o.default_vcio_id::text, ''),
	coalesce((SELECT array_agg(og.group_id::text ORDER BY og.group_id) FROM organization_groups og WHERE og.organization_id = o.id), '{}'),
	o.notes, o.active, o.deactivated_at, EXISTS (SELECT 1 FROM logos l WHERE l.organization_id = o.id), o.created_at, o.updated_at`

// visibleSQL keeps only organizations the caller may see: r is the placeholder of "restricted
// to groups", g that of the groups. Written once so lists, gets, updates and deletes cannot disagree.
func visibleSQL(r, g string) string {
	return `(` + r + ` = false OR EXISTS (SELECT 1 FROM organization_groups vg
		WHERE vg.organization_id = o.id AND vg.group_id = ANY(` + g + `::uuid[])))`
}

func scanOrg(row pgx.Row) (*orgv1.Organization, error) {
	o := &orgv1.Organization{}
	var active bool
	var deactivated *time.Time
	var created, updated time.Time
	err := row.Scan(&o.Id, &o.Name, &o.TypeId, &o.StatusId, &o.ParentId, &o.DefaultEngineerId, &o.DefaultVcioId,
		&o.GroupIds, &o.Notes, &active, &deactivated, &o.HasLogo, &created, &updated)
	if err != nil {
		return nil, err
	}
	o.State = orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE
	if active {
		o.State = orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE
	}
	if deactivated != nil {
		o.DeactivateTime = timestamppb.New(*deactivated)
	}
	o.CreateTime, o.UpdateTime = timestamppb.New(created), timestamppb.New(updated)
	return o, nil
}

// readOrg reads an organization the caller may see; lock takes a row lock for a change.
func readOrg(ctx context.Context, tx pgx.Tx, id identity.Identity, orgID string, lock bool) (*orgv1.Organization, error) {
	restricted, groups := visibility(id)
	q := `SELECT ` + orgColumns + ` FROM organizations o WHERE o.id = $1 AND ` + visibleSQL("$2", "$3")
	if lock {
		q += ` FOR UPDATE OF o`
	}
	o, err := scanOrg(tx.QueryRow(ctx, q, orgID, restricted, groups))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrOrganizationNotFound
	}
	return o, err
}

// orgWriteErr explains constraint failures of organization writes in terms of the request.
func orgWriteErr(err error, field string) error {
	switch postgres.ConstraintName(err) {
	case "organizations_account_id_name_key":
		return ErrDuplicateName.Wrap(err)
	case "organizations_account_id_type_id_fkey":
		return apperr.Invalid(field+".type_id", "is not an organization type of this account")
	case "organizations_account_id_status_id_fkey":
		return apperr.Invalid(field+".status_id", "is not an organization status of this account")
	case "organizations_account_id_parent_id_fkey":
		return apperr.Invalid(field+".parent_id", "is not an organization of this account")
	case "organizations_account_id_default_engineer_id_fkey":
		return apperr.Invalid(field+".default_engineer_id", "is not a user of this account")
	case "organizations_account_id_default_vcio_id_fkey":
		return apperr.Invalid(field+".default_vcio_id", "is not a user of this account")
	case "organization_groups_account_id_group_id_fkey":
		return apperr.Invalid(field+".group_ids", "names a group that does not exist")
	}
	return postgres.Translate(err)
}

// takeLicenses counts n more active organizations in, if they fit. It is one statement that
// checks and increments under the row lock, and callers run it last in their transaction: the
// lock serializes every create of the account, so it is held only from here to the commit.
// created says how many of them are new organizations (rather than reactivated ones).
func takeLicenses(ctx context.Context, tx pgx.Tx, n, created int) error {
	tag, err := tx.Exec(ctx, `UPDATE account_limits SET active_count = active_count + $1, total_count = total_count + $2
		WHERE writable AND (organization_limit IS NULL OR active_count + $1 <= organization_limit)`, n, created)
	if err != nil {
		return fmt.Errorf("take licenses: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var limit *int
	var writable bool
	var used int
	if err := tx.QueryRow(ctx, `SELECT organization_limit, writable, active_count FROM account_limits`).Scan(&limit, &writable, &used); err != nil {
		return fmt.Errorf("read license limit: %w", err)
	}
	if !writable {
		return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SUBSCRIPTION_INACTIVE",
			Message: "the subscription does not allow creating, importing or reactivating organizations"}
	}
	l := 0
	if limit != nil {
		l = *limit
	}
	return &apperr.Error{Kind: apperr.KindResourceExhausted, Reason: "LICENSE_LIMIT", QuotaSubject: "organization licenses",
		Message: fmt.Sprintf("license limit reached: %d of %d licenses in use, %d remaining", used, l, max(l-used, 0))}
}

// releaseLicenses counts n active organizations out, of which deleted are gone altogether.
func releaseLicenses(ctx context.Context, tx pgx.Tx, n, deleted int) error {
	if n == 0 && deleted == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE account_limits SET active_count = active_count - $1, total_count = total_count - $2`, n, deleted)
	return err
}

// checkParent refuses a parent the caller cannot see, a cycle, or nesting deeper than MaxDepth.
// subtreeHeight is the height of the organization being placed (1 for a leaf).
func checkParent(ctx context.Context, tx pgx.Tx, id identity.Identity, orgID, parentID string, subtreeHeight int, field string) error {
	if parentID == "" {
		return nil
	}
	if parentID == orgID {
		return apperr.Invalid(field+".parent_id", "an organization cannot be its own parent")
	}
	if _, err := readOrg(ctx, tx, id, parentID, false); err != nil {
		if errors.Is(err, ErrOrganizationNotFound) {
			return apperr.Invalid(field+".parent_id", "is not an organization of this account")
		}
		return err
	}
	// Walk up from the parent: the organization itself on the way is a cycle.
	var depth int
	var cycle bool
	err := tx.QueryRow(ctx, `WITH RECURSIVE up(id, parent_id, depth) AS (
			SELECT id, parent_id, 1 FROM organizations WHERE id = $1
			UNION ALL
			SELECT o.id, o.parent_id, up.depth + 1 FROM organizations o JOIN up ON o.id = up.parent_id WHERE up.depth < 100
		) SELECT max(depth), coalesce(bool_or(id = nullif($2, '')::uuid), false) FROM up`, parentID, orgID).Scan(&depth, &cycle)
	if err != nil {
		return err
	}
	if cycle {
		return apperr.Invalid(field+".parent_id", "would make the organization its own ancestor")
	}
	if depth+subtreeHeight > MaxDepth {
		return apperr.Invalidf(field+".parent_id", "would nest organizations %d levels deep; the limit is %d", depth+subtreeHeight, MaxDepth)
	}
	return nil
}

func setOrgGroups(ctx context.Context, tx pgx.Tx, accountID, orgID string, groups []string, field string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM organization_groups WHERE organization_id = $1`, orgID); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO organization_groups (account_id, organization_id, group_id)
		SELECT $1, $2, unnest($3::uuid[])`, accountID, orgID, groups)
	return orgWriteErr(err, field)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// CreateOrganization creates an active organization, taking a license.
func (s *Service) CreateOrganization(ctx context.Context, accountID string, o *orgv1.Organization) (*orgv1.Organization, error) {
	id, err := caller(ctx, accountID, write(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	if o.GetName() == "" {
		return nil, apperr.Invalid("organization.name", "is required")
	}
	var out *orgv1.Organization
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		if err := checkParent(ctx, tx, id, "", o.GetParentId(), 1, "organization"); err != nil {
			return err
		}
		now := s.now()
		var orgID string
		var created time.Time
		err := tx.QueryRow(ctx, `INSERT INTO organizations (account_id, name, type_id, status_id, parent_id,
				default_engineer_id, default_vcio_id, notes, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id::text, created_at`,
			accountID, o.GetName(), nullable(o.GetTypeId()), nullable(o.GetStatusId()), nullable(o.GetParentId()),
			nullable(o.GetDefaultEngineerId()), nullable(o.GetDefaultVcioId()), o.GetNotes(), now).Scan(&orgID, &created)
		if err != nil {
			return orgWriteErr(err, "organization")
		}
		groups := o.GetGroupIds()
		if len(groups) > 0 {
			if err := setOrgGroups(ctx, tx, accountID, orgID, groups, "organization"); err != nil {
				return err
			}
		}
		// Everything is known without reading the row back: a round trip saved on the hot path.
		out = &orgv1.Organization{Id: orgID, Name: o.GetName(), TypeId: o.GetTypeId(), StatusId: o.GetStatusId(),
			ParentId: o.GetParentId(), DefaultEngineerId: o.GetDefaultEngineerId(), DefaultVcioId: o.GetDefaultVcioId(),
			GroupIds: sortedCopy(groups), Notes: o.GetNotes(), State: orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE,
			CreateTime: timestamppb.New(created), UpdateTime: timestamppb.New(created)}
		if err := s.enqueue(ctx, tx, &orgv1.OrganizationCreated{AccountId: accountID, Organization: out}); err != nil {
			return err
		}
		return takeLicenses(ctx, tx, 1, 1)
	})
	return out, err
}

// GetOrganization returns an organization the caller may see.
func (s *Service) GetOrganization(ctx context.Context, accountID, orgID string) (*orgv1.Organization, error) {
	id, err := caller(ctx, accountID, read(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	var out *orgv1.Organization
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		out, err = readOrg(ctx, tx, id, orgID, false)
		return err
	})
	return out, err
}

// orgCursor is the keyset position of a page; F binds it to the filters it was made for.
type orgCursor struct {
	Name string `json:"n"`
	ID   string `json:"i"`
	F    string `json:"f"`
}

func filterKey(req *orgv1.ListOrganizationsRequest) string {
	return strings.Join([]string{req.GetQuery(), req.GetState().String(), req.GetGroupId(), req.GetTypeId(),
		req.GetStatusId(), req.GetEngineerId(), req.GetVcioId(), req.GetParentId()}, "\x00")
}

var errBadPageToken = apperr.Invalid("page_token", "is not a token from a previous page of this list")

// likePattern turns a search string into a case-insensitive substring LIKE pattern.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListOrganizations lists the organizations the caller may see, by name then id, with filters,
// case-insensitive substring search and the total count.
func (s *Service) ListOrganizations(ctx context.Context, req *orgv1.ListOrganizationsRequest) (*orgv1.ListOrganizationsResponse, error) {
	id, err := caller(ctx, req.GetAccountId(), read(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	var cur orgCursor
	if t := req.GetPageToken(); t != "" {
		if err := s.pages.Open("organizations", t, &cur); err != nil || cur.ID == "" || cur.F != filterKey(req) {
			return nil, errBadPageToken
		}
	}
	// Only the filters in use go into the SQL: a catch-all "($n = '' OR ...)" form would keep
	// the planner from using the indexes.
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// The explicit account filter (row-level security applies it anyway) lets the planner use
	// the (account_id, name, id) indexes for counting and ordering.
	acct := arg(req.GetAccountId())
	var conds []string // on o, besides the account
	if restricted, groups := visibility(id); restricted {
		conds = append(conds, visibleSQL(arg(restricted), arg(groups)))
	}
	switch req.GetState() {
	case orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE:
		conds = append(conds, `o.active`)
	case orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE:
		conds = append(conds, `NOT o.active`)
	}
	if g := req.GetGroupId(); g != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM organization_groups fg WHERE fg.organization_id = o.id AND fg.group_id = `+arg(g)+`::uuid)`)
	}
	for _, f := range []struct{ col, v string }{{"type_id", req.GetTypeId()}, {"status_id", req.GetStatusId()},
		{"default_engineer_id", req.GetEngineerId()}, {"default_vcio_id", req.GetVcioId()}, {"parent_id", req.GetParentId()}} {
		if f.v != "" {
			conds = append(conds, `o.`+f.col+` = `+arg(f.v)+`::uuid`)
		}
	}
	// A search walks the search index (see migration 00003) in name order and joins each hit
	// to its organization, which row-level security still guards.
	var from, countFrom, order, key string
	var where, countWhere []string
	if q := req.GetQuery(); q != "" {
		from = `organization_search s JOIN organizations o ON o.id = s.organization_id`
		where = []string{`s.account_id = ` + acct + `::uuid`, `s.name_lower LIKE ` + arg(likePattern(q))}
		order, key = `s.name, s.organization_id`, `(s.name, s.organization_id)`
		countFrom, countWhere = `organization_search s`, slices.Clone(where)
		if len(conds) > 0 {
			countFrom, countWhere = from, append(slices.Clone(where), conds...)
		}
	} else {
		from = `organizations o`
		where = []string{`o.account_id = ` + acct + `::uuid`}
		order, key = `o.name, o.id`, `(o.name, o.id)`
		countFrom, countWhere = from, append(slices.Clone(where), conds...)
	}
	where = append(where, conds...)
	countSQL := `SELECT count(*) FROM ` + countFrom + ` WHERE ` + strings.Join(countWhere, ` AND `)
	countArgs := slices.Clone(args)
	// With no filter but the state, the total is a counter kept with the organizations.
	if req.GetQuery() == "" && !restrictedCaller(id) && req.GetGroupId() == "" && req.GetTypeId() == "" &&
		req.GetStatusId() == "" && req.GetEngineerId() == "" && req.GetVcioId() == "" && req.GetParentId() == "" {
		countArgs = nil
		switch req.GetState() {
		case orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE:
			countSQL = `SELECT active_count FROM account_limits`
		case orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE:
			countSQL = `SELECT total_count - active_count FROM account_limits`
		default:
			countSQL = `SELECT total_count FROM account_limits`
		}
	}
	if cur.ID != "" {
		where = append(where, key+` > (`+arg(cur.Name)+`, `+arg(cur.ID)+`::uuid)`)
	}
	pageSQL := `SELECT ` + orgColumns + ` FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `) +
		` ORDER BY ` + order + ` LIMIT ` + arg(size+1)
	resp := &orgv1.ListOrganizationsResponse{}
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		// How selective a search is depends on the text typed; a plan cached for one pattern is
		// wrong for the next (measured: 196 ms instead of a few), so each search is planned anew.
		if req.GetQuery() != "" {
			if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, countSQL, countArgs...).Scan(&resp.TotalSize); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, pageSQL, args...)
		if err != nil {
			return err
		}
		resp.Organizations, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*orgv1.Organization, error) { return scanOrg(r) })
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Organizations) > size {
		resp.Organizations = resp.Organizations[:size]
		last := resp.Organizations[size-1]
		if resp.NextPageToken, err = s.pages.Seal("organizations", orgCursor{Name: last.GetName(), ID: last.GetId(), F: filterKey(req)}); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// UpdateOrganization changes the masked fields of an organization the caller may see.
func (s *Service) UpdateOrganization(ctx context.Context, req *orgv1.UpdateOrganizationRequest) (*orgv1.Organization, error) {
	id, err := caller(ctx, req.GetAccountId(), write(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), "update_mask", "name", "type_id", "status_id", "parent_id",
		"default_engineer_id", "default_vcio_id", "group_ids", "notes")
	if err != nil {
		return nil, err
	}
	in := req.GetOrganization()
	if in.GetId() == "" {
		return nil, apperr.Invalid("organization.id", "is required")
	}
	var out *orgv1.Organization
	err = s.inTenant(ctx, req.GetAccountId(), func(tx pgx.Tx) error {
		if _, err := readOrg(ctx, tx, id, in.GetId(), true); err != nil {
			return err
		}
		for _, p := range paths {
			var err error
			switch p {
			case "name":
				if in.GetName() == "" {
					return apperr.Invalid("organization.name", "is required")
				}
				_, err = tx.Exec(ctx, `UPDATE organizations SET name = $2 WHERE id = $1`, in.GetId(), in.GetName())
			case "type_id":
				_, err = tx.Exec(ctx, `UPDATE organizations SET type_id = $2 WHERE id = $1`, in.GetId(), nullable(in.GetTypeId()))
			case "status_id":
				_, err = tx.Exec(ctx, `UPDATE organizations SET status_id = $2 WHERE id = $1`, in.GetId(), nullable(in.GetStatusId()))
			case "parent_id":
				var height int
				if err := tx.QueryRow(ctx, `WITH RECURSIVE down(id, h) AS (
						SELECT id, 1 FROM organizations WHERE id = $1
						UNION ALL SELECT o.id, down.h + 1 FROM organizations o JOIN down ON o.parent_id = down.id WHERE down.h < 100
					) SELECT max(h) FROM down`, in.GetId()).Scan(&height); err != nil {
					return err
				}
				if err := checkParent(ctx, tx, id, in.GetId(), in.GetParentId(), height, "organization"); err != nil {
					return err
				}
				_, err = tx.Exec(ctx, `UPDATE organizations SET parent_id = $2 WHERE id = $1`, in.GetId(), nullable(in.GetParentId()))
			case "default_engineer_id":
				_, err = tx.Exec(ctx, `UPDATE organizations SET default_engineer_id = $2 WHERE id = $1`, in.GetId(), nullable(in.GetDefaultEngineerId()))
			case "default_vcio_id":
				_, err = tx.Exec(ctx, `UPDATE organizations SET default_vcio_id = $2 WHERE id = $1`, in.GetId(), nullable(in.GetDefaultVcioId()))
			case "group_ids":
				err = setOrgGroups(ctx, tx, req.GetAccountId(), in.GetId(), in.GetGroupIds(), "organization")
			case "notes":
				_, err = tx.Exec(ctx, `UPDATE organizations SET notes = $2 WHERE id = $1`, in.GetId(), in.GetNotes())
			}
			if err != nil {
				return orgWriteErr(err, "organization")
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE organizations SET updated_at = $2 WHERE id = $1`, in.GetId(), s.now()); err != nil {
			return err
		}
		var err error
		if out, err = readOrg(ctx, tx, identity.Identity{Kind: identity.KindOperator}, in.GetId(), false); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.OrganizationUpdated{AccountId: req.GetAccountId(), Organization: out, ChangedFields: paths})
		return err
	})
	return out, err
}

// DeactivateOrganization frees an organization's license and records when.
func (s *Service) DeactivateOrganization(ctx context.Context, accountID, orgID string) (*orgv1.Organization, error) {
	id, err := caller(ctx, accountID, write(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	var out *orgv1.Organization
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		cur, err := readOrg(ctx, tx, id, orgID, true)
		if err != nil {
			return err
		}
		if cur.GetState() != orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
			return apperr.FailedPrecondition("the organization is already deactivated")
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE organizations SET active = false, deactivated_at = $2, updated_at = $2 WHERE id = $1`, orgID, now); err != nil {
			return err
		}
		if err := releaseLicenses(ctx, tx, 1, 0); err != nil {
			return err
		}
		if out, err = readOrg(ctx, tx, id, orgID, false); err != nil {
			return err
		}
		err = s.enqueue(ctx, tx, &orgv1.OrganizationDeactivated{AccountId: accountID, Organization: out})
		return err
	})
	return out, err
}

// ReactivateOrganization makes a deactivated organization active again, taking a license. It is
// refused within ReactivationCooldown months of the deactivation unless a platform operator
// overrides.
func (s *Service) ReactivateOrganization(ctx context.Context, accountID, orgID string, override bool) (*orgv1.Organization, error) {
	id, err := caller(ctx, accountID, write(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	if override && !id.Operator() {
		return nil, apperr.PermissionDenied("only a platform operator may override the 12-month reactivation rule")
	}
	var out *orgv1.Organization
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		cur, err := readOrg(ctx, tx, id, orgID, true)
		if err != nil {
			return err
		}
		if cur.GetState() == orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE {
			return apperr.FailedPrecondition("the organization is already active")
		}
		now := s.now()
		if d := cur.GetDeactivateTime(); d != nil && !override {
			allowed := d.AsTime().AddDate(0, ReactivationCooldown, 0)
			if now.Before(allowed) {
				return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "REACTIVATION_COOLDOWN",
					Message: fmt.Sprintf("the organization was deactivated on %s and can be reactivated from %s (12 months later)",
						d.AsTime().Format("2006-01-02"), allowed.Format("2006-01-02"))}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE organizations SET active = true, updated_at = $2 WHERE id = $1`, orgID, now); err != nil {
			return err
		}
		if out, err = readOrg(ctx, tx, id, orgID, false); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, &orgv1.OrganizationReactivated{AccountId: accountID, Organization: out, CooldownOverridden: override}); err != nil {
			return err
		}
		return takeLicenses(ctx, tx, 1, 0)
	})
	return out, err
}

// DeleteOrganization removes an organization, its sub-organizations and everything that belongs
// to them, publishing organization.deleted for each. Refused while any is kept in sync.
func (s *Service) DeleteOrganization(ctx context.Context, accountID, orgID string) ([]string, error) {
	id, err := caller(ctx, accountID, write(AreaOrganizations))
	if err != nil {
		return nil, err
	}
	var deleted []string
	err = s.inTenant(ctx, accountID, func(tx pgx.Tx) error {
		if _, err := readOrg(ctx, tx, id, orgID, true); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH RECURSIVE down AS (
				SELECT id, name, parent_id, active, syncing_integrations, 0 AS depth FROM organizations WHERE id = $1
				UNION ALL
				SELECT o.id, o.name, o.parent_id, o.active, o.syncing_integrations, down.depth + 1
				FROM organizations o JOIN down ON o.parent_id = down.id WHERE down.depth < 100
			) SELECT id::text, name, coalesce(parent_id::text, ''), active, syncing_integrations FROM down ORDER BY depth DESC, id`, orgID)
		if err != nil {
			return err
		}
		type victim struct {
			id, name, parent string
			active           bool
			syncing          int
		}
		var victims []victim
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.id, &v.name, &v.parent, &v.active, &v.syncing); err != nil {
				return err
			}
			victims = append(victims, v)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, v := range victims {
			if v.syncing > 0 {
				what := "it"
				if v.id != orgID {
					what = fmt.Sprintf("its sub-organization %q", v.name)
				}
				return &apperr.Error{Kind: apperr.KindFailedPrecondition, Reason: "SYNC_ENABLED",
					Message: fmt.Sprintf("the organization cannot be deleted while %s is kept in sync with an external tool; disable sync first", what)}
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, orgID); err != nil {
			return err
		}
		active := 0
		for _, v := range victims {
			if v.active {
				active++
			}
		}
		if err := releaseLicenses(ctx, tx, active, len(victims)); err != nil {
			return err
		}
		for _, v := range victims {
			deleted = append(deleted, v.id)
			if err := s.enqueue(ctx, tx, &orgv1.OrganizationDeleted{AccountId: accountID, OrganizationId: v.id,
				Name: v.name, ParentId: v.parent, DeletedWithId: orgID, WasActive: v.active}); err != nil {
				return err
			}
		}
		return nil
	})
	return deleted, err
}
