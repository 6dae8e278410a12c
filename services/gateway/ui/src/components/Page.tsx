import { useEffect, useRef, type ReactNode } from "react";
import { useNavigationType } from "react-router";

/** useTitle names the browser tab after the page. */
export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Orgplane` : "Orgplane";
  }, [title]);
}

/**
 * Page is a signed-in page: its title (the tab's too) as the one h1, actions beside it, then the
 * content. After a navigation inside the app, focus moves to the title, so keyboard and screen
 * reader users start at the new page rather than in the navigation.
 */
export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  useTitle(title);
  const heading = useRef<HTMLHeadingElement>(null);
  const navigation = useNavigationType();
  useEffect(() => {
    if (navigation !== "POP") heading.current?.focus();
  }, [navigation]);
  return (
    <div className="page">
      <div className="page-header">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
      {children}
    </div>
  );
}
