// Two factors and saved payout methods: enrolling an authenticator app (a QR code of the
// otpauth URI, and the URI and secret as text), the recovery codes shown once, leaving again;
// the payout methods money may go to, their confirmation link (/confirm-payout-method) and
// their cool-down. The server decides everything; this only shows it.
import { useMutation, useQuery } from "@urql/preact";
import { useEffect, useState } from "preact/hooks";
import { renderSVG } from "uqr";
import type { UserError } from "./api";
import {
  ADD_PAYOUT_METHOD,
  CONFIRM_PAYOUT_METHOD,
  DISABLE_TWO_FACTOR,
  ENABLE_TWO_FACTOR,
  MY_PAYOUT_METHODS,
  REMOVE_PAYOUT_METHOD,
  START_TWO_FACTOR,
} from "./operations";
import { Field, FormErrors, formValues, label, Link, when } from "./ui";

export interface SavedMethod {
  id: string;
  method: string;
  destination: string;
  label: string | null;
  createdAt: string;
  confirmedAt: string | null;
  usableFrom: string | null;
}

const NAMES: Record<string, string> = { PAYPAL: "PayPal", PAYONEER: "Payoneer", CRYPTO: "Crypto" };

export function methodName(m: SavedMethod): string {
  return `${m.label ? `${m.label}: ` : ""}${NAMES[m.method] ?? label(m.method)} ${m.destination}`;
}

/** Where the method stands: waiting for its link, cooling down until a time, or usable. */
export function methodState(m: SavedMethod): string {
  if (!m.confirmedAt || !m.usableFrom) return "Waiting for the link mailed to you";
  if (new Date(m.usableFrom).getTime() > Date.now()) return `Usable from ${when(m.usableFrom)}`;
  return "Usable";
}

export function useSavedMethods() {
  const [{ data }, refetch] = useQuery<{ myPayoutMethods: SavedMethod[] }>({ query: MY_PAYOUT_METHODS });
  return { methods: data?.myPayoutMethods ?? [], refetch: () => refetch({ requestPolicy: "network-only" }) };
}

/** The two-factor code field, shown only when two factors are on. */
export function CodeField(props: { on: boolean; errors: UserError[]; id: string }) {
  if (!props.on) return null;
  return (
    <Field
      label="Two-factor code"
      name="twoFactorCode"
      inputId={props.id}
      inputMode="numeric"
      autocomplete="one-time-code"
      required
      errors={props.errors}
      hint="The 6 digits your authenticator app shows now."
    />
  );
}

export function Security(props: { twoFactorEnabled: boolean }) {
  const [on, setOn] = useState(props.twoFactorEnabled);
  return (
    <main class="narrow">
      <h1>Security</h1>
      <TwoFactor on={on} onChange={setOn} />
      <PayoutMethods twoFactor={on} />
    </main>
  );
}

function TwoFactor(props: { on: boolean; onChange: (on: boolean) => void }) {
  const [startState, start] = useMutation(START_TWO_FACTOR);
  const [enableState, enable] = useMutation(ENABLE_TWO_FACTOR);
  const [disableState, disable] = useMutation(DISABLE_TWO_FACTOR);
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauthUri: string } | null>(null);
  const [codes, setCodes] = useState<string[]>([]);
  const [errors, setErrors] = useState<UserError[]>([]);
  const problem = startState.error?.message ?? enableState.error?.message ?? disableState.error?.message;

  async function begin() {
    const result = await start({});
    const payload = result.data?.startTwoFactor;
    setErrors(payload?.userErrors ?? []);
    if (payload?.secret) setEnrolment({ secret: payload.secret, otpauthUri: payload.otpauthUri });
  }
  async function confirm(e: Event) {
    e.preventDefault();
    const { code } = formValues(e.currentTarget as HTMLFormElement);
    const result = await enable({ input: { code } });
    const payload = result.data?.enableTwoFactor;
    setErrors(payload?.userErrors ?? []);
    if (payload?.recoveryCodes) {
      setCodes(payload.recoveryCodes);
      setEnrolment(null);
      props.onChange(true);
    }
  }
  async function leave(e: Event) {
    e.preventDefault();
    const { code } = formValues(e.currentTarget as HTMLFormElement);
    const result = await disable({ input: { code } });
    const payload = result.data?.disableTwoFactor;
    setErrors(payload?.userErrors ?? []);
    if (payload?.viewer) {
      setCodes([]);
      props.onChange(false);
    }
  }

  return (
    <section aria-labelledby="two-factor">
      <h2 id="two-factor">Two-factor codes</h2>
      <p role="status">
        {props.on
          ? "On: payouts and changes to your email, password and payout methods need a code from your app."
          : "Off."}
      </p>
      <FormErrors errors={errors} fields={["code"]} extra={problem} />
      {codes.length > 0 && (
        <div class="recovery-codes" aria-labelledby="recovery-title">
          <h3 id="recovery-title">Your recovery codes</h3>
          <p>
            Keep them somewhere safe, away from your phone: each one turns two factors off once if the app is
            lost. They are shown this once only.
          </p>
          <ul data-testid="recovery-codes">
            {codes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </div>
      )}
      {!props.on && !enrolment && (
        <button type="button" onClick={begin} disabled={startState.fetching}>
          Set up two-factor codes
        </button>
      )}
      {!props.on && enrolment && (
        <form onSubmit={confirm} noValidate>
          <p>Scan this with your authenticator app, or enter the key by hand:</p>
          <img
            class="qr"
            width={200}
            height={200}
            src={`data:image/svg+xml;utf8,${encodeURIComponent(renderSVG(enrolment.otpauthUri))}`}
            alt="QR code of the setup link for your authenticator app"
          />
          <p>
            Key: <code data-testid="two-factor-secret">{enrolment.secret}</code>
          </p>
          <p class="hint">
            Setup link: <code data-testid="otpauth-uri">{enrolment.otpauthUri}</code>
          </p>
          <Field
            label="Code from the app"
            name="code"
            inputId="f-enable-code"
            inputMode="numeric"
            autocomplete="one-time-code"
            required
            errors={errors}
          />
          <button type="submit" disabled={enableState.fetching}>
            Turn on
          </button>
        </form>
      )}
      {props.on && (
        <form onSubmit={leave} noValidate>
          <Field
            label="Code from the app, or a recovery code"
            name="code"
            inputId="f-disable-code"
            autocomplete="one-time-code"
            required
            errors={errors}
          />
          <button type="submit" class="secondary" disabled={disableState.fetching}>
            Turn off
          </button>
        </form>
      )}
    </section>
  );
}

