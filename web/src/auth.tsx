import { useMutation } from "@urql/preact";
import { useState } from "preact/hooks";
import type { UserError } from "./api";
import { LOG_IN, SIGN_UP } from "./operations";
import { Field, FormErrors, formValues, Link } from "./ui";

const SIGN_UP_FIELDS = ["email", "password", "displayName", "country"];

export function Auth(props: { mode: "login" | "signup"; onToken: (token: string) => void }) {
  const signingUp = props.mode === "signup";
  const [state, run] = useMutation(signingUp ? SIGN_UP : LOG_IN);
  const [errors, setErrors] = useState<UserError[]>([]);

  async function submit(e: Event) {
    e.preventDefault();
    const values = formValues(e.currentTarget as HTMLFormElement);
    const input = signingUp
      ? { ...values, country: values.country.toUpperCase() }
      : { email: values.email, password: values.password };
    const result = await run({ input });
    const payload = result.data?.[signingUp ? "signUp" : "logIn"];
    setErrors(payload?.userErrors ?? []);
    if (payload?.token) props.onToken(payload.token);
  }

  return (
    <main class="narrow">
      <h1>{signingUp ? "Create your account" : "Log in"}</h1>
      <form onSubmit={submit} noValidate>
        <FormErrors errors={errors} fields={SIGN_UP_FIELDS} extra={state.error?.message} />
        <Field label="Email" name="email" type="email" autocomplete="email" required errors={errors} />
        <Field
          label="Password"
          name="password"
          type="password"
          autocomplete={signingUp ? "new-password" : "current-password"}
          required
          errors={errors}
          hint={signingUp ? "At least 10 characters; a passphrase works well." : undefined}
        />
        {signingUp && (
          <>
            <Field label="Display name" name="displayName" autocomplete="nickname" required errors={errors} />
            <Field
              label="Country"
              name="country"
              autocomplete="country"
              maxLength={2}
              required
              errors={errors}
              hint="Two letters, e.g. DE or US."
            />
          </>
        )}
        <button type="submit" disabled={state.fetching}>
          {signingUp ? "Sign up" : "Log in"}
        </button>
      </form>
      <p>
        {signingUp ? (
          <>
            Have an account? <Link href="/login">Log in</Link>
          </>
        ) : (
          <>
            New here? <Link href="/signup">Create an account</Link> ·{" "}
            <Link href="/forgot-password">Forgot your password?</Link>
          </>
        )}
      </p>
    </main>
  );
}
