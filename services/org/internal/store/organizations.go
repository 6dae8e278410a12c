package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orgplane/orgplane/pkg/apperr"
	"github.com/orgplane/orgplane/pkg/postgres"
	"github.com/orgplane/orgplane/services/org/internal/domain"
)

const orgColumns = `o.id::text, o.name, coalesce(o.type_id::text, ''), coalesce(o.status_id::text, ''),
	coalesce(o.parent_id::text, ''), coalesce(o.default_engineer_id::text, ''), coalesce(o.default_vcio_id::text, ''),
	coalesce((SELECT array_agg(og.group_id::text ORDER BY og.group_id) FROM organization_groups og WHERE og.organization_id = o.id), '{}'),
	o.notes, o.active, o.deactivated_at, EXISTS (SELECT 1 FROM logos l WHERE l.organization_id = o.id), o.created_at, o.updated_at`

// visibleSQL keeps only organizations the caller may see: r is the placeholder of "restricted
// to groups", g that of the groups. Written once so lists, gets, updates, deletes and reviews
// cannot disagree.
func visibleSQL(r, g string) string {
	return `(` + r + ` = false OR EXISTS (SELECT 1 FROM organization_groups vg
		WHERE vg.organization_id = o.id AND vg.group_id = ANY(` + g + `::uuid[])))`
}

func scanOrg(row pgx.Row) (domain.Organization, error) {
	var o domain.Organization
	var active bool
	var deactivated *time.Time
	err := row.Scan(&o.ID, &o.Name, &o.TypeID, &o.StatusID, &o.ParentID, &o.DefaultEngineerID, &o.DefaultVCIOID,
		&o.GroupIDs, &o.Notes, &active, &deactivated, &o.HasLogo, &o.CreatedAt, &o.UpdatedAt)
	if err != nil {
		return domain.Organization{}, err
	}
	o.State = domain.StateInactive
	if active {
		o.State = domain.StateActive
	}
	if deactivated != nil {
		o.DeactivatedAt = *deactivated
	}
	return o, nil
}

func (t *Tx) readOrg(ctx context.Context, vis domain.Visibility, orgID string, lock bool) (domain.Organization, error) {
	q := `SELECT ` + orgColumns + ` FROM organizations o WHERE o.id = $1 AND ` + visibleSQL("$2", "$3")
	if lock {
		q += ` FOR UPDATE OF o`
	}
	o, err := scanOrg(t.tx.QueryRow(ctx, q, orgID, vis.Restricted, vis.Groups))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Organization{}, domain.ErrOrganizationNotFound
	}
	return o, err
}

// Organization reads an organization vis may see; any other is domain.ErrOrganizationNotFound.
func (t *Tx) Organization(ctx context.Context, vis domain.Visibility, orgID string) (domain.Organization, error) {
	return t.readOrg(ctx, vis, orgID, false)
}

// LockOrganization is Organization with a row lock held until the transaction ends, for a change.
func (t *Tx) LockOrganization(ctx context.Context, vis domain.Visibility, orgID string) (domain.Organization, error) {
	return t.readOrg(ctx, vis, orgID, true)
}

// orgWriteErr explains constraint failures of organization writes in terms of the request:
// field is the path of the organization in it ("organization", "organizations"; "" when the
// organization's fields are the request's own).
func orgWriteErr(err error, field string) error {
	at := func(name string) string {
		if field == "" {
			return name
		}
		return field + "." + name
	}
	switch postgres.ConstraintName(err) {
	case "organizations_account_id_name_key":
		return domain.ErrDuplicateName.Wrap(err)
	case "organizations_account_id_type_id_fkey":
		return apperr.Invalid(at("type_id"), "is not an organization type of this account")
	case "organizations_account_id_status_id_fkey":
		return apperr.Invalid(at("status_id"), "is not an organization status of this account")
	case "organizations_account_id_parent_id_fkey":
		return apperr.Invalid(at("parent_id"), "is not an organization of this account")
	case "organizations_account_id_default_engineer_id_fkey":
		return apperr.Invalid(at("default_engineer_id"), "is not a user of this account")
	case "organizations_account_id_default_vcio_id_fkey":
		return apperr.Invalid(at("default_vcio_id"), "is not a user of this account")
	case "organization_groups_account_id_group_id_fkey":
		return apperr.Invalid(at("group_ids"), "names a group that does not exist")
	}
	return postgres.Translate(err)
}

