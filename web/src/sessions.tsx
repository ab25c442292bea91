// The viewer's sessions on the profile screen: where each was opened, when it was last used,
// and a Revoke button for the others (this browser's is ended with "Log out").
import { useMutation, useQuery } from "@urql/preact";
import { useState } from "preact/hooks";
import { MY_SESSIONS, REVOKE_SESSION } from "./operations";
import { when } from "./ui";

interface SessionRow {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  clientAddress: string | null;
  userAgent: string | null;
  current: boolean;
}

export function Sessions() {
  const [{ data, error }, refetch] = useQuery<{ mySessions: SessionRow[] }>({
    query: MY_SESSIONS,
    requestPolicy: "network-only",
  });
  const [state, revoke] = useMutation(REVOKE_SESSION);
  const [said, setSaid] = useState("");

  async function end(row: SessionRow) {
    const result = await revoke({ input: { sessionId: row.id } });
    const problem = result.data?.revokeSession?.userErrors?.[0]?.message ?? result.error?.message;
    setSaid(problem ?? "The session was revoked: it is signed out.");
    refetch({ requestPolicy: "network-only" });
  }

  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <p>Where your account is signed in. Revoke any you do not recognise, then change your password.</p>
      {error && <p class="error">{error.message}</p>}
      <ul class="sessions" aria-label="Sessions">
        {(data?.mySessions ?? []).map((s) => (
          <li key={s.id} aria-current={s.current ? "true" : undefined}>
            {s.current && <p class="status status-open">This browser</p>}
            <p class="agent">{s.userAgent ?? "Unknown client"}</p>
            <p>
              <small>
                {s.clientAddress ?? "unknown address"} · signed in {when(s.createdAt)} · last seen{" "}
                {when(s.lastSeenAt)}
              </small>
            </p>
            {!s.current && (
              <button
                type="button"
                class="secondary"
                disabled={state.fetching}
                aria-label={`Revoke the session of ${s.userAgent ?? "an unknown client"} signed in ${when(s.createdAt)}`}
                onClick={() => end(s)}
              >
                Revoke
              </button>
            )}
          </li>
        ))}
      </ul>
      {said && <p role="status">{said}</p>}
    </section>
  );
}
