// deploybot's bootstrap for one edge function: runs inside the function's sandbox,
// preloaded (`deno run --preload <this> <entrypoint>`) so the entrypoint stays the main
// module (`import.meta.main` holds, as on Supabase).
//
// Deno.serve is replaced before the entrypoint runs, so the function's own
// `Deno.serve(handler)` (any of its call forms) listens on the unix socket the host proxies
// to, whatever port or hostname it asks for. An entrypoint that finishes loading without
// calling Deno.serve is an error the host reports.

// Where the host connects (deno_runtime.SOCKET_VAR; --allow-env lets us read it).
const socketPath = Deno.env.get("DEPLOYBOT_FUNCTION_SOCKET") ?? "/run/function/fn.sock";

// Variables: a function may read only its environment's (--allow-env lists them), but on
// Supabase reading any other name gives `undefined` (an unset secret), so functions read
// optional settings freely (`Deno.env.get("ALLOWED_HOST") || default`). Deno would throw
// at such a read instead; here it reads as unset. Nothing more becomes readable.
const SUPABASE_VARIABLES = ["SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY",
  "SUPABASE_DB_URL"];
const env = Deno.env;
const realGet = env.get.bind(env);
const realHas = env.has.bind(env);
const realToObject = env.toObject.bind(env);

function notGranted(error: unknown): boolean {
  // deno-lint-ignore no-explicit-any
  const errors = Deno.errors as any;
  return (errors.NotCapable !== undefined && error instanceof errors.NotCapable) ||
    error instanceof Deno.errors.PermissionDenied;
}

env.get = (name: string): string | undefined => {
  try {
    return realGet(name);
  } catch (error) {
    if (notGranted(error)) return undefined;
    throw error;
  }
};
env.has = (name: string): boolean => {
  try {
    return realHas(name);
  } catch (error) {
    if (notGranted(error)) return false;
    throw error;
  }
};
env.toObject = (): { [name: string]: string } => {
  try {
    return realToObject();
  } catch (error) {
    if (!notGranted(error)) throw error;
    const visible: { [name: string]: string } = {};
    for (const name of SUPABASE_VARIABLES) {
      const value = env.get(name);
      if (value !== undefined) visible[name] = value;
    }
    return visible;
  }
};

// Supabase's edge runtime global: `EdgeRuntime.waitUntil(promise)` keeps a background task
// running after the response. The function's process here serves until the host stops it,
// so the task runs on; a task that fails is logged, as Supabase does, instead of ending the
// process as an unhandled rejection would.
const edgeRuntime = Object.freeze({
  waitUntil<T>(promise: Promise<T>): Promise<T> {
    Promise.resolve(promise).catch((error) => {
      console.error("EdgeRuntime.waitUntil: a background task failed:", error);
    });
    return promise;
  },
});
Object.defineProperty(globalThis, "EdgeRuntime", { value: edgeRuntime, configurable: true });
const realServe = Deno.serve.bind(Deno);
let served = false;

type Handler = (request: Request, info: unknown) => Response | Promise<Response>;
type ErrorHandler = (error: unknown) => Response | Promise<Response>;
type Options = Record<string, unknown> & { handler?: Handler; onError?: ErrorHandler };

function supabaseStyle(handler: Handler): Handler {
  // The host speaks HTTP over a unix socket; the function sees the URL its caller used,
  // as on Supabase: http://<host>/<function name>/<rest>?<query>.
  return (request, info) => {
    const url = new URL(request.url);
    const host = request.headers.get("host") ?? "localhost";
    const proto = request.headers.get("x-forwarded-proto") === "https" ? "https" : "http";
    const visible = new Request(`${proto}://${host}${url.pathname}${url.search}`, request);
    return handler(visible, info);
  };
}

function onError(error: unknown): Response {
  console.error(error);
  return new Response(
    JSON.stringify({ code: "FUNCTION_ERROR", message: "the function raised an error" }),
    { status: 500, headers: { "content-type": "application/json" } },
  );
}

// deno-lint-ignore no-explicit-any
(Deno as any).serve = (first: unknown, second?: unknown) => {
  let options: Options;
  let handler: Handler | undefined;
  if (typeof first === "function") {
    handler = first as Handler;
    options = (second ?? {}) as Options;
  } else {
    options = (first ?? {}) as Options;
    handler = (typeof second === "function" ? second : options.handler) as Handler | undefined;
  }
  if (handler === undefined) {
    throw new TypeError("Deno.serve needs a handler");
  }
  if (served) {
    throw new Error("Deno.serve was called twice: a function serves one handler");
  }
  served = true;
  const { port: _port, hostname: _hostname, cert: _cert, key: _key, onListen: _onListen,
    handler: _handler, onError: ownOnError, ...rest } = options;
  return realServe({
    ...rest,
    onError: ownOnError ?? onError, // the function's own error page wins, as on Supabase
    path: socketPath,
    handler: supabaseStyle(handler),
    onListen: () => {},
  });
};

// A function that never serves lets Deno's event loop run dry: Deno exits, and says why
// first. (One that throws while loading exits with its own error instead; one that never
// serves yet keeps busy runs into the host's start timeout.)
globalThis.addEventListener("unload", () => {
  if (!served) {
    console.error(
      "error: the entrypoint finished loading without calling Deno.serve: " +
        "a function must serve its handler with Deno.serve(handler)",
    );
  }
});
