import { Provider, useMutation, useQuery, useSubscription } from "@urql/preact";
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { Profile, Wallet, type Me } from "./account";
import { createApi, token as stored, watchConnection } from "./api";
import { Auth } from "./auth";
import { MyTasks, NewTask, TaskReview } from "./employer";
import { MyUserId, publishMyEvent, type MyEvent } from "./hooks";
import { NotificationSettings, Unsubscribe } from "./notifications";
import { LOG_OUT, ME, MY_EVENTS } from "./operations";
import "./style.css";
import { ChangeEmail, ConfirmBanner, ConfirmEmail, ForgotPassword, ResetPassword } from "./recovery";
import { ConfirmPayoutMethod, Security } from "./security";
import { Sessions } from "./sessions";
import { Link, money, navigate, usePath } from "./ui";
import { Feed, MySubmissions, TaskDetail, Work } from "./worker";

function App() {
  const [bearer, setBearer] = useState(stored.get());
  // A new client per token: the HTTP header and the socket's connection_init both carry it.
  const signIn = (value: string | null) => {
    stored.set(value);
    setBearer(value);
    navigate(value ? "/" : "/login");
  };
  const path = usePath();
  const api = useMemo(() => createApi(bearer, () => signIn(null)), [bearer]);
  useEffect(() => () => void api.ws.dispose(), [api]);
  // A mailed confirmation or unsubscribe link works signed in or out.
  return (
    <Provider value={api.client}>
      {path === "/confirm-email" ? (
        <ConfirmEmail />
      ) : path === "/confirm-payout-method" ? (
        <ConfirmPayoutMethod />
      ) : path === "/unsubscribe" ? (
        <Unsubscribe />
      ) : bearer ? (
        <Shell onSignOut={() => signIn(null)} />
      ) : (
        <SignedOut onToken={signIn} />
      )}
    </Provider>
  );
}

function SignedOut(props: { onToken: (token: string) => void }) {
  const path = usePath();
  if (path === "/forgot-password") return <ForgotPassword />;
  if (path === "/reset-password") return <ResetPassword onToken={props.onToken} />;
  return <Auth mode={path === "/signup" ? "signup" : "login"} onToken={props.onToken} />;
}

function Shell(props: { onSignOut: () => void }) {
  const path = usePath();
  const [{ data, error }] = useQuery<{ me: Me | null }>({ query: ME });
  const [balance, setBalance] = useState<string | undefined>();
  const [, logOut] = useMutation(LOG_OUT);
  const [notice, setNotice] = useState("");
  const [connection, setConnection] = useState("");
  useEffect(() => watchConnection(setConnection), []);
  useEffect(() => setBalance(data?.me?.balance.amount), [data]);
  // A token the server no longer knows: back to the log-in screen.
  const refused = error?.graphQLErrors.some((e) => e.extensions?.code === "UNAUTHENTICATED");
  useEffect(() => {
    if (refused || (data && data.me === null)) props.onSignOut();
  }, [data, refused]);
  // The tab's one myEvents stream: the balance from each statement row, notices, and every
  // screen listening (statement, messages, the claimed work).
  useSubscription({ query: MY_EVENTS }, (_, result: { myEvents: MyEvent }) => {
    const event = result.myEvents;
    if (event.statementRow) setBalance(event.statementRow.balanceAfter.amount);
    if (event.type !== "statement.row") setNotice(event.message);
    publishMyEvent(event);
    return result;
  });
  const me = data?.me;
  if (!me) return <main>{error ? <p class="error">{error.message}</p> : <p>Loading…</p>}</main>;

  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <Link href="/">Feed</Link>
          <Link href="/submissions">My work</Link>
          <Link href="/employer">My tasks</Link>
          <Link href="/employer/new">New task</Link>
          <Link href="/wallet">Wallet</Link>
          <Link href="/profile">Profile</Link>
          <Link href="/security">Security</Link>
        </nav>
        <div class="who">
          <span role="status" aria-label="Connection" class={connection === "Live" ? "live" : "offline"}>
            {connection}
          </span>
          <span>{me.displayName}</span>
          <Link href="/wallet" class="balance-pill">
            <span class="visually-hidden">Balance </span>
            <span data-testid="balance">{money(balance, me.balance.currency)}</span>
          </Link>
          <button
            type="button"
            class="secondary"
            onClick={async () => {
              await logOut({ input: {} });
              props.onSignOut();
            }}
          >
            Log out
          </button>
        </div>
      </header>
      {!me.emailConfirmed && <ConfirmBanner email={me.email} />}
      <p class="notice-bar" role="status" aria-live="polite">
        {notice}
      </p>
      <div id="content" tabIndex={-1}>
        <MyUserId.Provider value={me.user.id}>
          <Screen path={path} me={{ ...me, balance: { ...me.balance, amount: balance ?? me.balance.amount } }} />
        </MyUserId.Provider>
      </div>
    </>
  );
}

function Screen(props: { path: string; me: Me }) {
  const [, section, id, more] = props.path.split("/");
  if (section === "tasks" && id) return <TaskDetail id={id} />;
  if (section === "work" && id) return <Work id={id} />;
  if (section === "submissions") return <MySubmissions />;
  if (section === "wallet") return <Wallet balance={props.me.balance.amount} twoFactorEnabled={props.me.twoFactorEnabled} />;
  if (section === "security") return <Security twoFactorEnabled={props.me.twoFactorEnabled} />;
  if (section === "profile") {
    return (
      <>
        <Profile me={props.me} />
        <main class="narrow">
          <ChangeEmail pending={props.me.pendingEmail} twoFactorEnabled={props.me.twoFactorEnabled} />
          <Sessions />
          <NotificationSettings />
        </main>
      </>
    );
  }
  if (section === "employer" && id === "new") return <NewTask />;
  if (section === "employer" && id === "tasks" && more) return <TaskReview id={more} />;
  if (section === "employer") return <MyTasks />;
  return <Feed />;
}

render(<App />, document.getElementById("app")!);
