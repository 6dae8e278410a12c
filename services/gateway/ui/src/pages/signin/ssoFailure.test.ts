import { describe, expect, it } from "vitest";
import { ssoFailure } from "./SignInPage";

describe("ssoFailure", () => {
  it("says nothing without a reason", () => {
    expect(ssoFailure(null)).toBeUndefined();
  });
  it("puts a known reason in words", () => {
    expect(ssoFailure("SINGLE_SIGN_ON_OTHER_BROWSER")).toContain("another browser");
  });
  it("has a general sentence for a reason it does not know, never echoing it", () => {
    const words = ssoFailure("<script>alert(1)</script>");
    expect(words).toContain("did not complete");
    expect(words).not.toContain("script");
  });
});
