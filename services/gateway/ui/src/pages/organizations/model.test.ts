import { describe, expect, it } from "vitest";
import { ApiError } from "../../api/client";
import {
  ariaSort,
  canReactivateOn,
  checkLogo,
  filtering,
  orderLabel,
  orders,
  placeErrors,
  noFilters,
  reactivationDay,
  readFilters,
  toggleOrder,
  writeFilters,
} from "./model";

const memory = () => {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    size: () => m.size,
  };
};

const a = "0b7e8a1e-4f7c-4c1e-9a55-5b0f0f1f2a3b";
const b = "5d1c3f6a-2e9b-4e8d-8c7a-1a2b3c4d5e6f";
const g = "9f8e7d6c-5b4a-4321-8765-0fedcba98765";

describe("filters", () => {
  it("remember per account, and forget when reset", () => {
    const s = memory();
    writeFilters(s, a, { ...noFilters, groupId: g, state: "ORGANIZATION_STATE_INACTIVE", pageSize: 50 });
    expect(readFilters(s, a)).toEqual({ ...noFilters, groupId: g, state: "ORGANIZATION_STATE_INACTIVE", pageSize: 50 });
    expect(readFilters(s, b)).toEqual(noFilters);
    writeFilters(s, a, noFilters);
    expect(s.size()).toBe(0);
    expect(readFilters(s, a)).toEqual(noFilters);
  });

  it("drop what is malformed rather than send it", () => {
    const s = memory();
    s.setItem(`orgplane.organizations.filters.${a}`, JSON.stringify({ groupId: "x' OR 1", state: "BOGUS", pageSize: 7, typeId: g }));
    expect(readFilters(s, a)).toEqual({ ...noFilters, typeId: g });
    s.setItem(`orgplane.organizations.filters.${a}`, "{not json");
    expect(readFilters(s, a)).toEqual(noFilters);
  });

  it("tell a narrowed list from a bigger page or another order", () => {
    expect(filtering({ ...noFilters, pageSize: 100 })).toBe(false);
    expect(filtering({ ...noFilters, orderBy: "update_time desc" })).toBe(false);
    expect(filtering({ ...noFilters, vcioId: g })).toBe(true);
  });

  it("remember the order with the filters, and only an order the API knows", () => {
    const s = memory();
    writeFilters(s, a, { ...noFilters, orderBy: "create_time desc" });
    expect(readFilters(s, a)).toEqual({ ...noFilters, orderBy: "create_time desc" });
    s.setItem(`orgplane.organizations.filters.${a}`, JSON.stringify({ orderBy: "name; DROP", typeId: g }));
    expect(readFilters(s, a)).toEqual({ ...noFilters, typeId: g });
    writeFilters(s, a, { ...noFilters, orderBy: "name" });
    expect(s.size()).toBe(0);
  });
});

describe("order", () => {
  it("turns around on the same column, and starts names A to Z and dates newest first", () => {
    expect(toggleOrder("name", "name")).toBe("name desc");
    expect(toggleOrder("name desc", "name")).toBe("name");
    expect(toggleOrder("name", "create_time")).toBe("create_time desc");
    expect(toggleOrder("create_time desc", "create_time")).toBe("create_time");
    expect(toggleOrder("create_time", "update_time")).toBe("update_time desc");
    expect(toggleOrder("update_time desc", "name")).toBe("name");
  });

  it("marks only the sorted column, in its direction", () => {
    expect(ariaSort("name", "name")).toBe("ascending");
    expect(ariaSort("name desc", "name")).toBe("descending");
    expect(ariaSort("name desc", "create_time")).toBeUndefined();
    expect(ariaSort("update_time desc", "update_time")).toBe("descending");
  });

  it("says every order differently", () => {
    const labels = orders.map(orderLabel);
    expect(new Set(labels).size).toBe(orders.length);
    expect(orderLabel("name")).toBe("by name, A to Z");
  });
});

describe("reactivation", () => {
  it("is possible 12 months after deactivation, counted in UTC as the API does", () => {
    expect(reactivationDay("2026-03-15T23:30:00Z")).toBe("2027-03-15");
    expect(reactivationDay("2028-02-29T10:00:00Z")).toBe("2029-03-01");
    expect(reactivationDay(undefined)).toBe("");
    expect(canReactivateOn("2026-03-15T23:30:00Z", new Date("2027-03-15T23:29:59Z"))).toBe(false);
    expect(canReactivateOn("2026-03-15T23:30:00Z", new Date("2027-03-15T23:30:00Z"))).toBe(true);
  });
});

describe("errors", () => {
  it("put a taken name under the name field", () => {
    const e = placeErrors(new ApiError("An organization with this name already exists", { status: 409 }));
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).fieldErrors).toEqual({ "organization.name": "An organization with this name already exists" });
    const other = placeErrors(new ApiError("Would create a cycle", { status: 409 })) as ApiError;
    expect(other.fieldErrors).toEqual({});
    const bare = placeErrors(new ApiError("Invalid", { status: 400, fieldErrors: { name: "Too long", "organization.notes": "Too long", "group_ids[2]": "x" } }));
    expect((bare as ApiError).fieldErrors).toEqual({ "organization.name": "Too long", "organization.notes": "Too long", "group_ids[2]": "x" });
  });

  it("check a logo before sending it", () => {
    expect(checkLogo({ size: 10, type: "image/png" })).toBe("");
    expect(checkLogo({ size: 10, type: "image/gif" })).toMatch(/PNG, JPEG or SVG/);
    expect(checkLogo({ size: 2 * 1024 * 1024 + 1, type: "image/jpeg" })).toMatch(/2 MiB/);
  });
});
