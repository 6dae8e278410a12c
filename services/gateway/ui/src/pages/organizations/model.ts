import { api, call, ApiError, type Schemas } from "../../api/client";

export type Organization = Schemas["v1Organization"];
export type OrgState = Schemas["v1OrganizationState"];

/** Option is one choice of a combobox: an id the API knows and the name a person reads. */
export type Option = { id: string; name: string; detail?: string };

/** SortKey is what the list can be ordered by, as the API's orderBy names it. */
export type SortKey = "name" | "create_time" | "update_time";

/** Order is the list's order as the API's orderBy spells it. */
export type Order = SortKey | `${SortKey} desc`;

export const orders: readonly Order[] = ["name", "name desc", "create_time", "create_time desc", "update_time", "update_time desc"];

/** Filters are the list's filters, its order and its page size, remembered per account in this browser. */
export type Filters = {
  state: "" | "ORGANIZATION_STATE_ACTIVE" | "ORGANIZATION_STATE_INACTIVE";
  groupId: string;
  typeId: string;
  statusId: string;
  engineerId: string;
  vcioId: string;
  orderBy: Order;
  pageSize: number;
};

export const pageSizes = [25, 50, 100] as const;

export const noFilters: Filters = {
  state: "",
  groupId: "",
  typeId: "",
  statusId: "",
  engineerId: "",
  vcioId: "",
  orderBy: "name",
  pageSize: 25,
};

/** sortKeyOf is the key an order sorts by, and whether it runs from the largest value. */
export function sortKeyOf(o: Order): { key: SortKey; desc: boolean } {
  const [key, dir] = o.split(" ") as [SortKey, string | undefined];
  return { key, desc: dir === "desc" };
}

/** ariaSort is a column's aria-sort: undefined on the columns the list is not ordered by. */
export function ariaSort(o: Order, key: SortKey): "ascending" | "descending" | undefined {
  const cur = sortKeyOf(o);
  if (cur.key !== key) return undefined;
  return cur.desc ? "descending" : "ascending";
}

/**
 * toggleOrder is the order after pressing key's column header: the same column turns the order
 * around; another column starts A to Z for names and newest first for dates, which is what one
 * looks for first there.
 */
export function toggleOrder(o: Order, key: SortKey): Order {
  const cur = sortKeyOf(o);
  const desc = cur.key === key ? !cur.desc : key !== "name";
  return desc ? `${key} desc` : key;
}

/** orderLabel says the order in words, for the table's caption. */
export function orderLabel(o: Order): string {
  const { key, desc } = sortKeyOf(o);
  switch (key) {
    case "name":
      return desc ? "by name, Z to A" : "by name, A to Z";
    case "create_time":
      return desc ? "newest first" : "oldest first";
    case "update_time":
      return desc ? "most recently updated first" : "least recently updated first";
  }
}

/** filtersKey is where an account's filters are kept: two accounts in one browser keep theirs apart. */
export const filtersKey = (accountId: string) => `orgplane.organizations.filters.${accountId}`;

/**
 * readFilters reads the remembered filters, keeping only values of the right shape: what a
 * browser kept from an older version must not break the page or reach the API malformed.
 */
export function readFilters(storage: Pick<Storage, "getItem"> | undefined, accountId: string): Filters {
  let saved: unknown;
  try {
    saved = JSON.parse(storage?.getItem(filtersKey(accountId)) ?? "null");
  } catch {
    return { ...noFilters };
  }
  if (!saved || typeof saved !== "object") return { ...noFilters };
  const s = saved as Record<string, unknown>;
  const id = (v: unknown) => (typeof v === "string" && /^[0-9a-f-]{36}$/i.test(v) ? v : "");
  const state = s.state === "ORGANIZATION_STATE_ACTIVE" || s.state === "ORGANIZATION_STATE_INACTIVE" ? s.state : "";
  const pageSize = pageSizes.find((n) => n === s.pageSize) ?? noFilters.pageSize;
  const orderBy = orders.find((o) => o === s.orderBy) ?? noFilters.orderBy;
  return {
    state,
    groupId: id(s.groupId),
    typeId: id(s.typeId),
    statusId: id(s.statusId),
    engineerId: id(s.engineerId),
    vcioId: id(s.vcioId),
    orderBy,
    pageSize,
  };
}

