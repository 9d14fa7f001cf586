-- Rollback of 20260107000006_add_rls_policies.sql: back to the state after 005.
--
-- The runbook calls 006 "verification only", but our 006 creates policies,
-- triggers and functions and changes privileges; all of it is undone here, in
-- reverse order. Row level security stays enabled: the baseline (and 001 for
-- quotes) had already enabled it, so disabling it would not be "the previous
-- state" and would open the tables to anon.
-- IF EXISTS keeps the script re-runnable by hand; no CASCADE, so an object
-- someone built on top of these makes the rollback fail loudly instead of
-- vanishing with them.

DROP TRIGGER IF EXISTS creator_models_guard_platform_fields ON public.creator_models;
DROP FUNCTION IF EXISTS public.creator_models_guard_platform_fields();
DROP TRIGGER IF EXISTS point_transactions_guard_verification ON public.point_transactions;
DROP FUNCTION IF EXISTS public.point_transactions_guard_verification();
DROP FUNCTION IF EXISTS public.is_platform_writer();

DROP POLICY IF EXISTS creator_models_delete_own ON public.creator_models;
DROP POLICY IF EXISTS print_requests_links_own_on_update ON public.print_requests;
DROP POLICY IF EXISTS print_requests_links_own_on_insert ON public.print_requests;
DROP FUNCTION IF EXISTS public.is_own_print_request(uuid);
DROP POLICY IF EXISTS print_requests_update_own ON public.print_requests;
DROP POLICY IF EXISTS quotes_update_own ON public.quotes;
DROP POLICY IF EXISTS quotes_insert_own ON public.quotes;
DROP POLICY IF EXISTS quotes_select_own ON public.quotes;

-- Privileges: first drop the column-level grants (a table-level REVOKE also
-- removes the column privileges), then give back the table-level ones the
-- shim's default privileges had granted.
REVOKE INSERT, UPDATE ON public.creator_models FROM authenticated;
GRANT INSERT, UPDATE ON public.creator_models TO authenticated;

GRANT INSERT, UPDATE, DELETE ON public.point_transactions TO authenticated;

REVOKE UPDATE ON public.quotes FROM authenticated;
GRANT UPDATE ON public.quotes TO authenticated;

GRANT TRUNCATE, TRIGGER, REFERENCES
    ON public.profiles, public.quotes, public.print_requests, public.point_transactions,
       public.creator_models
    TO anon, authenticated;

GRANT INSERT, UPDATE, DELETE ON public.creator_models TO anon;

GRANT ALL ON public.profiles, public.quotes, public.print_requests, public.point_transactions
    TO anon;
