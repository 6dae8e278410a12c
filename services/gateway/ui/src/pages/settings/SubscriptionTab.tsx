import { useState } from "react";
import { Form } from "react-aria-components";
import { api, call, errorMessage, type Schemas } from "../../api/client";
import { useClock, useSession } from "../../app/session";
import { Alert } from "../../components/Alert";
import { EmptyState } from "../../components/EmptyState";
import { Loading } from "../../components/Loading";
import { fieldError, SubmitButton, TextInput, useApiForm } from "../../components/forms";
import { useLoad } from "../../lib/useLoad";

type Day = Schemas["v1DailyUsage"];

const states: Record<string, string> = {
  SUBSCRIPTION_STATE_TRIALING: "Trial",
  SUBSCRIPTION_STATE_ACTIVE: "Active",
  SUBSCRIPTION_STATE_PAST_DUE: "Payment past due: organizations can be read, not created, imported or reactivated",
  SUBSCRIPTION_STATE_CANCELED: "Canceled: organizations can be read, not created, imported or reactivated",
};

const historyDays = 30;

/** utcDay is the calendar day (UTC, as the usage history counts them) n days before now. */
function utcDay(daysAgo: number): string {
  return new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
}

/** SubscriptionTab shows the plan and licenses, adds or removes licenses, and the usage history. */
export function SubscriptionTab() {
  const { accountId, can } = useSession();
  const clock = useClock();
  const path = { params: { path: { accountId } } };
  const data = useLoad(
    async (signal) => {
      const [subscription, usage] = await Promise.all([
        call(api.GET("/v1/accounts/{accountId}/subscription", { ...path, signal })),
        call(api.GET("/v1/accounts/{accountId}/subscription/usage", { ...path, signal })),
      ]);
      return { subscription, usage };
    },
    [accountId],
  );
  const history = useLoad(
    async (signal) => {
      const days: Day[] = [];
      let pageToken: string | undefined;
      do {
        const r = await call(
          api.GET("/v1/accounts/{accountId}/subscription/usageHistory", {
            params: {
              path: { accountId },
              query: { startDate: utcDay(historyDays - 1), endDate: utcDay(0), pageSize: 366, ...(pageToken ? { pageToken } : {}) },
            },
            signal,
          }),
        );
        days.push(...(r.days ?? []));
        pageToken = r.nextPageToken || undefined;
      } while (pageToken);
      return days;
    },
    [accountId],
  );

  if (data.loading && !data.data) return <Loading label="Loading the subscription" />;
  if (data.error || !data.data) return <Alert tone="error">{errorMessage(data.error)}</Alert>;
  const { subscription: sub, usage } = data.data;
  const unlimited = Boolean(sub.unlimited || usage.unlimited);

  return (
    <>
      <section className="section" aria-labelledby="settings-licenses-title">
        <h2 id="settings-licenses-title">Licenses</h2>
        <dl className="details">
          <dt>Plan</dt>
          <dd>{sub.planName || "—"}</dd>
          <dt>State</dt>
          <dd>{states[sub.state ?? ""] ?? "—"}</dd>
          {sub.currentPeriodEnd && (
            <>
              <dt>Current period</dt>
              <dd>
                {clock.date(sub.currentPeriodStart)} to {clock.date(sub.currentPeriodEnd)}
              </dd>
            </>
          )}
        </dl>
        <ul className="settings-stats" aria-label="License counts">
          <li>
            <span className="settings-stat-value">{unlimited ? "Unlimited" : (usage.organizationLimit ?? 0)}</span>
            <span className="settings-stat-label">Licenses</span>
          </li>
          <li>
            <span className="settings-stat-value">{usage.used ?? 0}</span>
            <span className="settings-stat-label">Used (active organizations)</span>
          </li>
          <li>
            <span className="settings-stat-value">{unlimited ? "Unlimited" : (usage.remaining ?? 0)}</span>
            <span className="settings-stat-label">Available</span>
          </li>
        </ul>
        {!unlimited && can("subscription:write") && <LicenseForms used={usage.used ?? 0} onChanged={data.reload} />}
      </section>
      <UsageHistory history={history} />
    </>
  );
}

