// Supabase's edge runtime global, as the function host provides it at run time
// (workers/functions_host/bootstrap.ts). `deno check` gets this declaration only when a
// function uses EdgeRuntime without declaring it (Supabase's own deploy does not type check,
// so such functions are common); one that declares it itself is checked as it is.
declare namespace EdgeRuntime {
  function waitUntil<T>(promise: Promise<T>): Promise<T>;
}
