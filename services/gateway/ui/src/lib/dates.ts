// Dates are shown in the account's time zone and date format (its General settings), as the
// emails show them: "12/31/2026", "12/31/2026 17:05 CST". The API sends instants as RFC 3339
// strings and calendar days (due dates) as YYYY-MM-DD.

export type DateFormat =
  | "DATE_FORMAT_UNSPECIFIED"
  | "DATE_FORMAT_MM_DD_YYYY"
  | "DATE_FORMAT_DD_MM_YYYY"
  | "DATE_FORMAT_YYYY_MM_DD";

export type Clock = {
  /** The IANA zone the clock shows times in. */
  readonly timeZone: string;
  /** An instant's calendar day: "12/31/2026". Empty for a missing or unreadable value. */
  date(v: string | Date | undefined | null): string;
  /** An instant with a 24-hour time and the zone: "12/31/2026 17:05 CST". */
  dateTime(v: string | Date | undefined | null): string;
  /** A calendar day given as YYYY-MM-DD (no zone applies); anything else as it is. */
  day(isoDate: string | undefined | null): string;
};

function arrange(format: DateFormat | undefined, y: string, m: string, d: string): string {
  switch (format) {
    case "DATE_FORMAT_DD_MM_YYYY":
      return `${d}/${m}/${y}`;
    case "DATE_FORMAT_YYYY_MM_DD":
      return `${y}-${m}-${d}`;
    default:
      // Unset reads as the API's default, as in the emails.
      return `${m}/${d}/${y}`;
  }
}

function zoneOrUTC(timeZone: string | undefined): string {
  if (!timeZone) return "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return timeZone;
  } catch {
    // An unknown zone reads as UTC rather than breaking the page, as the server does.
    return "UTC";
  }
}

function toDate(v: string | Date | undefined | null): Date | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** makeClock is the clock of an account's settings; an empty zone is UTC. */
export function makeClock(settings: { timeZone?: string | undefined; dateFormat?: DateFormat | undefined }): Clock {
  const timeZone = zoneOrUTC(settings.timeZone);
  const format = settings.dateFormat;
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  });
  const pieces = (d: Date) => {
    const p: Record<string, string> = {};
    for (const { type, value } of parts.formatToParts(d)) p[type] = value;
    return p;
  };
  return {
    timeZone,
    date(v) {
      const d = toDate(v);
      if (!d) return "";
      const p = pieces(d);
      return arrange(format, p.year ?? "", p.month ?? "", p.day ?? "");
    },
    dateTime(v) {
      const d = toDate(v);
      if (!d) return "";
      const p = pieces(d);
      return `${arrange(format, p.year ?? "", p.month ?? "", p.day ?? "")} ${p.hour}:${p.minute} ${p.timeZoneName}`;
    },
    day(isoDate) {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate ?? "");
      if (!m) return isoDate ?? "";
      return arrange(format, m[1]!, m[2]!, m[3]!);
    },
  };
}

/** browserClock is the clock when the account's settings cannot be read: the browser's own zone. */
export function browserClock(): Clock {
  return makeClock({ timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone });
}