function LicenseForms({ used, onChanged }: { used: number; onChanged: () => void }) {
  const { accountId } = useSession();
  const add = useApiForm();
  const remove = useApiForm();
  const [done, setDone] = useState<string>();
  const count = (v: string | undefined, field: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw fieldError(field, "Enter a whole number, 1 or more.");
    return n;
  };
  return (
    <div className="settings-license-forms">
      <Form
        className="form settings-inline-form"
        validationErrors={add.fieldErrors}
        onSubmit={add.onSubmit(async (v) => {
          setDone(undefined);
          const n = count(v.count, "count");
          await call(api.POST("/v1/accounts/{accountId}/subscription:addLicenses", { params: { path: { accountId } }, body: { count: n } }));
          setDone(`${n} license${n === 1 ? "" : "s"} added.`);
          onChanged();
        })}
        aria-label="Add licenses"
      >
        {add.error && <Alert tone="error">{add.error}</Alert>}
        <TextInput name="count" label="Licenses to add" inputMode="numeric" defaultValue="1" />
        <SubmitButton isPending={add.pending}>Add licenses</SubmitButton>
      </Form>
      <Form
        className="form settings-inline-form"
        validationErrors={remove.fieldErrors}
        onSubmit={remove.onSubmit(async (v) => {
          setDone(undefined);
          const n = count(v.count, "count");
          await call(api.POST("/v1/accounts/{accountId}/subscription:removeLicenses", { params: { path: { accountId } }, body: { count: n } }));
          setDone(`${n} license${n === 1 ? "" : "s"} removed.`);
          onChanged();
        })}
        aria-label="Remove licenses"
      >
        {remove.error && <Alert tone="error">{remove.error}</Alert>}
        <TextInput
          name="count"
          label="Licenses to remove"
          inputMode="numeric"
          defaultValue="1"
          description={`No fewer than the ${used} in use.`}
        />
        <SubmitButton isPending={remove.pending} tone="secondary">
          Remove licenses
        </SubmitButton>
      </Form>
      {done && <Alert tone="success">{done}</Alert>}
    </div>
  );
}

const chart = { width: 720, height: 220, left: 40, right: 12, top: 12, bottom: 28 };

/**
 * UsageHistory draws the active organizations of each of the last 30 days as bars (an SVG with
 * a text summary for screen readers) with the same numbers as a table under it.
 */
function UsageHistory({ history }: { history: { data: Day[] | undefined; loading: boolean; error: unknown } }) {
  const clock = useClock();
  let body;
  if (history.loading && !history.data) body = <Loading label="Loading the usage history" />;
  else if (history.error || !history.data) body = <Alert tone="error">{errorMessage(history.error)}</Alert>;
  else if (history.data.length === 0) body = <EmptyState title="No usage recorded yet" />;
  else {
    const days = history.data;
    const peak = Math.max(1, ...days.map((d) => Math.max(d.activeOrganizations ?? 0, d.peakActiveOrganizations ?? 0)));
    const plotW = chart.width - chart.left - chart.right;
    const plotH = chart.height - chart.top - chart.bottom;
    const slot = plotW / days.length;
    const y = (v: number) => chart.top + plotH - (v / peak) * plotH;
    const first = days[0]!;
    const last = days[days.length - 1]!;
    const summary = `Active organizations per day from ${clock.day(first.date)} to ${clock.day(last.date)}: from ${first.activeOrganizations ?? 0} to ${last.activeOrganizations ?? 0}, at most ${peak}.`;
    body = (
      <>
        <figure className="settings-chart">
          <svg viewBox={`0 0 ${chart.width} ${chart.height}`} role="img" aria-label={summary} className="settings-chart-svg">
            {[0, 0.5, 1].map((f) => {
              const v = Math.round(peak * f);
              return (
                <g key={f}>
                  <line x1={chart.left} x2={chart.width - chart.right} y1={y(v)} y2={y(v)} className="settings-chart-grid" />
                  <text x={chart.left - 6} y={y(v) + 4} textAnchor="end" className="settings-chart-label">
                    {v}
                  </text>
                </g>
              );
            })}
            {days.map((d, i) => {
              const v = d.activeOrganizations ?? 0;
              const x = chart.left + i * slot + slot * 0.15;
              return <rect key={d.date} x={x} y={y(v)} width={slot * 0.7} height={chart.top + plotH - y(v)} className="settings-chart-bar" />;
            })}
            <text x={chart.left} y={chart.height - 8} className="settings-chart-label">
              {clock.day(first.date)}
            </text>
            <text x={chart.width - chart.right} y={chart.height - 8} textAnchor="end" className="settings-chart-label">
              {clock.day(last.date)}
            </text>
          </svg>
          <figcaption className="muted">Active organizations at the end of each day (UTC); today so far.</figcaption>
        </figure>
        <details className="settings-chart-table">
          <summary>Show the numbers as a table</summary>
          <div className="table-wrap">
            <table className="table">
              <caption className="visually-hidden">Licensed organizations per day</caption>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Active at the end of the day</th>
                  <th scope="col">Most active at once</th>
                </tr>
              </thead>
              <tbody>
                {[...days].reverse().map((d) => (
                  <tr key={d.date}>
                    <th scope="row">{clock.day(d.date)}</th>
                    <td>{d.activeOrganizations ?? 0}</td>
                    <td>{d.peakActiveOrganizations ?? 0}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </>
    );
  }
  return (
    <section className="section" aria-labelledby="settings-usage-title">
      <h2 id="settings-usage-title">Usage over the last {historyDays} days</h2>
      {body}
    </section>
  );
}