// treeLockClass is the first key of the advisory lock LockTree takes; the second is the
// account's. (The relay's lock is a single bigint key, a separate key space in pg_locks.)
const treeLockClass = 0x6f726774 // "orgt"

// LockTree serializes the account's changes to its organization tree (re-parenting, deleting a
// subtree) until the transaction ends. Row locks alone cannot: a move checks the ancestors of the
// new parent without locking them, so two moves that each pass their check (A under B, B under
// A; or A under B, C under A while B is under C) would both commit a cycle, or deadlock on each
// other's rows. Taken first, before any row lock, so it is the one order every such use case
// follows; it costs nothing to other writers (renames, creates, deactivations never take it).
func (t *Tx) LockTree(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_setting('app.account_id')))`, treeLockClass)
	return err
}

// Ancestry reads what placing orgID ("" for a new organization) under parentID depends on:
// whether vis may see the parent, its depth, and whether orgID is among its ancestors.
func (t *Tx) Ancestry(ctx context.Context, vis domain.Visibility, orgID, parentID string) (domain.Ancestry, error) {
	if _, err := t.readOrg(ctx, vis, parentID, false); err != nil {
		if errors.Is(err, domain.ErrOrganizationNotFound) {
			return domain.Ancestry{}, nil
		}
		return domain.Ancestry{}, err
	}
	// Walk up from the parent: the organization itself on the way is a cycle.
	a := domain.Ancestry{Visible: true}
	err := t.tx.QueryRow(ctx, `WITH RECURSIVE up(id, parent_id, depth) AS (
			SELECT id, parent_id, 1 FROM organizations WHERE id = $1
			UNION ALL
			SELECT o.id, o.parent_id, up.depth + 1 FROM organizations o JOIN up ON o.id = up.parent_id WHERE up.depth < 100
		) SELECT max(depth), coalesce(bool_or(id = nullif($2, '')::uuid), false) FROM up`, parentID, orgID).Scan(&a.Depth, &a.IncludesOrg)
	if err != nil {
		return domain.Ancestry{}, err
	}
	return a, nil
}

// SubtreeHeight is the height of the organization's subtree: 1 for one without
// sub-organizations.
func (t *Tx) SubtreeHeight(ctx context.Context, orgID string) (int, error) {
	var height int
	err := t.tx.QueryRow(ctx, `WITH RECURSIVE down(id, h) AS (
			SELECT id, 1 FROM organizations WHERE id = $1
			UNION ALL SELECT o.id, down.h + 1 FROM organizations o JOIN down ON o.parent_id = down.id WHERE down.h < 100
		) SELECT max(h) FROM down`, orgID).Scan(&height)
	return height, err
}

// SetOrganizationGroups replaces the groups of an organization; field is the organization's
// path in the request, for errors.
func (t *Tx) SetOrganizationGroups(ctx context.Context, accountID, orgID string, groups []string, field string) error {
	if _, err := t.tx.Exec(ctx, `DELETE FROM organization_groups WHERE organization_id = $1`, orgID); err != nil {
		return err
	}
	if len(groups) == 0 {
		return nil
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO organization_groups (account_id, organization_id, group_id)
		SELECT $1, $2, unnest($3::uuid[])`, accountID, orgID, groups)
	return orgWriteErr(err, field)
}

// InsertOrganization inserts an active organization (without its groups) created at now and
// returns its id and creation time as stored.
func (t *Tx) InsertOrganization(ctx context.Context, accountID string, o domain.Organization, now time.Time) (string, time.Time, error) {
	var id string
	var created time.Time
	err := t.tx.QueryRow(ctx, `INSERT INTO organizations (account_id, name, type_id, status_id, parent_id,
				default_engineer_id, default_vcio_id, notes, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id::text, created_at`,
		accountID, o.Name, nullable(o.TypeID), nullable(o.StatusID), nullable(o.ParentID),
		nullable(o.DefaultEngineerID), nullable(o.DefaultVCIOID), o.Notes, now).Scan(&id, &created)
	if err != nil {
		return "", time.Time{}, orgWriteErr(err, "organization")
	}
	return id, created, nil
}

