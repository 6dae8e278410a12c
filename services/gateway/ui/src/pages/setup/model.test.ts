import { describe, expect, it } from "vitest";
import { changedRowIds, choices, filterRows, mergeRows, selectAll, unmappedCount, type Candidate, type Row } from "./model";

const cols = [{ id: "i1" }, { id: "i2" }];
const cand = (id: string, name: string): Candidate => ({ externalOrganizationId: id, name });

describe("setup organizations model", () => {
  it("filters rows by a case-insensitive part of the name", () => {
    const rows: Row[] = [{ organizationName: "Acme Dental" }, { organizationName: "Blue Ridge Law" }];
    expect(filterRows(rows, " dENT").map((r) => r.organizationName)).toEqual(["Acme Dental"]);
    expect(filterRows(rows, "")).toHaveLength(2);
  });

  it("counts rows missing a link in some column", () => {
    const rows: Row[] = [
      { cells: [{ integrationId: "i1" }, { integrationId: "i2" }] },
      { cells: [{ integrationId: "i1" }] },
      { cells: [] },
    ];
    expect(unmappedCount(rows, cols)).toBe(2);
    expect(unmappedCount(rows, [])).toBe(0);
  });

  it("reads the rows a ROWS_CHANGED refusal names", () => {
    const md = { organizationIds: "0f8fad5b-d9cb-469f-a165-70867728950e,7c9e6679-7425-40de-944b-e07fc1f90ae7" };
    expect(changedRowIds(md)).toEqual(["0f8fad5b-d9cb-469f-a165-70867728950e", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]);
    expect(changedRowIds({})).toEqual([]);
  });

  it("merges saved rows in place", () => {
    const rows: Row[] = [{ organizationId: "a", version: "1" }, { organizationId: "b", version: "1" }];
    expect(mergeRows(rows, [{ organizationId: "b", version: "2" }])).toEqual([{ organizationId: "a", version: "1" }, { organizationId: "b", version: "2" }]);
  });

  it("greys out what would need a license once the selection uses the last one", () => {
    const cs = [cand("1", "Acme"), cand("2", "Blue"), cand("3", "Contoso"), cand("4", "Delta")];
    const existing = new Set(["Contoso"]);
    const lic = { limit: 5, used: 4, remaining: 1 };
    const none = choices(cs, new Set(), existing, lic);
    expect(none.every((c) => c.disabledReason === "")).toBe(true);
    const one = choices(cs, new Set(["1"]), existing, lic);
    expect(one.map((c) => c.disabledReason !== "")).toEqual([false, true, false, true]);
    expect(one[1]!.disabledReason).toContain("4 of 5");
    expect(one[2]!.needsLicense).toBe(false);
    expect(choices(cs, new Set(["1", "2"]), existing, { unlimited: true }).every((c) => c.disabledReason === "")).toBe(true);
  });

  it("selects every link and the creations that fit", () => {
    const cs = [cand("1", "Acme"), cand("2", "Blue"), cand("3", "Contoso"), cand("4", "Delta")];
    expect([...selectAll(cs, new Set(["Contoso"]), { remaining: 2 })]).toEqual(["1", "2", "3"]);
    expect(selectAll(cs, new Set(), { unlimited: true }).size).toBe(4);
  });
});
