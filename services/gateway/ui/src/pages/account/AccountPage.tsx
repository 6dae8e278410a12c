import { useSession } from "../../app/session";
import { displayName } from "../../app/UserMenu";
import { Page } from "../../components/Page";
import { EmailPreferencesSection } from "./EmailPreferencesSection";
import { PasswordSection } from "./PasswordSection";
import { SessionsSection } from "./SessionsSection";
import { TwoStepSection } from "./TwoStepSection";

/** AccountPage is "My account": the signed-in person's own sign-in and preferences (/account). */
export default function AccountPage() {
  return (
    <Page title="My account">
      <ProfileSection />
      <PasswordSection />
      <TwoStepSection />
      <SessionsSection />
      <EmailPreferencesSection />
    </Page>
  );
}

function ProfileSection() {
  const { me, accountName } = useSession();
  return (
    <section className="section" aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <dl className="details">
        <dt>Name</dt>
        <dd>{displayName({ firstName: me.user?.firstName ?? "", lastName: me.user?.lastName ?? "" }) || "—"}</dd>
        <dt>Email</dt>
        <dd>{me.user?.email}</dd>
        <dt>Account</dt>
        <dd>{accountName}</dd>
      </dl>
      <p className="muted">An administrator changes names and emails under Users and Roles.</p>
    </section>
  );
}