function PayoutMethods(props: { twoFactor: boolean }) {
  const { methods, refetch } = useSavedMethods();
  const [addState, add] = useMutation(ADD_PAYOUT_METHOD);
  const [removeState, remove] = useMutation(REMOVE_PAYOUT_METHOD);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [removeErrors, setRemoveErrors] = useState<UserError[]>([]);
  const [said, setSaid] = useState("");

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const v = formValues(form);
    setSaid("");
    const result = await add({
      input: {
        method: v.method,
        destination: v.destination,
        label: v.label || null,
        twoFactorCode: v.twoFactorCode || null,
      },
    });
    const payload = result.data?.addPayoutMethod;
    setErrors(payload?.userErrors ?? []);
    if (payload?.payoutMethod) {
      form.reset();
      setSaid(
        payload.payoutMethod.confirmedAt
          ? "Saved and confirmed. Payouts can go to it once its cool-down ends."
          : "Saved. Open the link we mailed you to confirm it.",
      );
      refetch();
    }
  }
  async function drop(m: SavedMethod, form: HTMLFormElement) {
    const { twoFactorCode } = formValues(form);
    const result = await remove({ input: { payoutMethodId: m.id, twoFactorCode: twoFactorCode || null } });
    const payload = result.data?.removePayoutMethod;
    setRemoveErrors(payload?.userErrors ?? []);
    if (payload?.payoutMethod) {
      setSaid(`Removed ${methodName(m)}.`);
      refetch();
    }
  }

  return (
    <section aria-labelledby="payout-methods">
      <h2 id="payout-methods">Payout methods</h2>
      <p>
        Money leaves only to a saved method, once it is confirmed and its cool-down has passed. Every change is
        mailed to you.
      </p>
      {said && <p role="status">{said}</p>}
      <FormErrors errors={removeErrors} fields={props.twoFactor ? ["twoFactorCode"] : []} extra={removeState.error?.message} />
      <ul aria-label="Saved payout methods">
        {methods.map((m) => (
          <li key={m.id}>
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                drop(m, e.currentTarget as HTMLFormElement);
              }}
            >
              <span>{methodName(m)}</span> · <span>{methodState(m)}</span>{" "}
              <CodeField on={props.twoFactor} errors={removeErrors} id={`f-remove-code-${m.id}`} />
              <button type="submit" class="secondary" disabled={removeState.fetching} aria-label={`Remove ${methodName(m)}`}>
                Remove
              </button>
            </form>
          </li>
        ))}
      </ul>
      <form aria-labelledby="add-method" onSubmit={submit} noValidate>
        <h3 id="add-method">Add a payout method</h3>
        <FormErrors errors={errors} fields={["method", "destination", "label", "twoFactorCode"]} extra={addState.error?.message} />
        <Field label="Method" name="method" inputId="f-add-method" errors={errors}>
          <select id="f-add-method" name="method">
            <option value="PAYPAL">PayPal</option>
            <option value="PAYONEER">Payoneer</option>
            <option value="CRYPTO">Crypto</option>
          </select>
        </Field>
        <Field
          label="Destination"
          name="destination"
          inputId="f-add-destination"
          required
          errors={errors}
          hint="The PayPal or Payoneer account's email, or a Bitcoin or Ethereum address (its checksum is checked)."
        />
        <Field label="Label (optional)" name="label" inputId="f-add-label" errors={errors} />
        <CodeField on={props.twoFactor} errors={errors} id="f-add-code" />
        <button type="submit" disabled={addState.fetching}>
          Save the method
        </button>
      </form>
    </section>
  );
}

/** Opened from the mailed link, signed in or not. */
export function ConfirmPayoutMethod() {
  const [state, run] = useMutation(CONFIRM_PAYOUT_METHOD);
  const [outcome, setOutcome] = useState<{ method?: SavedMethod; errors: UserError[] } | null>(null);
  useEffect(() => {
    const token = new URLSearchParams(location.search).get("token") ?? "";
    run({ input: { token } }).then((result) => {
      const payload = result.data?.confirmPayoutMethod;
      setOutcome({ method: payload?.payoutMethod ?? undefined, errors: payload?.userErrors ?? [] });
    });
  }, []);
  return (
    <main class="narrow">
      <h1>Confirm a payout method</h1>
      {!outcome && <p>Confirming…</p>}
      {outcome?.method && (
        <p role="status">
          <strong>{methodName(outcome.method)}</strong> is confirmed; payouts can go to it from{" "}
          {when(outcome.method.usableFrom)}. <Link href="/security">Security</Link>
        </p>
      )}
      {outcome && !outcome.method && <FormErrors errors={outcome.errors} fields={[]} extra={state.error?.message} />}
    </main>
  );
}
