import { Link as RouterLink } from "react-router";
import { Page } from "../components/Page";
import { homePath } from "../pages";

/** NotFoundPage answers a path the app has no page for. */
export default function NotFoundPage() {
  return (
    <Page title="Page not found">
      <p>There is no page at this address. It may have moved, or the link may be mistyped.</p>
      <p>
        <RouterLink to={homePath}>Go to the start page</RouterLink>
      </p>
    </Page>
  );
}
