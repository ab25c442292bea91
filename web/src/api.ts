// The one GraphQL client: urql over HTTP with automatic persisted queries, graphql-ws for
// subscriptions (each resumed with `after` from its last cursor when the socket reconnects).
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from "@urql/core";
import { persistedExchange } from "@urql/exchange-persisted";
import { createClient as createWsClient, type Client as WsClient } from "graphql-ws";

const TOKEN_KEY = "picotask.token";

/** The API's origin, fixed where the app is deployed, never taken from the page's URL (a link
 * naming another API would make the app send it the user's token): the `picotask-api` meta
 * tag of index.html, else `VITE_PICOTASK_API` at build time, else this page's own origin. */
export function apiBase(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="picotask-api"]')?.content;
  const built = import.meta.env.VITE_PICOTASK_API as string | undefined;
  return (meta || built || location.origin).replace(/\/+$/, "");
}

export const token = {
  get: (): string | null => localStorage.getItem(TOKEN_KEY),
  set: (value: string | null): void => {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
};

/** The root field's `cursor` of a subscription result, e.g. `data.taskFeed.cursor`. */
function cursorOf(data: unknown): string | undefined {
  if (!data || typeof data !== "object") return undefined;
  for (const value of Object.values(data as Record<string, unknown>)) {
    const cursor = (value as { cursor?: unknown } | null)?.cursor;
    if (typeof cursor === "string") return cursor;
  }
  return undefined;
}

/** The cursor a subscription was ended with, to subscribe again from: the server restarts
 * (`SERVER_RESTART`, then it closes the socket with 1012) or dropped it as too slow. */
const RESUMABLE = new Set(["SERVER_RESTART", "SLOW_CONSUMER"]);
function resumeCursor(errors: readonly unknown[] | undefined): string | undefined {
  for (const error of errors ?? []) {
    const extensions = (error as { extensions?: { code?: unknown; cursor?: unknown } }).extensions;
    const { code, cursor } = extensions ?? {};
    if (typeof code === "string" && RESUMABLE.has(code) && typeof cursor === "string") return cursor;
  }
  return undefined;
}

// The socket's state, for the header's live indicator.
const connectionListeners = new Set<(state: string) => void>();
let connection = "Connecting…";
function setConnection(state: string): void {
  connection = state;
  connectionListeners.forEach((l) => l(state));
}
export function watchConnection(listener: (state: string) => void): () => void {
  connectionListeners.add(listener);
  listener(connection);
  return () => void connectionListeners.delete(listener);
}

export interface Api {
  client: Client;
  ws: WsClient;
}

/** 4403: the server refused the session (logged out elsewhere, expired, suspended). */
const SESSION_ENDED = 4403;

function closeCode(event: unknown): number | undefined {
  return (event as { code?: number } | null)?.code;
}

/** `onSessionEnded` runs when the server refuses the token, over HTTP or the socket. */
export function createApi(bearer: string | null, onSessionEnded: () => void): Api {
  const base = apiBase();
  const ws = createWsClient({
    url: base.replace(/^http/, "ws") + "/graphql",
    connectionParams: () => (bearer ? { authorization: `Bearer ${bearer}` } : {}),
    retryAttempts: Infinity,
    // Any outage is retried (and each subscription resumed), but not a refused session.
    shouldRetry: (event) => closeCode(event) !== SESSION_ENDED,
    lazy: true,
    on: {
      connecting: () => setConnection("Connecting…"),
      connected: () => setConnection("Live"),
      closed: (event) => {
        if (closeCode(event) === SESSION_ENDED) onSessionEnded();
        else setConnection("Reconnecting…");
      },
    },
  });
  const client = new Client({
    url: base + "/graphql",
    fetchOptions: (): RequestInit => (bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {}),
    requestPolicy: "cache-and-network",
    exchanges: [
      cacheExchange,
      // The server's APQ protocol: the hash first (over GET for queries, so caches can keep
      // them), the text only when the server answers PersistedQueryNotFound.
      persistedExchange({ preferGetForPersistedQueries: true, enableForMutation: true }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          let after: string | undefined;
          // graphql-ws sends this payload again on every reconnect; the getter makes each
          // resend carry `after: <last cursor seen>`, so the server replays what was missed
          // and nothing twice.
          const payload = {
            query: request.query ?? "",
            operationName: request.operationName,
            extensions: request.extensions,
            get variables() {
              return after ? { ...request.variables, after } : request.variables;
            },
          };
          return {
            subscribe(sink) {
              let dispose = (): void => {};
              let resuming = false;
              // Ended with a cursor: subscribed again from it. After SERVER_RESTART the old
              // socket starts nothing new and closes (1012); graphql-ws then reconnects and
              // sends the subscription again, with `after`, to whichever instance answers.
              const start = (): void => {
                dispose = ws.subscribe(payload, {
                  next(result) {
                    const resume = resumeCursor(result.errors);
                    if (resume) {
                      after = resume;
                      resuming = true;
                      return;
                    }
                    after = cursorOf(result.data) ?? after;
                    sink.next(result as Parameters<typeof sink.next>[0]);
                  },
                  error: (e) => sink.error(e),
                  complete: () => {
                    if (!resuming) return sink.complete();
                    resuming = false;
                    start();
                  },
                });
              };
              start();
              return { unsubscribe: () => dispose() };
            },
          };
        },
      }),
    ],
  });
  return { client, ws };
}

export interface UserError {
  field: string[] | null;
  message: string;
  code: string;
}

/** The messages of `errors` whose field path ends with `name` (`["input", "title"]` → title). */
export function errorsFor(errors: UserError[] | undefined, name: string): string[] {
  return (errors ?? []).filter((e) => e.field?.at(-1) === name).map((e) => e.message);
}

/** Errors not tied to one of `names` (shown above the form). */
export function otherErrors(errors: UserError[] | undefined, names: string[]): string[] {
  return (errors ?? [])
    .filter((e) => !e.field || !names.includes(e.field.at(-1) ?? ""))
    .map((e) => e.message);
}

export function newKey(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** The two steps of an image upload: a slot from `createUpload`, then the bytes by PUT. */
export async function putBytes(url: string, file: File): Promise<void> {
  const response = await fetch(url, {
    method: "PUT",
    body: file,
    headers: { "content-type": file.type },
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { userErrors?: UserError[] };
    throw new Error(body.userErrors?.[0]?.message ?? `Upload failed (${response.status})`);
  }
}
