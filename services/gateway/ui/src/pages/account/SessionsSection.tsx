import { useState } from "react";
import { Button } from "react-aria-components";
import { useNavigate } from "react-router";
import { api, call, errorMessage, setCsrfToken, type Schemas } from "../../api/client";
import { useClock } from "../../app/session";
import { Alert } from "../../components/Alert";
import { ConfirmButton } from "../../components/ConfirmButton";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { describeUserAgent } from "../../lib/useragent";
import { useLoad } from "../../lib/useLoad";

type Session = Schemas["v1Session"];

const methods: Record<string, string> = {
  SESSION_METHOD_PASSWORD: "Password",
  SESSION_METHOD_PASSWORD_AND_CODE: "Password and code",
  SESSION_METHOD_SINGLE_SIGN_ON: "Single sign-on",
  SESSION_METHOD_BREAK_GLASS: "Break-glass password",
};

/** SessionsSection lists the person's open sessions and signs out of one or all of them. */
export function SessionsSection() {
  const clock = useClock();
  const navigate = useNavigate();
  const [error, setError] = useState<string>();
  const [revoking, setRevoking] = useState<string>();
  const sessions = useLoad(async (signal) => {
    // A person has a handful of sessions; the API's largest page holds every one of them.
    const r = await call(api.GET("/v1/me/sessions", { params: { query: { pageSize: 1000 } }, signal }));
    return r.sessions ?? [];
  }, []);

  const signedOut = (notice: string) => {
    setCsrfToken("");
    navigate("/signin", { replace: true, state: { notice } });
  };

  const revoke = async (s: Session) => {
    setError(undefined);
    setRevoking(s.id);
    try {
      await call(api.POST("/v1/me/sessions/{sessionId}:revoke", { params: { path: { sessionId: s.id ?? "" } }, body: {} }));
      if (s.current) {
        signedOut("You are signed out.");
        return;
      }
      sessions.reload();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setRevoking(undefined);
    }
  };

  let body;
  if (sessions.loading && !sessions.data) {
    body = <Loading label="Loading your sessions" />;
  } else if (sessions.error) {
    body = <Alert tone="error">{errorMessage(sessions.error)}</Alert>;
  } else if (!sessions.data?.length) {
    body = <EmptyState title="No open sessions" />;
  } else {
    body = (
      <div className="table-wrap">
        <table className="table">
          <caption className="visually-hidden">Your open sessions, the most recently used first</caption>
          <thead>
            <tr>
              <th scope="col">Browser</th>
              <th scope="col">Signed in with</th>
              <th scope="col">Address</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last active</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sessions.data.map((s) => {
              const device = describeUserAgent(s.userAgent);
              return (
                <tr key={s.id}>
                  <th scope="row">
                    {device}
                    {s.current && <span className="tag">This session</span>}
                  </th>
                  <td>{methods[s.method ?? ""] ?? "—"}</td>
                  <td>{s.clientAddress || "—"}</td>
                  <td>{clock.dateTime(s.createTime)}</td>
                  <td>{clock.dateTime(s.lastUsedTime)}</td>
                  <td className="actions">
                    <Button
                      className="button small secondary"
                      aria-label={s.current ? "Sign out this session" : `Sign out ${device}, last active ${clock.dateTime(s.lastUsedTime)}`}
                      isPending={revoking === s.id}
                      onPress={() => void revoke(s)}
                    >
                      Sign out
                    </Button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  }

  return (
    <section className="section" aria-labelledby="sessions-title">
      <div className="section-header">
        <h2 id="sessions-title">Sessions</h2>
        <ConfirmButton
          label="Sign out everywhere"
          title="Sign out everywhere?"
          confirmLabel="Sign out everywhere"
          onConfirm={async () => {
            await call(api.POST("/v1/me/sessions:revokeAll", { body: {} }));
            signedOut("You are signed out everywhere, this browser included.");
          }}
        >
          <p>Every session ends, this one included. You will need to sign in again on each device.</p>
        </ConfirmButton>
      </div>
      <p className="muted">Where you are signed in. Sign out of any session you do not recognize, then change your password.</p>
      {error && <Alert tone="error">{error}</Alert>}
      {body}
    </section>
  );
}
