// The account steps that go through the user's mailbox: confirming the address, changing it,
// and recovering a forgotten password. The links mailed point at /confirm-email and
// /reset-password with their token in the query string.
import { useMutation } from "@urql/preact";
import { useEffect, useState } from "preact/hooks";
import type { UserError } from "./api";
import {
  CHANGE_EMAIL,
  CONFIRM_EMAIL,
  REQUEST_PASSWORD_RESET,
  RESEND_CONFIRMATION,
  RESET_PASSWORD,
} from "./operations";
import { CodeField } from "./security";
import { Field, FormErrors, formValues, Link } from "./ui";

function tokenInUrl(): string {
  return new URLSearchParams(location.search).get("token") ?? "";
}

/** Opened from the mailed link, signed in or not. */
export function ConfirmEmail() {
  const [state, run] = useMutation(CONFIRM_EMAIL);
  const [outcome, setOutcome] = useState<{ email?: string; errors: UserError[] } | null>(null);
  useEffect(() => {
    run({ input: { token: tokenInUrl() } }).then((result) => {
      const payload = result.data?.confirmEmail;
      setOutcome({ email: payload?.email ?? undefined, errors: payload?.userErrors ?? [] });
    });
  }, []);
  return (
    <main class="narrow">
      <h1>Confirm your address</h1>
      {!outcome && <p>Confirming…</p>}
      {outcome?.email && (
        <p role="status">
          <strong>{outcome.email}</strong> is confirmed. <Link href="/">Go on</Link>
        </p>
      )}
      {outcome && !outcome.email && (
        <FormErrors errors={outcome.errors} fields={[]} extra={state.error?.message} />
      )}
    </main>
  );
}

/** Shown above every screen until the address is confirmed. */
export function ConfirmBanner(props: { email: string }) {
  const [state, resend] = useMutation(RESEND_CONFIRMATION);
  const [said, setSaid] = useState("");
  return (
    <div class="banner" role="region" aria-label="Confirm your address">
      <p>
        Confirm <strong>{props.email}</strong>: we mailed you a link. Until then you cannot claim,
        post or withdraw.{" "}
        <button
          type="button"
          class="secondary"
          disabled={state.fetching}
          onClick={async () => {
            const result = await resend({});
            const payload = result.data?.resendConfirmation;
            setSaid(
              payload?.sent
                ? "A new link is on its way."
                : payload?.userErrors?.[0]?.message ?? result.error?.message ?? "",
            );
          }}
        >
          Send it again
        </button>
      </p>
      {said && <p role="status">{said}</p>}
    </div>
  );
}

export function ForgotPassword() {
  const [state, run] = useMutation(REQUEST_PASSWORD_RESET);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [sent, setSent] = useState("");
  async function submit(e: Event) {
    e.preventDefault();
    const { email } = formValues(e.currentTarget as HTMLFormElement);
    const result = await run({ input: { email } });
    const payload = result.data?.requestPasswordReset;
    setErrors(payload?.userErrors ?? []);
    if (payload?.accepted) setSent(email);
  }
  return (
    <main class="narrow">
      <h1>Forgot your password?</h1>
      {sent ? (
        <p role="status">
          If an account has the address {sent}, a link to choose a new password is on its way
          there. It works for a short while only.
        </p>
      ) : (
        <form onSubmit={submit} noValidate>
          <FormErrors errors={errors} fields={["email"]} extra={state.error?.message} />
          <Field label="Email" name="email" type="email" autocomplete="email" required errors={errors} />
          <button type="submit" disabled={state.fetching}>
            Mail me a link
          </button>
        </form>
      )}
      <p>
        <Link href="/login">Back to log in</Link>
      </p>
    </main>
  );
}

export function ResetPassword(props: { onToken: (token: string) => void }) {
  const [state, run] = useMutation(RESET_PASSWORD);
  const [errors, setErrors] = useState<UserError[]>([]);
  async function submit(e: Event) {
    e.preventDefault();
    const { newPassword, twoFactorCode } = formValues(e.currentTarget as HTMLFormElement);
    const result = await run({ input: { token: tokenInUrl(), newPassword, twoFactorCode: twoFactorCode || null } });
    const payload = result.data?.resetPassword;
    setErrors(payload?.userErrors ?? []);
    if (payload?.token) props.onToken(payload.token);
  }
  return (
    <main class="narrow">
      <h1>Choose a new password</h1>
      <form onSubmit={submit} noValidate>
        <FormErrors errors={errors} fields={["newPassword", "twoFactorCode"]} extra={state.error?.message} />
        <Field
          label="New password"
          name="newPassword"
          type="password"
          autocomplete="new-password"
          required
          errors={errors}
          hint="At least 10 characters; a passphrase works well. Every session is signed out."
        />
        <Field
          label="Two-factor code (only if you turned them on)"
          name="twoFactorCode"
          inputId="f-reset-code"
          autocomplete="one-time-code"
          errors={errors}
          hint="The code your authenticator app shows now, or one of your recovery codes."
        />
        <button type="submit" disabled={state.fetching}>
          Set the password
        </button>
      </form>
      {errors.some((e) => e.code === "INVALID_TOKEN") && (
        <p>
          <Link href="/forgot-password">Ask for a new link</Link>
        </p>
      )}
    </main>
  );
}

export function ChangeEmail(props: { pending: string | null; twoFactorEnabled: boolean }) {
  const [state, run] = useMutation(CHANGE_EMAIL);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [pending, setPending] = useState(props.pending);
  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const { newEmail, currentPassword, twoFactorCode } = formValues(form);
    const result = await run({ input: { newEmail, currentPassword, twoFactorCode: twoFactorCode || null } });
    const payload = result.data?.changeEmail;
    setErrors(payload?.userErrors ?? []);
    if (payload?.pendingEmail) {
      setPending(payload.pendingEmail);
      form.reset();
    }
  }
  return (
    <section aria-labelledby="change-email">
      <h2 id="change-email">Email address</h2>
      {pending && (
        <p role="status">
          We mailed a link to <strong>{pending}</strong>; your address changes once you open it.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        <FormErrors errors={errors} fields={["newEmail", "currentPassword", "twoFactorCode"]} extra={state.error?.message} />
        <Field label="New email" name="newEmail" type="email" autocomplete="email" required errors={errors} />
        <Field
          label="Current password"
          name="currentPassword"
          inputId="f-email-password"
          type="password"
          autocomplete="current-password"
          required
          errors={errors}
        />
        <CodeField on={props.twoFactorEnabled} errors={errors} id="f-email-code" />
        <button type="submit" disabled={state.fetching}>
          Change the address
        </button>
      </form>
    </section>
  );
}
