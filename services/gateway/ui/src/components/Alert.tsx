import type { ReactNode } from "react";

/**
 * Alert is a message about the page as a whole. Errors are announced at once (role alert);
 * success and information politely (role status).
 */
export function Alert({ tone, children }: { tone: "error" | "success" | "info" | "warning"; children: ReactNode }) {
  return (
    <div className={`alert alert-${tone}`} role={tone === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}
