import type { Schemas } from "../../api/client";

export type Row = Schemas["v1GridRow"];
export type Column = Schemas["v1GridIntegration"];
export type Licenses = Schemas["v1Licenses"];
export type Suggestion = Schemas["v1MatchSuggestion"];
export type Candidate = Schemas["v1ImportCandidate"];

/** A change the user made in a cell and has not saved: externalId "" unlinks. */
export type PendingChange = { externalId: string; externalName: string };

/** cellKey names one cell: an organization in one integration. */
export const cellKey = (organizationId: string, integrationId: string) => `${organizationId}|${integrationId}`;

/** cellOf is the row's link in the integration, if any. */
export const cellOf = (row: Row, integrationId: string) => row.cells?.find((c) => c.integrationId === integrationId);

/** columnName is what a column is called: its display name, else its kind. */
export const columnName = (c: Column) => c.displayName || kindName(c.kind ?? "");

const kinds: Record<string, string> = { itglue: "IT Glue", connectwise: "ConnectWise", autotask: "Autotask" };
export const kindName = (kind: string) => kinds[kind] ?? kind;

/**
 * filterRows keeps the rows whose name holds query, ignoring case, as the API's search does; the
 * page filters the rows it holds so that a keystroke narrows them without a round trip.
 */
export function filterRows(rows: Row[], query: string): Row[] {
  const q = query.trim().toLocaleLowerCase();
  if (!q) return rows;
  return rows.filter((r) => (r.organizationName ?? "").toLocaleLowerCase().includes(q));
}

/** unmappedCount counts the rows missing a link in at least one of the columns. */
export function unmappedCount(rows: Row[], columns: Column[]): number {
  if (columns.length === 0) return 0;
  let n = 0;
  for (const r of rows) if ((r.cells?.length ?? 0) < columns.length || columns.some((c) => !cellOf(r, c.id ?? ""))) n++;
  return n;
}

/** changedRowIds reads which rows a ROWS_CHANGED refusal names (its ErrorInfo's organizationIds). */
export function changedRowIds(metadata: Readonly<Record<string, string>>): string[] {
  return [...new Set((metadata.organizationIds ?? "").split(",").filter(Boolean))];
}

/** mergeRows replaces the rows the API answered with (new versions and links), keeping order. */
export function mergeRows(rows: Row[], changed: Row[]): Row[] {
  if (changed.length === 0) return rows;
  const byId = new Map(changed.map((r) => [r.organizationId, r]));
  return rows.map((r) => byId.get(r.organizationId) ?? r);
}

/** Choice is one import candidate as the checklist shows it. */
export type Choice = {
  candidate: Candidate;
  /** Whether importing it creates an organization (no organization has its exact name). */
  needsLicense: boolean;
  /** Why it cannot be selected now; empty when it can. */
  disabledReason: string;
};

/**
 * choices marks each candidate: one whose exact name an organization already has is linked to it
 * and takes no license; the others each take one, so once the selection uses every remaining
 * license, the unselected ones that would take one are greyed out with the reason.
 */
export function choices(candidates: Candidate[], selected: ReadonlySet<string>, existingNames: ReadonlySet<string>, licenses: Licenses | undefined): Choice[] {
  const remaining = licenses?.unlimited ? Infinity : Math.max(0, licenses?.remaining ?? 0);
  let used = 0;
  for (const c of candidates) if (selected.has(c.externalOrganizationId ?? "") && !existingNames.has(c.name ?? "")) used++;
  const full = used >= remaining;
  const reason = `No license left for a new organization (${licenses?.used ?? 0} of ${licenses?.limit ?? 0} in use)`;
  return candidates.map((candidate) => {
    const needsLicense = !existingNames.has(candidate.name ?? "");
    const isSelected = selected.has(candidate.externalOrganizationId ?? "");
    return { candidate, needsLicense, disabledReason: needsLicense && !isSelected && full ? reason : "" };
  });
}

/**
 * selectAll is the selection "Select all" makes: every candidate that links to an existing
 * organization, and those that create one, in list order, while licenses remain.
 */
export function selectAll(candidates: Candidate[], existingNames: ReadonlySet<string>, licenses: Licenses | undefined): Set<string> {
  let remaining = licenses?.unlimited ? Infinity : Math.max(0, licenses?.remaining ?? 0);
  const out = new Set<string>();
  for (const c of candidates) {
    const id = c.externalOrganizationId ?? "";
    if (existingNames.has(c.name ?? "")) out.add(id);
    else if (remaining > 0) {
      out.add(id);
      remaining--;
    }
  }
  return out;
}

const outcomes: Record<string, string> = {
  IMPORT_OUTCOME_CREATED: "Created",
  IMPORT_OUTCOME_LINKED: "Linked",
  IMPORT_OUTCOME_RELINKED: "Relinked",
  IMPORT_OUTCOME_FAILED: "Not imported",
};
export const outcomeText = (o: string | undefined) => outcomes[o ?? ""] ?? "Pending";
