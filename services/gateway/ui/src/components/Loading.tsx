/**
 * Loading stands in for content on its way. The label says what is loading ("Loading sessions");
 * screen readers announce it.
 */
export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}
