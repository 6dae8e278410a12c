import { describe, expect, it } from "vitest";
import { parseError } from "./errors";

describe("parseError", () => {
  it("puts each field violation under the field's REST name", () => {
    const e = parseError(400, {
      code: 3,
      message: "invalid request: newPassword: value length must be at least 12 characters",
      details: [
        {
          "@type": "type.googleapis.com/google.rpc.BadRequest",
          fieldViolations: [
            { field: "newPassword", description: "value length must be at least 12 characters" },
            { field: "organization.name", description: "is already taken" },
            { field: "organization.name", description: "must not start with a space" },
          ],
        },
      ],
    });
    expect(e.status).toBe(400);
    expect(e.code).toBe(3);
    expect(e.fieldErrors).toEqual({
      newPassword: "Length must be at least 12 characters",
      "organization.name": "Is already taken Must not start with a space",
    });
  });

  it("keeps the reason of a refusal", () => {
    const e = parseError(400, {
      code: 9,
      message: "require_single_sign_on: this account requires single sign-on",
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "SINGLE_SIGN_ON_REQUIRED" }],
    });
    expect(e.reason).toBe("SINGLE_SIGN_ON_REQUIRED");
    expect(e.message).toBe("This account requires single sign-on");
    expect(e.metadata).toEqual({});
  });

  it("keeps the metadata of the refusal's reason", () => {
    const e = parseError(409, {
      code: 10,
      message: "these rows changed since they were read; read them again and retry: a, b",
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "ROWS_CHANGED", metadata: { organizationIds: "a,b" } }],
    });
    expect(e.reason).toBe("ROWS_CHANGED");
    expect(e.metadata).toEqual({ organizationIds: "a,b" });
  });

  it("tells how long to wait after a 429, from Retry-After or RetryInfo", () => {
    const fromHeader = parseError(429, { code: 8, message: "rate limit exceeded" }, new Headers({ "Retry-After": "7" }));
    expect(fromHeader.retryAfter).toBe(7);
    expect(fromHeader.message).toBe("Too many attempts. Try again in 7 seconds.");
    const fromDetail = parseError(429, {
      code: 8,
      details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "0.2s" }],
    });
    expect(fromDetail.retryAfter).toBe(1);
    expect(fromDetail.message).toBe("Too many attempts. Try again in 1 second.");
  });

  it("says something useful for an answer that is not a Status", () => {
    expect(parseError(502, "<html>bad gateway</html>").message).toMatch(/could not complete/);
    expect(parseError(403, undefined).message).toMatch(/permission/);
  });
});
