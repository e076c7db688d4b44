/**
 * keyturn's browser client: keeps a person signed in across every tab of a
 * site with one refresh at a time, signs every tab out together, and
 * optionally binds the session to a non-extractable key (DPoP, RFC 9449).
 * Served by keyturn at `/keyturn.js` (types at `/keyturn.d.ts`); see docs/web.md.
 *
 * Why it is shaped like this: keyturn rotates the refresh token on every use
 * and treats an old token coming back as theft. Tabs that refresh on their own
 * would race each other into that alarm, so every refresh goes through one
 * lock shared by the tabs (Web Locks), and the winner hands the new access
 * token to the others (BroadcastChannel) instead of letting them refresh too.
 */
/** Where the refresh token lives when the app keeps it (token mode). */
export interface TokenStore {
    get(): string | null | Promise<string | null>;
    set(refreshToken: string | null): unknown;
}
export interface Options {
    /** `"cookie"` (default): the refresh token stays in keyturn's HttpOnly
     * cookie, out of script's reach. `"token"`: the app keeps it in `store`. */
    mode?: "cookie" | "token";
    store?: TokenStore;
    /** Bind the session to a non-extractable WebCrypto key kept in IndexedDB. */
    dpop?: boolean;
    /** Origins besides this page's that may receive the access token. */
    origins?: string[];
    /** Tabs with the same name share one session (default `"keyturn"`). */
    name?: string;
}
/** The access token's payload: what keyturn vouches for plus the app's claims. */
export interface Claims {
    sub: string;
    sid: string;
    exp: number;
    iat: number;
    scope?: string;
    [claim: string]: unknown;
}
export interface Events {
    signedIn: Claims;
    refreshed: Claims;
    /** The session ended elsewhere: `reason` is keyturn's error code
     * (`session_revoked`, `refresh_token_reused`, `refresh_token_expired`, …). */
    sessionEnded: {
        reason: string;
    };
    signedOut: Record<string, never>;
}
/** A refused login: `code` is keyturn's stable error code. */
export interface KeyturnError extends Error {
    code: string;
    status: number;
}
export declare class Keyturn {
    private o;
    private n;
    private tok;
    private type;
    private exp;
    private life;
    private skew;
    private sid;
    private busy;
    private timer?;
    private bc?;
    private fns;
    private key?;
    private wake;
    private cl;
    constructor(options?: Options);
    /** Subscribe to an event; returns the unsubscribe function. */
    on<E extends keyof Events>(event: E, fn: (detail: Events[E]) => void): () => void;
    /** The current access token's claims (roles, scope, …), or null when signed out. */
    claims(): Claims | null;
    /** A valid access token (refreshed first when due), or null when signed out. */
    accessToken(): Promise<string | null>;
    /** Sign in with a username and password; throws a `KeyturnError` when refused. */
    login(username: string, password: string): Promise<Claims>;
    /** On page load: take the session over from another tab, or from the
     * refresh token, if there is one. Makes no request that could only fail. */
    resume(): Promise<boolean>;
    /** Refresh now (one refresh for all tabs); false when it failed. */
    refresh(): Promise<boolean>;
    /** `seen`: the token the server refused (undefined: refresh only if due). */
    private run;
    /** `fetch` with the access token (and DPoP proof) attached for keyturn and
     * the `origins` allowed; one refresh and one retry when a refresh can help. */
    fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
    /** Sign out this session, in every tab. */
    logout(): Promise<void>;
    private emit;
    private post;
    private msg;
    private shared;
    /** Until when (local clock) the refresh cookie lives; a hint, not a secret. */
    private mark;
    private due;
    private schedule;
    private until;
    private set;
    private accept;
    private drop;
    /** One holder at a time across the tabs; `fn` learns how long to wait for
     * a token another tab may just have got (0: nobody was ahead of us). */
    private lock;
    private go;
    private call;
    private send;
    /** The tab's key pair: made once, non-extractable, shared by the tabs. */
    private pair;
    /** An RFC 9449 proof for one request, dated by the server's clock. */
    private proof;
}
