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
const realServe = Deno.serve.bind(Deno);
let served = false;

type Handler = (request: Request, info: unknown) => Response | Promise<Response>;
type Options = Record<string, unknown> & { handler?: Handler; onError?: unknown };

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
    handler: _handler, ...rest } = options;
  return realServe({
    onError,
    ...rest,
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
