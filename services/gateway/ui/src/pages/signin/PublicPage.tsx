import type { ReactNode } from "react";
import { useTitle } from "../../components/Page";

/** PublicPage frames the pages reached without a session: the product, then one card. */
export function PublicPage({ title, children }: { title: string; children: ReactNode }) {
  useTitle(title);
  return (
    <div className="public-layout">
      <header className="public-header">
        <span className="product">Orgplane</span>
      </header>
      <main id="main" className="public-page">
        <div className="card">
          <h1>{title}</h1>
          {children}
        </div>
      </main>
    </div>
  );
}
