// Notification mail: a toggle per kind on the profile screen, and the page the unsubscribe
// link of a mail opens (/unsubscribe?token=…), signed in or not. The page asks before it
// unsubscribes: link scanners that open every link of a mail must not unsubscribe anyone
// (mail clients use the one-click POST of the List-Unsubscribe header instead).
import { useMutation, useQuery } from "@urql/preact";
import { useEffect, useState } from "preact/hooks";
import type { UserError } from "./api";
import { NOTIFICATION_SETTINGS, UNSUBSCRIBE, UPDATE_NOTIFICATION_SETTINGS } from "./operations";
import { FormErrors, Link } from "./ui";

type Setting = { kind: string; email: boolean };

export const KIND_LABELS: Record<string, string> = {
  SUBMISSION_REVIEWED: "My work was approved or rejected",
  REVISION_REQUESTED: "A revision of my work was requested",
  BONUS_RECEIVED: "I received a bonus",
  PAYOUT_PAID: "A payout was paid",
  PAYOUT_FAILED: "A payout failed",
  MESSAGE_RECEIVED: "I received a message",
  DISPUTE_DECIDED: "A dispute was decided",
  NEW_SUBMISSIONS: "New submissions on my tasks (at most one mail per task every few minutes)",
  BATCH_COMPLETED: "A batch of mine is complete",
};

export function NotificationSettings() {
  const [{ data, error }] = useQuery<{ me: { notificationSettings: Setting[] } | null }>({
    query: NOTIFICATION_SETTINGS,
  });
  const [state, update] = useMutation(UPDATE_NOTIFICATION_SETTINGS);
  const [settings, setSettings] = useState<Setting[]>([]);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [saved, setSaved] = useState("");
  useEffect(() => setSettings(data?.me?.notificationSettings ?? []), [data]);

  async function toggle(kind: string, email: boolean) {
    setSaved("");
    const before = settings;
    // Shown at once; the server's answer (or, refused, the state before) replaces it.
    setSettings(settings.map((s) => (s.kind === kind ? { kind, email } : s)));
    const result = await update({ input: { settings: [{ kind, email }] } });
    const payload = result.data?.updateNotificationSettings;
    setErrors(payload?.userErrors ?? []);
    if (payload && !payload.userErrors.length) {
      setSettings(payload.settings);
      setSaved(`${email ? "Mailing" : "No more mail for"}: ${KIND_LABELS[kind] ?? kind}.`);
    } else {
      setSettings(before);
    }
  }

  return (
    <section aria-labelledby="notifications-title">
      <h2 id="notifications-title">Email notifications</h2>
      <FormErrors errors={errors} fields={[]} extra={error?.message ?? state.error?.message} />
      <fieldset>
        <legend>Mail me when…</legend>
        {settings.map((s) => (
          <p key={s.kind}>
            <label>
              <input
                type="checkbox"
                name={s.kind}
                checked={s.email}
                onChange={(e) => toggle(s.kind, (e.currentTarget as HTMLInputElement).checked)}
              />{" "}
              {KIND_LABELS[s.kind] ?? s.kind}
            </label>
          </p>
        ))}
      </fieldset>
      {saved && <p role="status">{saved}</p>}
    </section>
  );
}

/** Opened from a mail's unsubscribe link, signed in or not. */
export function Unsubscribe() {
  const [state, run] = useMutation(UNSUBSCRIBE);
  const [outcome, setOutcome] = useState<{ kind?: string; errors: UserError[] } | null>(null);
  const token = new URLSearchParams(location.search).get("token") ?? "";
  async function confirm() {
    const result = await run({ input: { token } });
    const payload = result.data?.unsubscribe;
    setOutcome({ kind: payload?.kind ?? undefined, errors: payload?.userErrors ?? [] });
  }
  return (
    <main class="narrow">
      <h1>Unsubscribe</h1>
      {!outcome && (
        <p>
          <button type="button" disabled={state.fetching} onClick={confirm}>
            Stop these mails
          </button>
        </p>
      )}
      {outcome?.kind && (
        <p role="status">
          You will get no more mail for: {KIND_LABELS[outcome.kind] ?? outcome.kind}. Change this any
          time on your <Link href="/profile">profile</Link>.
        </p>
      )}
      {outcome && !outcome.kind && (
        <FormErrors errors={outcome.errors} fields={[]} extra={state.error?.message} />
      )}
    </main>
  );
}