// InsertOrganizations inserts active organizations without parents or groups in one statement,
// created at now, and returns their ids in the order of orgs. Names must be distinct.
func (t *Tx) InsertOrganizations(ctx context.Context, accountID string, orgs []domain.Organization, now time.Time) ([]string, error) {
	n := len(orgs)
	names, notes := make([]string, n), make([]string, n)
	types, statuses, engineers, vcios := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	index := make(map[string]int, n)
	for i, o := range orgs {
		names[i], notes[i] = o.Name, o.Notes
		types[i], statuses[i] = nullable(o.TypeID), nullable(o.StatusID)
		engineers[i], vcios[i] = nullable(o.DefaultEngineerID), nullable(o.DefaultVCIOID)
		index[o.Name] = i
	}
	rows, err := t.tx.Query(ctx, `INSERT INTO organizations (account_id, name, type_id, status_id, default_engineer_id,
				default_vcio_id, notes, created_at, updated_at)
			SELECT $1, u.name, u.type_id, u.status_id, u.engineer, u.vcio, u.notes, $8, $8
			FROM unnest($2::text[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[])
				AS u(name, type_id, status_id, engineer, vcio, notes)
			RETURNING id::text, name`, accountID, names, types, statuses, engineers, vcios, notes, now)
	if err != nil {
		return nil, orgWriteErr(err, "organizations")
	}
	defer rows.Close()
	ids := make([]string, n)
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		ids[index[name]] = id
	}
	if err := rows.Err(); err != nil {
		return nil, orgWriteErr(err, "organizations")
	}
	return ids, nil
}

// UpdateOrganizationField writes one field of o (named as in an update mask) to its row; field
// is the organization's path in the request, for errors (see orgWriteErr).
func (t *Tx) UpdateOrganizationField(ctx context.Context, accountID, path string, o domain.Organization, field string) error {
	var err error
	switch path {
	case "name":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET name = $2 WHERE id = $1`, o.ID, o.Name)
	case "type_id":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET type_id = $2 WHERE id = $1`, o.ID, nullable(o.TypeID))
	case "status_id":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET status_id = $2 WHERE id = $1`, o.ID, nullable(o.StatusID))
	case "parent_id":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET parent_id = $2 WHERE id = $1`, o.ID, nullable(o.ParentID))
	case "default_engineer_id":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET default_engineer_id = $2 WHERE id = $1`, o.ID, nullable(o.DefaultEngineerID))
	case "default_vcio_id":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET default_vcio_id = $2 WHERE id = $1`, o.ID, nullable(o.DefaultVCIOID))
	case "group_ids":
		err = t.SetOrganizationGroups(ctx, accountID, o.ID, o.GroupIDs, field)
	case "notes":
		_, err = t.tx.Exec(ctx, `UPDATE organizations SET notes = $2 WHERE id = $1`, o.ID, o.Notes)
	default:
		return fmt.Errorf("update organization: unknown field %q", path)
	}
	if err != nil {
		return orgWriteErr(err, field)
	}
	return nil
}

// TouchOrganization records that the organization changed at now.
func (t *Tx) TouchOrganization(ctx context.Context, orgID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE organizations SET updated_at = $2 WHERE id = $1`, orgID, now)
	return err
}

// DeactivateOrganization marks the organization inactive since now.
func (t *Tx) DeactivateOrganization(ctx context.Context, orgID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE organizations SET active = false, deactivated_at = $2, updated_at = $2 WHERE id = $1`, orgID, now)
	return err
}

