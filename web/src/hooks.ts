// Cursor pages that grow with "Load more", and the tab's one live event stream.
import type { AnyVariables, DocumentInput } from "@urql/core";
import { useClient, useQuery } from "@urql/preact";
import { createContext } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Task and submission lists: the event log's position before the page was read. */
  feedCursor?: string;
}

export interface Page<T, D = unknown> {
  /** The latest response as a whole, for the fields beside the connection. */
  data?: D;
  items: T[];
  setItems: (update: (items: T[]) => T[]) => void;
  hasMore: boolean;
  more: () => void;
  fetching: boolean;
  error?: string;
  refetch: () => void;
  /** The first page's `feedCursor`: a subscription `after` it misses nothing since that read. */
  feedCursor?: string;
  /** The same, updated with the items (before the next render): see `useLiveAfter`. */
  shownCursor: { current: string | undefined };
}

/** A connection read page by page with keyset cursors (`first` / `after`). The first page is
 * read again whenever `variables` change; "Load more" asks for the page after `endCursor`. */
export function usePaged<T extends { id?: string; cursor?: string }, D = unknown>(
  query: DocumentInput<D, AnyVariables>,
  variables: Record<string, unknown>,
  pick: (data: D) => Connection<T> | undefined,
  pause = false,
): Page<T, D> {
  const [after, setAfter] = useState<string | null>(null);
  const [items, setItemsState] = useState<T[]>([]);
  const [feedCursor, setFeedCursor] = useState<string | undefined>(undefined);
  const shownCursor = useRef<string | undefined>(undefined);
  const key = JSON.stringify(variables);
  useEffect(() => setAfter(null), [key]);
  const [result, reexecute] = useQuery({
    query,
    variables: { ...variables, first: 20, after },
    pause,
  });
  const connection = result.data ? pick(result.data) : undefined;
  useEffect(() => {
    if (!connection) return;
    const page = connection.edges.map((e) => e.node);
    if (!after) {
      shownCursor.current = connection.feedCursor;
      setFeedCursor(connection.feedCursor);
    }
    setItemsState((current) => {
      if (!after) return page;
      const seen = new Set(current.map(identity));
      return [...current, ...page.filter((item) => !seen.has(identity(item)))];
    });
  }, [connection]);
  return {
    data: result.data,
    items,
    setItems: (update) => setItemsState(update),
    hasMore: Boolean(connection?.pageInfo.hasNextPage),
    more: () => connection?.pageInfo.endCursor && setAfter(connection.pageInfo.endCursor),
    fetching: result.fetching,
    error: result.error?.message,
    refetch: () => reexecute({ requestPolicy: "network-only" }),
    feedCursor,
    shownCursor,
  };
}

/** A subscription that continues `page`: started `after` its first page's `feedCursor`, so
 * what was posted between the page's query and the subscription reaching the server is
 * replayed, not missed (and restarted when a newer page brings a newer cursor). Events from a
 * subscription older than the items shown are dropped: the page already holds their effect.
 * An event may repeat what the page shows: `onData` merges by id. */
export function useLiveAfter<D>(
  query: DocumentInput<D, AnyVariables>,
  variables: Record<string, unknown>,
  page: Pick<Page<unknown>, "feedCursor" | "shownCursor">,
  onData: (data: D) => void,
): void {
  const client = useClient();
  const latest = useRef(onData);
  latest.current = onData;
  const cursor = page.feedCursor;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!cursor) return;
    const { unsubscribe } = client.subscription(query, { ...variables, after: cursor }).subscribe((result) => {
      if (result.data && page.shownCursor.current === cursor) latest.current(result.data);
    });
    return unsubscribe;
  }, [client, key, cursor]);
}

/** A list with `item` merged in by id: in place of the row with its id, else first (when `add`).
 * A live event that repeats what the page already shows never makes a second row. */
export function upsert<T extends { id: string }>(items: T[], item: T, add = true): T[] {
  if (items.some((x) => x.id === item.id)) return items.map((x) => (x.id === item.id ? item : x));
  return add ? [item, ...items] : items;
}

function identity(item: { id?: string; cursor?: string }): string | undefined {
  return item.id ?? item.cursor;
}

// --- the tab's `myEvents` stream, shared by every screen that wants it ----------------------
export interface MyEvent {
  cursor: string;
  type: string;
  message: string;
  createdAt: string;
  task: { id: string } | null;
  submission: { id: string; status: string; feedback: string | null; rejectionReason: string | null } | null;
  statementRow: StatementRow | null;
  payout: { id: string; status: string } | null;
}

export interface StatementRow {
  cursor: string;
  kind: string;
  amount: { amount: string };
  fee: { amount: string } | null;
  balanceAfter: { amount: string };
  createdAt: string;
  task: { id: string; title: string } | null;
}

const hub = new EventTarget();

export function publishMyEvent(event: MyEvent): void {
  hub.dispatchEvent(new CustomEvent("my-event", { detail: event }));
}

export function useMyEvents(handler: (event: MyEvent) => void): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const listener = (e: Event) => latest.current((e as CustomEvent<MyEvent>).detail);
    hub.addEventListener("my-event", listener);
    return () => hub.removeEventListener("my-event", listener);
  }, []);
}

/** The signed-in user's User id (messages are told apart by it). */
export const MyUserId = createContext("");
