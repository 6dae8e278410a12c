import { describe, expect, it } from "vitest";
import { makeClock } from "./dates";

// 2026-12-31T23:05:00Z is still the 31st in Chicago (17:05 CST) but already January 1st in
// Berlin, so the zone visibly decides the day.
const instant = "2026-12-31T23:05:00Z";

describe("makeClock", () => {
  it.each([
    ["DATE_FORMAT_MM_DD_YYYY", "America/Chicago", "12/31/2026", "12/31/2026 17:05 CST"],
    ["DATE_FORMAT_DD_MM_YYYY", "Europe/Berlin", "01/01/2027", "01/01/2027 00:05 GMT+1"],
    ["DATE_FORMAT_YYYY_MM_DD", "Asia/Tokyo", "2027-01-01", "2027-01-01 08:05 GMT+9"],
    ["DATE_FORMAT_UNSPECIFIED", "UTC", "12/31/2026", "12/31/2026 23:05 UTC"],
  ] as const)("%s in %s", (dateFormat, timeZone, date, dateTime) => {
    const c = makeClock({ dateFormat, timeZone });
    expect(c.date(instant)).toBe(date);
    expect(c.dateTime(instant)).toBe(dateTime);
  });

  it("reads an empty or unknown zone as UTC, as the server does", () => {
    expect(makeClock({}).dateTime(instant)).toBe("12/31/2026 23:05 UTC");
    expect(makeClock({ timeZone: "Mars/Olympus" }).timeZone).toBe("UTC");
  });

  it("shows calendar days without shifting them by the zone", () => {
    const c = makeClock({ dateFormat: "DATE_FORMAT_DD_MM_YYYY", timeZone: "Pacific/Honolulu" });
    expect(c.day("2026-03-01")).toBe("01/03/2026");
    expect(c.day("soon")).toBe("soon");
  });

  it("shows nothing for a missing or unreadable instant", () => {
    const c = makeClock({ timeZone: "UTC" });
    expect(c.date(undefined)).toBe("");
    expect(c.dateTime("not a date")).toBe("");
  });

  it("shows midnight as 00, not 24", () => {
    expect(makeClock({ timeZone: "UTC" }).dateTime("2026-05-04T00:00:00Z")).toBe("05/04/2026 00:00 UTC");
  });
});
