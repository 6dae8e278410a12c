import { describe, expect, it } from "vitest";
import { safeNext, signInPath } from "./paths";

describe("safeNext", () => {
  it.each([
    ["/organizations?status=active", "/organizations?status=active"],
    ["/account#sessions", "/account#sessions"],
    [null, "/"],
    ["", "/"],
    ["https://evil.example", "/"],
    ["//evil.example", "/"],
    ["/\\evil.example", "/"],
    ["/\tevil", "/"],
    ["/signin?next=/signin", "/"],
    ["/passwordResets/complete?token=x", "/"],
  ])("%s -> %s", (next, want) => {
    expect(safeNext(next)).toBe(want);
  });

  it("keeps the way back in the sign-in link", () => {
    expect(signInPath("/account")).toBe("/signin?next=%2Faccount");
    expect(signInPath("/")).toBe("/signin");
  });
});