// ReactivateOrganization marks the organization active again at now.
func (t *Tx) ReactivateOrganization(ctx context.Context, orgID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE organizations SET active = true, updated_at = $2 WHERE id = $1`, orgID, now)
	return err
}

// Subtree lists the organization and its sub-organizations, deepest first (then by id): the
// order in which they are reported deleted. Those vis may not see are counted (hidden), never
// returned: a caller learns neither their names nor their ids.
//
// Every member is locked until the transaction ends and the walk repeats until it finds no new
// member, so the subtree checked is the subtree deleted: an organization attached or moved in
// meanwhile waits on its new parent's lock (the foreign key) and fails once that parent is
// gone, one attached just before the lock is found by the next walk, and a locked member cannot
// be moved out.
func (t *Tx) Subtree(ctx context.Context, vis domain.Visibility, orgID string) (members []domain.SubtreeMember, hidden int, err error) {
	const walks = 5
	var prev []string
	for range walks {
		rows, err := t.tx.Query(ctx, `WITH RECURSIVE down AS (
					SELECT id, 0 AS depth FROM organizations WHERE id = $1
					UNION ALL
					SELECT o.id, down.depth + 1 FROM organizations o JOIN down ON o.parent_id = down.id WHERE down.depth < 100
				)
				SELECT o.id::text, o.name, coalesce(o.parent_id::text, ''), o.active,
					coalesce((SELECT array_agg(s.integration_id::text ORDER BY s.integration_id) FROM organization_syncs s
						WHERE s.organization_id = o.id), '{}'), `+visibleSQL("$2", "$3")+`
				FROM down JOIN organizations o ON o.id = down.id
				ORDER BY down.depth DESC, o.id
				FOR UPDATE OF o`, orgID, vis.Restricted, vis.Groups)
		if err != nil {
			return nil, 0, err
		}
		members, hidden = nil, 0
		var ids []string
		var m domain.SubtreeMember
		var visible bool
		_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.Name, &m.ParentID, &m.Active, &m.SyncedBy, &visible}, func() error {
			ids = append(ids, m.ID)
			if visible {
				members = append(members, m)
			} else {
				hidden++
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
		// The same rows in the same order: nothing joined or left since the previous walk. (A
		// row moved out while this walk waited for its lock is still returned, locked, by it;
		// the next walk no longer finds it.)
		if slices.Equal(ids, prev) {
			return members, hidden, nil
		}
		prev = ids
	}
	return nil, 0, apperr.Conflict("the organization's sub-organizations changed while it was being deleted; retry")
}

// DeleteOrganization deletes the organization; its sub-organizations and everything belonging
// to them go with it (foreign keys cascade).
func (t *Tx) DeleteOrganization(ctx context.Context, orgID string) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, orgID)
	return err
}

// OrgPosition is an organization's place in a list: its value of the order's key (Name in the
// name order, Time in the others), then its id.
type OrgPosition struct {
	Name string    `json:"n,omitempty"`
	Time time.Time `json:"t,omitzero"`
	ID   string    `json:"i"`
}

// PositionOf is o's place in a list in order ord.
func PositionOf(o domain.Organization, ord domain.OrganizationOrder) OrgPosition {
	switch ord.By {
	case domain.OrderByCreateTime:
		return OrgPosition{Time: o.CreatedAt, ID: o.ID}
	case domain.OrderByUpdateTime:
		return OrgPosition{Time: o.UpdatedAt, ID: o.ID}
	}
	return OrgPosition{Name: o.Name, ID: o.ID}
}

// likePattern turns a search string into a case-insensitive substring LIKE pattern.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListOrganizations reads up to limit organizations of the account that vis may see and f
// selects, in order ord after the position after (nil: from the start), and how many there are
// in all.
func (t *Tx) ListOrganizations(ctx context.Context, accountID string, vis domain.Visibility, f domain.OrganizationFilter,
	ord domain.OrganizationOrder, after *OrgPosition, limit int) ([]domain.Organization, int64, error) {
	q := organizationListSQL(accountID, vis, f, ord, after, limit)
	// How selective a search is depends on the text typed; a plan cached for one pattern is
	// wrong for the next (measured: 196 ms instead of a few), so each search is planned anew.
	if f.Query != "" {
		if _, err := t.tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
			return nil, 0, err
		}
	}
	var total int64
	if err := t.tx.QueryRow(ctx, q.countSQL, q.countArgs...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := t.tx.Query(ctx, q.pageSQL, q.pageArgs...)
	if err != nil {
		return nil, 0, err
	}
	orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Organization, error) { return scanOrg(r) })
	if err != nil {
		return nil, 0, err
	}
	return orgs, total, nil
}

// organizationList is the SQL of one ListOrganizations call: the total, then the page.
type organizationList struct {
	countSQL  string
	countArgs []any
	pageSQL   string
	pageArgs  []any
}

func organizationListSQL(accountID string, vis domain.Visibility, f domain.OrganizationFilter, ord domain.OrganizationOrder,
	after *OrgPosition, limit int) organizationList {
	// Only the filters in use go into the SQL: a catch-all "($n = '' OR ...)" form would keep
	// the planner from using the indexes.
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// The explicit account filter (row-level security applies it anyway) lets the planner use
	// the per-account indexes for counting and ordering.
	acct := arg(accountID)
	var conds []string // on o, besides the account
	if vis.Restricted {
		conds = append(conds, visibleSQL(arg(vis.Restricted), arg(vis.Groups)))
	}
	switch f.State {
	case domain.StateActive:
		conds = append(conds, `o.active`)
	case domain.StateInactive:
		conds = append(conds, `NOT o.active`)
	}
	if g := f.GroupID; g != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM organization_groups fg WHERE fg.organization_id = o.id AND fg.group_id = `+arg(g)+`::uuid)`)
	}
	for _, c := range []struct{ col, v string }{{"type_id", f.TypeID}, {"status_id", f.StatusID},
		{"default_engineer_id", f.EngineerID}, {"default_vcio_id", f.VCIOID}, {"parent_id", f.ParentID}} {
		if c.v != "" {
			conds = append(conds, `o.`+c.col+` = `+arg(c.v)+`::uuid`)
		}
	}
	// A search walks the search index (see migration 00003) and joins each hit to its
	// organization, which row-level security still guards. The name order walks the same table
	// even without a search: it holds the lower-cased name as a plain column, and under the
	// tenant policy only leakproof comparisons of plain columns can bound an index scan (lower()
	// is not leakproof), so it is what lets a later page start where the previous one ended.
	const searchJoin = `organization_search s JOIN organizations o ON o.id = s.organization_id`
	inAccount, inSearchAccount := `o.account_id = `+acct+`::uuid`, `s.account_id = `+acct+`::uuid`
	from, where := `organizations o`, []string{inAccount}
	if f.Query != "" || ord.By == domain.OrderByName {
		from, where = searchJoin, []string{inSearchAccount}
		if ord.By != domain.OrderByName {
			// Lets the planner walk organizations in time order and look each one's name up.
			where = append(where, inAccount)
		}
	}
	countFrom, countWhere := `organizations o`, append([]string{inAccount}, conds...)
	if f.Query != "" {
		like := `s.name_lower LIKE ` + arg(likePattern(f.Query))
		where = append(where, like)
		countFrom, countWhere = `organization_search s`, []string{inSearchAccount, like}
		if len(conds) > 0 {
			countFrom, countWhere = searchJoin, append(countWhere, conds...)
		}
	}
	where = append(where, conds...)
	countSQL := `SELECT count(*) FROM ` + countFrom + ` WHERE ` + strings.Join(countWhere, ` AND `)
	countArgs := slices.Clone(args)
	// With no filter but the state, the total is a counter kept with the organizations.
	if f.OnlyState() && !vis.Restricted {
		countArgs = nil
		switch f.State {
		case domain.StateActive:
			countSQL = `SELECT active_count FROM account_limits`
		case domain.StateInactive:
			countSQL = `SELECT total_count - active_count FROM account_limits`
		default:
			countSQL = `SELECT total_count FROM account_limits`
		}
	}
	// Each order is one index's order (migration 00016), read backwards for desc: the id that
	// breaks ties goes the same way as the key, and the keyset compares both as a row.
	dir, cmp := "", ">"
	if ord.Desc {
		dir, cmp = " DESC", "<"
	}
	var keyCol, idCol string
	switch ord.By {
	case domain.OrderByCreateTime:
		keyCol, idCol = `o.created_at`, `o.id`
	case domain.OrderByUpdateTime:
		keyCol, idCol = `o.updated_at`, `o.id`
	default:
		keyCol, idCol = `s.name_lower`, `s.organization_id`
	}
	if after != nil {
		// The position keeps the name as shown; lower() here is the trigger's, so the key
		// compared is exactly the one stored.
		var key string
		if ord.By == domain.OrderByName {
			key = `lower(` + arg(after.Name) + `::text)`
		} else {
			key = arg(after.Time) + `::timestamptz`
		}
		where = append(where, `(`+keyCol+`, `+idCol+`) `+cmp+` (`+key+`, `+arg(after.ID)+`::uuid)`)
	}
	pageSQL := `SELECT ` + orgColumns + ` FROM ` + from + ` WHERE ` + strings.Join(where, ` AND `) +
		` ORDER BY ` + keyCol + dir + `, ` + idCol + dir + ` LIMIT ` + arg(limit)
	return organizationList{countSQL: countSQL, countArgs: countArgs, pageSQL: pageSQL, pageArgs: args}
}

// TakenNames returns which of names are already organizations of the account, so a bulk create
// can say which item collides rather than only that one did.
func (t *Tx) TakenNames(ctx context.Context, names []string) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT name FROM organizations WHERE name = ANY($1::text[])`, names)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