export function writeFilters(storage: Pick<Storage, "setItem" | "removeItem"> | undefined, accountId: string, f: Filters) {
  try {
    if (sameFilters(f, noFilters)) storage?.removeItem(filtersKey(accountId));
    else storage?.setItem(filtersKey(accountId), JSON.stringify(f));
  } catch {
    // Storage full or refused (private mode): the filters then last as long as the page.
  }
}

export const sameFilters = (a: Filters, b: Filters) =>
  (Object.keys(noFilters) as (keyof Filters)[]).every((k) => a[k] === b[k]);

/** filtering reports whether any filter narrows the list (the order and the page size do not). */
export const filtering = (f: Filters) => sameFilters({ ...f, orderBy: noFilters.orderBy, pageSize: noFilters.pageSize }, noFilters) === false;

/**
 * reactivationDay is the calendar day (YYYY-MM-DD, UTC) from which an organization deactivated
 * at deactivateTime may be reactivated: 12 months later, as the API counts (Go's AddDate in UTC,
 * so 29 February rolls over to 1 March).
 */
export function reactivationDay(deactivateTime: string | undefined): string {
  if (!deactivateTime) return "";
  const d = new Date(deactivateTime);
  if (Number.isNaN(d.getTime())) return "";
  const allowed = new Date(Date.UTC(d.getUTCFullYear() + 1, d.getUTCMonth(), d.getUTCDate()));
  return allowed.toISOString().slice(0, 10);
}

/** canReactivateOn reports whether reactivation is allowed at now (12 months have passed). */
export function canReactivateOn(deactivateTime: string | undefined, now: Date): boolean {
  if (!deactivateTime) return true;
  const d = new Date(deactivateTime);
  const allowed = new Date(
    Date.UTC(d.getUTCFullYear() + 1, d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()),
  );
  return now.getTime() >= allowed.getTime();
}

const orgFields = ["name", "typeId", "statusId", "parentId", "defaultEngineerId", "defaultVcioId", "groupIds", "notes"];

/**
 * placeErrors names each error after the form's field: the API names the body's fields both
 * with ("organization.name") and without ("name") the body's own name, and refuses a taken name
 * with a 409 that names no field (the database checks it), which belongs under the name too.
 */
export function placeErrors(e: unknown): unknown {
  if (!(e instanceof ApiError)) return e;
  const fieldErrors: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.fieldErrors)) {
    const top = k.replace(/[.[].*$/, "");
    fieldErrors[orgFields.includes(top) ? `organization.${top}` : k] = v;
  }
  if (e.status === 409 && /name already exists/i.test(e.message)) fieldErrors["organization.name"] = e.message;
  return new ApiError(e.message, { status: e.status, code: e.code, reason: e.reason, fieldErrors });
}

/** userName is how a user shows in pickers and lists. */
export function userName(u: Schemas["v1User"]): string {
  return [u.firstName, u.lastName].filter(Boolean).join(" ") || u.email || "Unnamed user";
}

/** Vocabulary is what the pages name organizations' fields with: the account's lists. */
export type Vocabulary = {
  types: Option[];
  statuses: Option[];
  groups: Option[];
  users: Option[];
  /** Whether the role may read users and groups (else those pickers are left out). */
  usersReadable: boolean;
  groupsReadable: boolean;
};

const forbidden = (e: unknown) => e instanceof ApiError && e.status === 403;

// pages reads every page of a list (the account's lists are short; the largest page holds most).
async function pages<T>(page: (token: string) => Promise<{ items: T[] | undefined; next: string | undefined }>): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  for (let i = 0; i < 50; i++) {
    const p = await page(token);
    out.push(...(p.items ?? []));
    if (!p.next) break;
    token = p.next;
  }
  return out;
}

