// Where the public pages are, and the one rule for where to go after signing in.

const publicPaths = ["/signin", "/passwordReset", "/passwordResets/complete", "/invitations/accept"];

/** isPublicPath reports whether a path is one of the pages that need no session. */
export const isPublicPath = (path: string) => publicPaths.includes(path);

/**
 * safeNext is where to go after signing in: a path on this site, else "/". A second slash or a
 * backslash after the first would lead browsers to another host, and control characters are
 * dropped by browsers before they read the rest.
 */
export function safeNext(next: string | null | undefined): string {
  if (!next || next[0] !== "/" || next[1] === "/" || next[1] === "\\" || /[\u0000-\u001f\u007f\\]/.test(next)) {
    return "/";
  }
  return isPublicPath(next.split(/[?#]/)[0] ?? "") ? "/" : next;
}

/** signInPath is the sign-in page, coming back to next afterwards. */
export const signInPath = (next: string) => {
  const n = safeNext(next);
  return n === "/" ? "/signin" : `/signin?next=${encodeURIComponent(n)}`;
};
