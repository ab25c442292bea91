// Everyone's money and profile: balance, deposit, payout request, the statement (live), photo.
import { useMutation } from "@urql/preact";
import { useState } from "preact/hooks";
import { newKey, putBytes, type UserError } from "./api";
import { type StatementRow, usePaged, useMyEvents } from "./hooks";
import { CREATE_UPLOAD, DEPOSIT, MY_PAYOUTS, PAYOUT, STATEMENT, UPDATE_PROFILE } from "./operations";
import { CodeField, methodName, methodState, useSavedMethods } from "./security";
import { Field, FormErrors, formValues, label, money, Status, when } from "./ui";

export interface Me {
  id: string;
  email: string;
  emailConfirmed: boolean;
  pendingEmail: string | null;
  twoFactorEnabled: boolean;
  displayName: string;
  country: string;
  balance: { amount: string; currency: string };
  user: { id: string; avatarUrl: string | null; bio: string | null };
}

export function Wallet(props: { balance: string | undefined; twoFactorEnabled: boolean }) {
  const statement = usePaged<StatementRow>(STATEMENT, {}, (d) => (d as { statement: never }).statement);
  const payouts = usePaged<{ id: string; amount: { amount: string }; method: string; status: string; createdAt: string }>(
    MY_PAYOUTS,
    {},
    (d) => (d as { myPayouts: never }).myPayouts,
  );
  useMyEvents((event) => {
    const row = event.statementRow;
    if (row) statement.setItems((rows) => (rows.some((r) => r.cursor === row.cursor) ? rows : [row, ...rows]));
    if (event.payout) payouts.refetch();
  });

  return (
    <main>
      <h1>Wallet</h1>
      <p class="balance">
        Balance: <strong data-testid="wallet-balance">{money(props.balance)}</strong>
      </p>
      <div class="columns">
        <DepositForm />
        <PayoutForm twoFactorEnabled={props.twoFactorEnabled} />
      </div>
      <h2>Statement</h2>
      <table>
        <caption class="visually-hidden">Every movement of your balance, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            <th scope="col">Amount</th>
            <th scope="col">Balance after</th>
          </tr>
        </thead>
        <tbody aria-live="polite" aria-label="Statement rows">
          {statement.items.map((r) => (
            <tr key={r.cursor}>
              <td>{when(r.createdAt)}</td>
              <td>
                {label(r.kind)}
                {r.task ? `: ${r.task.title}` : ""}
              </td>
              <td class="num">{money(r.amount.amount)}</td>
              <td class="num">{money(r.balanceAfter.amount)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {statement.hasMore && (
        <button type="button" onClick={statement.more}>
          Older rows
        </button>
      )}
      <h2>Payouts</h2>
      <ul>
        {payouts.items.map((p) => (
          <li key={p.id}>
            {money(p.amount.amount)} by {label(p.method)} · <Status value={p.status} /> · {when(p.createdAt)}
          </li>
        ))}
      </ul>
    </main>
  );
}

function DepositForm() {
  const [state, deposit] = useMutation(DEPOSIT);
  const [errors, setErrors] = useState<UserError[]>([]);
  // One key per intended deposit: a retried click never pays twice.
  const [key, setKey] = useState(newKey);
  return (
    <form
      aria-labelledby="deposit-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget as HTMLFormElement;
        const result = await deposit({ input: { amount: formValues(form).amount, idempotencyKey: key } });
        const payload = result.data?.createDeposit;
        setErrors(payload?.userErrors ?? []);
        if (payload?.deposit) {
          form.reset();
          setKey(newKey());
        }
      }}
    >
      <h2 id="deposit-title">Deposit</h2>
      <FormErrors errors={errors} fields={["amount"]} extra={state.error?.message} />
      <Field label="Deposit amount (USD)" name="amount" inputMode="decimal" required errors={errors} />
      <button type="submit" disabled={state.fetching}>
        Deposit
      </button>
    </form>
  );
}

const PAYOUT_FIELDS = ["amount", "method", "destination", "payoutMethodId", "twoFactorCode"];

function PayoutForm(props: { twoFactorEnabled: boolean }) {
  const [state, payout] = useMutation(PAYOUT);
  const { methods } = useSavedMethods();
  const [errors, setErrors] = useState<UserError[]>([]);
  const [key, setKey] = useState(newKey);
  const [done, setDone] = useState("");
  const [saved, setSaved] = useState("");
  return (
    <form
      aria-labelledby="payout-title"
      onSubmit={async (e) => {
        e.preventDefault();
        const form = e.currentTarget as HTMLFormElement;
        const v = formValues(form);
        const where = v.payoutMethodId
          ? { payoutMethodId: v.payoutMethodId }
          : { method: v.method, destination: v.destination };
        const result = await payout({
          input: { amount: v.amount, ...where, twoFactorCode: v.twoFactorCode || null, idempotencyKey: key },
        });
        const payload = result.data?.requestPayout;
        setErrors(payload?.userErrors ?? []);
        if (payload?.payout) {
          form.reset();
          setSaved("");
          setKey(newKey());
          setDone(`Payout of ${money(payload.payout.amount.amount)} requested.`);
        }
      }}
    >
      <h2 id="payout-title">Withdraw</h2>
      <FormErrors errors={errors} fields={PAYOUT_FIELDS} extra={state.error?.message} />
      <Field label="Payout amount (USD)" name="amount" inputId="f-payout-amount" inputMode="decimal" required errors={errors} />
      <Field label="Pay to" name="payoutMethodId" errors={errors} hint="Saved methods are managed under Security.">
        <select id="f-payoutMethodId" name="payoutMethodId" onChange={(e) => setSaved(e.currentTarget.value)}>
          <option value="">Type a destination below</option>
          {methods.map((m) => (
            <option key={m.id} value={m.id}>
              {methodName(m)} ({methodState(m)})
            </option>
          ))}
        </select>
      </Field>
      {!saved && (
        <>
          <Field label="Method" name="method" errors={errors}>
            <select id="f-method" name="method">
              <option value="PAYPAL">PayPal</option>
              <option value="PAYONEER">Payoneer</option>
              <option value="CRYPTO">Crypto</option>
            </select>
          </Field>
          <Field label="Destination" name="destination" required errors={errors} hint="Your PayPal email, or the account or address." />
        </>
      )}
      <CodeField on={props.twoFactorEnabled} errors={errors} id="f-payout-code" />
      <button type="submit" disabled={state.fetching}>
        Request payout
      </button>
      {done && <p role="status">{done}</p>}
    </form>
  );
}

export function Profile(props: { me: Me }) {
  const [state, update] = useMutation(UPDATE_PROFILE);
  const [, createUpload] = useMutation(CREATE_UPLOAD);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [problem, setProblem] = useState("");
  const [saved, setSaved] = useState("");

  async function save(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setProblem("");
    setSaved("");
    try {
      const input: Record<string, unknown> = {
        displayName: data.get("displayName"),
        country: String(data.get("country")).toUpperCase(),
        bio: data.get("bio"),
      };
      const photo = data.get("photo");
      if (photo instanceof File && photo.size > 0) {
        const slot = await createUpload({ input: { purpose: "AVATAR", contentType: photo.type, size: photo.size } });
        const payload = slot.data?.createUpload;
        if (!payload?.uploadUrl) throw new Error(payload?.userErrors?.[0]?.message ?? "No upload slot");
        await putBytes(payload.uploadUrl, photo);
        input.avatarUploadId = payload.upload.id;
      }
      const result = await update({ input });
      const payloadErrors = result.data?.updateProfile?.userErrors ?? [];
      setErrors(payloadErrors);
      if (!payloadErrors.length && !result.error) setSaved("Profile saved.");
    } catch (err) {
      setProblem((err as Error).message);
    }
  }

  const me = props.me;
  return (
    <main class="narrow">
      <h1>Profile</h1>
      {me.user.avatarUrl && <img class="avatar" src={me.user.avatarUrl} alt={`${me.displayName}'s photo`} />}
      <form onSubmit={save} noValidate>
        <FormErrors errors={errors} fields={["displayName", "country", "bio", "avatarUploadId"]} extra={problem || state.error?.message} />
        <p>{me.email}</p>
        <Field label="Display name" name="displayName" value={me.displayName} errors={errors} />
        <Field label="Country" name="country" value={me.country} maxLength={2} errors={errors} />
        <Field label="About you" name="bio" errors={errors}>
          <textarea id="f-bio" name="bio" rows={3}>
            {me.user.bio ?? ""}
          </textarea>
        </Field>
        <Field label="Photo" name="avatarUploadId" errors={errors}>
          <input id="f-avatarUploadId" name="photo" type="file" accept="image/png,image/jpeg,image/webp" />
        </Field>
        <button type="submit" disabled={state.fetching}>
          Save profile
        </button>
        {saved && <p role="status">{saved}</p>}
      </form>
    </main>
  );
}
