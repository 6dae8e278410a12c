// The API answers every failure with a google.rpc.Status: a gRPC code, a message, and details
// (BadRequest naming each field as the REST client spells it, ErrorInfo with a reason, RetryInfo).
// ApiError carries what a page needs from it to tell the user.

type Detail = {
  "@type"?: string;
  fieldViolations?: { field?: string; description?: string }[];
  reason?: string;
  metadata?: Record<string, string>;
  retryDelay?: string;
};

type Status = { code?: number; message?: string; details?: Detail[] };

export class ApiError extends Error {
  /** The HTTP status (0 when the server could not be reached). */
  readonly status: number;
  /** The gRPC code of the google.rpc.Status (3 InvalidArgument, 9 FailedPrecondition, ...). */
  readonly code: number;
  /** ErrorInfo.reason, a stable machine-readable cause ("SINGLE_SIGN_ON_REQUIRED"). */
  readonly reason: string;
  /** ErrorInfo.metadata: facts to act on without reading the message (ROWS_CHANGED's "organizationIds"). */
  readonly metadata: Readonly<Record<string, string>>;
  /** One sentence per field, keyed by the field's REST name ("newPassword", "organization.name"). */
  readonly fieldErrors: Record<string, string>;
  /** Seconds to wait before trying again (429 and 503). */
  readonly retryAfter: number | undefined;

  constructor(
    message: string,
    init: {
      status: number;
      code?: number;
      reason?: string;
      metadata?: Record<string, string>;
      fieldErrors?: Record<string, string>;
      retryAfter?: number;
    },
  ) {
    super(message);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.metadata = init.metadata ?? {};
    this.fieldErrors = init.fieldErrors ?? {};
    this.retryAfter = init.retryAfter;
  }
}

const typeSuffix = (d: Detail) => (d["@type"] ?? "").split("/").pop() ?? "";

/**
 * fieldSentence turns a violation's description into a sentence to show under the field: the
 * validator's "value must be ..." reads as "Must be ...".
 */
export function fieldSentence(description: string): string {
  const s = description.trim().replace(/^value\s+/i, "");
  return s ? s[0]!.toUpperCase() + s.slice(1) : "Is not valid";
}

/**
 * readable drops the field or rule name a refusal's message starts with
 * ("require_two_step_verification: this account requires ...") and starts it with a capital: the
 * page says which field is meant by where it shows the message.
 */
function readable(message: string): string {
  const m = message.replace(/^[a-z][A-Za-z0-9_.[\]]*: (?=\S)/, "");
  return m[0]!.toUpperCase() + m.slice(1);
}

function seconds(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  const n = Number.parseFloat(v.replace(/s$/, ""));
  return Number.isFinite(n) && n >= 0 ? Math.max(1, Math.ceil(n)) : undefined;
}

/** parseError reads a failed answer: its status, its body (a google.rpc.Status, or anything else) and its headers. */
export function parseError(status: number, body: unknown, headers?: Headers): ApiError {
  const s: Status = body && typeof body === "object" ? (body as Status) : {};
  const details = Array.isArray(s.details) ? s.details : [];
  const fieldErrors: Record<string, string> = {};
  let reason = "";
  let metadata: Record<string, string> = {};
  let retryAfter = seconds(headers?.get("Retry-After"));
  for (const d of details) {
    switch (typeSuffix(d)) {
      case "google.rpc.BadRequest":
        for (const v of d.fieldViolations ?? []) {
          if (!v.field) continue;
          const sentence = fieldSentence(v.description ?? "");
          fieldErrors[v.field] = fieldErrors[v.field] ? `${fieldErrors[v.field]} ${sentence}` : sentence;
        }
        break;
      case "google.rpc.ErrorInfo":
        if (!reason && d.reason) {
          reason = d.reason;
          metadata = d.metadata && typeof d.metadata === "object" ? d.metadata : {};
        }
        break;
      case "google.rpc.RetryInfo":
        retryAfter ??= seconds(d.retryDelay);
        break;
    }
  }
  let message = typeof s.message === "string" && s.message ? readable(s.message) : "";
  if (status === 429) {
    message = retryAfter
      ? `Too many attempts. Try again in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.`
      : "Too many attempts. Try again in a moment.";
  } else if (status === 401) {
    message ||= "Please sign in.";
  } else if (status === 403) {
    message ||= "You do not have permission to do this.";
  } else if (status === 404) {
    message ||= "Not found.";
  } else if (!message) {
    message = status >= 500 ? "The server could not complete this. Try again shortly." : `The request failed (${status}).`;
  }
  return new ApiError(message, {
    status,
    code: typeof s.code === "number" ? s.code : 0,
    reason,
    metadata,
    fieldErrors,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  });
}

/** networkError is the error of a request that got no answer at all. */
export function networkError(): ApiError {
  return new ApiError("The server cannot be reached. Check your connection and try again.", { status: 0 });
}