/** loadVocabulary reads the account's types, statuses, groups and users. */
export async function loadVocabulary(accountId: string, signal?: AbortSignal): Promise<Vocabulary> {
  const path = { accountId };
  const [types, statuses, groups, users] = await Promise.all([
    pages(async (pageToken) => {
      const r = await call(api.GET("/v1/accounts/{accountId}/organizationTypes", { params: { path, query: { pageSize: 1000, pageToken } }, signal }));
      return { items: r.organizationTypes, next: r.nextPageToken };
    }),
    pages(async (pageToken) => {
      const r = await call(api.GET("/v1/accounts/{accountId}/organizationStatuses", { params: { path, query: { pageSize: 1000, pageToken } }, signal }));
      return { items: r.organizationStatuses, next: r.nextPageToken };
    }),
    pages(async (pageToken) => {
      const r = await call(api.GET("/v1/accounts/{accountId}/groups", { params: { path, query: { pageSize: 1000, pageToken } }, signal }));
      return { items: r.groups, next: r.nextPageToken };
    }).catch((e: unknown) => (forbidden(e) ? undefined : Promise.reject(e))),
    pages(async (pageToken) => {
      const r = await call(api.GET("/v1/accounts/{accountId}/users", { params: { path, query: { pageSize: 1000, pageToken } }, signal }));
      return { items: r.users, next: r.nextPageToken };
    }).catch((e: unknown) => (forbidden(e) ? undefined : Promise.reject(e))),
  ]);
  const named = (xs: { id?: string; name?: string }[]) => xs.map((x) => ({ id: x.id ?? "", name: x.name ?? "" }));
  return {
    types: named(types),
    statuses: named(statuses),
    groups: (groups ?? []).filter((g) => !g.archived).map((g) => ({ id: g.id ?? "", name: g.name ?? "" })),
    users: (users ?? [])
      .filter((u) => u.active !== false)
      .map((u) => ({ id: u.id ?? "", name: userName(u), detail: u.email ?? "" })),
    usersReadable: users !== undefined,
    groupsReadable: groups !== undefined,
  };
}

/** nameOf finds an option's name by id ("" when not in the list). */
export const nameOf = (options: Option[], id: string | undefined) => (id ? (options.find((o) => o.id === id)?.name ?? "") : "");

/**
 * loadSubtree lists every sub-organization of id, level by level, with the depth of each: what
 * deleting id also deletes.
 */
export async function loadSubtree(accountId: string, id: string, signal?: AbortSignal): Promise<(Organization & { depth: number })[]> {
  const out: (Organization & { depth: number })[] = [];
  let level = [id];
  for (let depth = 1; level.length > 0 && depth <= 20; depth++) {
    const next: string[] = [];
    for (const parentId of level) {
      const children = await pages(async (pageToken) => {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/organizations", { params: { path: { accountId }, query: { parentId, pageSize: 1000, pageToken } }, signal }),
        );
        return { items: r.organizations, next: r.nextPageToken };
      });
      for (const c of children) {
        out.push({ ...c, depth });
        if (c.id) next.push(c.id);
      }
    }
    level = next;
  }
  return out;
}

/** readBase64 reads a file as base64 (the API takes bytes as base64 in JSON). */
export function readBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error ?? new Error("read failed"));
    r.readAsDataURL(file);
  });
}

/** Logo limits, as SetOrganizationLogo states them. */
export const logoMaxBytes = 2 * 1024 * 1024;
export const logoTypes = ["image/png", "image/jpeg", "image/svg+xml"];

/** checkLogo says what is wrong with a chosen logo file, before sending it ("" when nothing). */
export function checkLogo(file: { size: number; type: string }): string {
  if (!logoTypes.includes(file.type)) return "Must be a PNG, JPEG or SVG image.";
  if (file.size === 0) return "The file is empty.";
  if (file.size > logoMaxBytes) return "Must be at most 2 MiB.";
  return "";
}
