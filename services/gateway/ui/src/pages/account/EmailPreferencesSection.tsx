import { useEffect, useState } from "react";
import { Button } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { CheckboxField } from "../../components/forms";
import { Loading } from "../../components/Loading";
import { useLoad } from "../../lib/useLoad";

type Preference = Schemas["v1Preference"];

// What each kind is, in the user's words. Invitations and password resets are transactional:
// no preference applies to them, so they are not offered.
const kinds: Partial<Record<NonNullable<Preference["kind"]>, string>> = {
  NOTIFICATION_KIND_REVIEW_ASSIGNED: "A review is assigned to me",
  NOTIFICATION_KIND_REVIEW_REASSIGNED: "A review of mine is reassigned to someone else",
  NOTIFICATION_KIND_OWNERSHIP_CHANGED: "A review's engineer or vCIO changes",
  NOTIFICATION_KIND_REVIEW_CREATED: "A review is created",
  NOTIFICATION_KIND_REVIEW_REMINDER: "A review assigned to me has not been edited for a while",
  NOTIFICATION_KIND_INTEGRATION_TROUBLE: "An integration needs attention",
};

/** EmailPreferencesSection sets, per kind of notification, whether it comes by email and in the app. */
export function EmailPreferencesSection() {
  const { accountId } = useSession();
  const path = { params: { path: { accountId } } };
  const prefs = useLoad(
    (signal) => call(api.GET("/v1/accounts/{accountId}/notificationPreferences", { ...path, signal })),
    [accountId],
  );
  const [edited, setEdited] = useState<Preference[]>([]);
  const [saving, setSaving] = useState(false);
  const [result, setResult] = useState<{ tone: "success" | "error"; text: string }>();

  useEffect(() => {
    setEdited((prefs.data?.preferences ?? []).filter((p) => p.kind && kinds[p.kind]));
  }, [prefs.data]);

  const set = (kind: Preference["kind"], change: Partial<Preference>) => {
    setResult(undefined);
    setEdited((all) => all.map((p) => (p.kind === kind ? { ...p, ...change } : p)));
  };

  const save = async () => {
    setSaving(true);
    setResult(undefined);
    try {
      prefs.setData(await call(api.PUT("/v1/accounts/{accountId}/notificationPreferences", { ...path, body: { preferences: edited } })));
      setResult({ tone: "success", text: "Your notification preferences are saved." });
    } catch (e) {
      setResult({ tone: "error", text: errorMessage(e) });
    } finally {
      setSaving(false);
    }
  };

  let body;
  if (prefs.loading && !prefs.data) {
    body = <Loading label="Loading your notification preferences" />;
  } else if (prefs.error) {
    body = <Alert tone="error">{errorMessage(prefs.error)}</Alert>;
  } else {
    body = (
      <>
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">How each kind of notification reaches you</caption>
            <thead>
              <tr>
                <th scope="col">Notify me when</th>
                <th scope="col">Email</th>
                <th scope="col">In the app</th>
              </tr>
            </thead>
            <tbody>
              {edited.map((p) => {
                const label = kinds[p.kind!]!;
                return (
                  <tr key={p.kind}>
                    <th scope="row">{label}</th>
                    <td>
                      <CheckboxField aria-label={`Email: ${label}`} isSelected={Boolean(p.email)} onChange={(email) => set(p.kind, { email })}>
                        <span className="visually-hidden">Email</span>
                      </CheckboxField>
                    </td>
                    <td>
                      <CheckboxField aria-label={`In the app: ${label}`} isSelected={Boolean(p.inApp)} onChange={(inApp) => set(p.kind, { inApp })}>
                        <span className="visually-hidden">In the app</span>
                      </CheckboxField>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {result && <Alert tone={result.tone}>{result.text}</Alert>}
        <p>
          <Button className="button primary" onPress={save} isPending={saving}>
            Save preferences
          </Button>
        </p>
      </>
    );
  }

  return (
    <section className="section" aria-labelledby="notifications-title">
      <h2 id="notifications-title">Email and notifications</h2>
      <p className="muted">Transactional emails, such as invitations and password reset links, are always sent.</p>
      {body}
    </section>
  );
}
