-- Phase 1 / 006: row level security and privileges for Phase 1.
--
-- Supabase grants the API roles (anon, authenticated) every privilege on
-- public tables and relies on RLS; this migration decides what they may do:
--   * quotes, print_requests: a customer sees and changes only their own;
--     the links a print request makes (quote, re-ordered request) must be the
--     customer's own too;
--   * point_transactions: read-only for the user; verification fields are
--     written by the platform only (service_role / postgres), enforced by
--     privileges AND a trigger, so a later grant or policy cannot open them;
--   * creator_models: creators manage their own models, but the Phase 1
--     royalty and quality fields are the platform's;
--   * anon sees nothing private (no privileges at all on the private tables);
--   * service_role bypasses RLS (a role attribute), so it sees everything.
-- Every privilege taken away here is given back by the rollback, which must
-- restore the state after 005 exactly.

-- ---------------------------------------------------------------------------
-- RLS on every public table (baseline and 001 already did; asserting it here
-- keeps the invariant in the file that is about it)
-- ---------------------------------------------------------------------------
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.creator_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.print_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.point_transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.quotes ENABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------
-- Privileges
-- ---------------------------------------------------------------------------

-- anon has no business with private tables: no rows AND no privileges, so a
-- policy added by mistake later still cannot expose them.
REVOKE ALL ON public.profiles, public.quotes, public.print_requests, public.point_transactions
    FROM anon;
-- the public catalogue is read-only for anon
REVOKE INSERT, UPDATE, DELETE ON public.creator_models FROM anon;

-- TRUNCATE ignores RLS; TRIGGER and REFERENCES are DDL-ish. The API roles need
-- none of them.
REVOKE TRUNCATE, TRIGGER, REFERENCES
    ON public.profiles, public.quotes, public.print_requests, public.point_transactions,
       public.creator_models
    FROM anon, authenticated;

-- A customer may accept or cancel their quote, not reprice or re-own it.
REVOKE UPDATE ON public.quotes FROM authenticated;
GRANT UPDATE (status) ON public.quotes TO authenticated;

-- The points ledger (and its verification) is written by the platform only.
REVOKE INSERT, UPDATE, DELETE ON public.point_transactions FROM authenticated;

-- Creators edit their models' own fields; royalties and scores are the
-- platform's, and a model cannot be handed to another creator.
REVOKE INSERT, UPDATE ON public.creator_models FROM authenticated;
GRANT INSERT (id, creator_id, title, description, file_url, thumbnail_url, price, is_published)
    ON public.creator_models TO authenticated;
GRANT UPDATE (title, description, file_url, thumbnail_url, price, is_published, updated_at)
    ON public.creator_models TO authenticated;

-- ---------------------------------------------------------------------------
-- Policies
-- ---------------------------------------------------------------------------

CREATE POLICY quotes_select_own ON public.quotes
    FOR SELECT TO authenticated
    USING (customer_id = (SELECT auth.uid()));
CREATE POLICY quotes_insert_own ON public.quotes
    FOR INSERT TO authenticated
    WITH CHECK (customer_id = (SELECT auth.uid()));
CREATE POLICY quotes_update_own ON public.quotes
    FOR UPDATE TO authenticated
    USING (customer_id = (SELECT auth.uid()))
    WITH CHECK (customer_id = (SELECT auth.uid()));

-- baseline let customers read and create their requests; now also change them
CREATE POLICY print_requests_update_own ON public.print_requests
    FOR UPDATE TO authenticated
    USING (customer_id = (SELECT auth.uid()))
    WITH CHECK (customer_id = (SELECT auth.uid()));

-- A policy on print_requests cannot query print_requests itself (PostgreSQL
-- reports infinite recursion), so the re-order check asks a SECURITY DEFINER
-- function, which reads the table as its owner. It only answers whether the
-- *caller* owns a request, so it reveals nothing; still, anon need not call it.
CREATE FUNCTION public.is_own_print_request(request_id uuid) RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = ''
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.print_requests r
        WHERE r.id = request_id AND r.customer_id = (SELECT auth.uid()))
$$;
REVOKE EXECUTE ON FUNCTION public.is_own_print_request(uuid) FROM PUBLIC, anon;

-- RESTRICTIVE: on top of the ownership policies, whatever a request points at
-- must be the customer's own (no ordering from somebody else's quote, no
-- "re-ordering" a stranger's request to learn its file).
CREATE POLICY print_requests_links_own_on_insert ON public.print_requests
    AS RESTRICTIVE
    FOR INSERT TO authenticated
    WITH CHECK (
        (quote_id IS NULL OR EXISTS (
            SELECT 1 FROM public.quotes q
            WHERE q.id = print_requests.quote_id AND q.customer_id = (SELECT auth.uid())))
        AND (reorder_of_request_id IS NULL
             OR public.is_own_print_request(reorder_of_request_id))
    );
CREATE POLICY print_requests_links_own_on_update ON public.print_requests
    AS RESTRICTIVE
    FOR UPDATE TO authenticated
    USING (true)
    WITH CHECK (
        (quote_id IS NULL OR EXISTS (
            SELECT 1 FROM public.quotes q
            WHERE q.id = print_requests.quote_id AND q.customer_id = (SELECT auth.uid())))
        AND (reorder_of_request_id IS NULL
             OR public.is_own_print_request(reorder_of_request_id))
    );

-- baseline let creators read, create and edit their models; now also remove them
CREATE POLICY creator_models_delete_own ON public.creator_models
    FOR DELETE TO authenticated
    USING (creator_id = (SELECT auth.uid()));

-- ---------------------------------------------------------------------------
-- Platform-only fields, enforced whatever the privileges say
-- ---------------------------------------------------------------------------

-- True when the current role is trusted platform code: service_role, the
-- migration owner, superusers and roles that bypass RLS anyway. current_user
-- is the role running the statement (inside a SECURITY DEFINER function, its
-- owner), not a JWT claim a caller could choose.
CREATE FUNCTION public.is_platform_writer() RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = ''
AS $$
    SELECT current_user IN ('service_role', 'postgres', 'supabase_admin')
        OR coalesce(
            (SELECT r.rolsuper OR r.rolbypassrls
             FROM pg_catalog.pg_roles r
             WHERE r.rolname = current_user),
            false)
$$;

CREATE FUNCTION public.point_transactions_guard_verification() RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF public.is_platform_writer() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- a new row may only carry the "not yet verified" values
        IF NEW.quality_score IS NOT NULL
           OR NEW.verification_status <> 'pending'
           OR NEW.verification_notes IS NOT NULL
           OR NEW.fraud_flags <> '{}'
           OR NEW.verified_by IS NOT NULL
           OR NEW.verified_at IS NOT NULL THEN
            RAISE EXCEPTION 'only the platform may set verification fields of point_transactions'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF (NEW.quality_score, NEW.verification_status, NEW.verification_notes,
           NEW.fraud_flags, NEW.verified_by, NEW.verified_at)
          IS DISTINCT FROM
          (OLD.quality_score, OLD.verification_status, OLD.verification_notes,
           OLD.fraud_flags, OLD.verified_by, OLD.verified_at) THEN
        RAISE EXCEPTION 'only the platform may change verification fields of point_transactions'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER point_transactions_guard_verification
    BEFORE INSERT OR UPDATE ON public.point_transactions
    FOR EACH ROW EXECUTE FUNCTION public.point_transactions_guard_verification();

CREATE FUNCTION public.creator_models_guard_platform_fields() RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
    IF public.is_platform_writer() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.designer_royalty_rate <> 0.10
           OR NEW.total_royalties_earned <> 0
           OR NEW.complexity_score IS NOT NULL
           OR NEW.originality_score IS NOT NULL
           OR NEW.quality_flags <> '{}' THEN
            RAISE EXCEPTION 'only the platform may set royalty and quality fields of creator_models'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    ELSIF (NEW.designer_royalty_rate, NEW.total_royalties_earned, NEW.complexity_score,
           NEW.originality_score, NEW.quality_flags, NEW.creator_id)
          IS DISTINCT FROM
          (OLD.designer_royalty_rate, OLD.total_royalties_earned, OLD.complexity_score,
           OLD.originality_score, OLD.quality_flags, OLD.creator_id) THEN
        RAISE EXCEPTION 'only the platform may change royalty, quality or owner fields of creator_models'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER creator_models_guard_platform_fields
    BEFORE INSERT OR UPDATE ON public.creator_models
    FOR EACH ROW EXECUTE FUNCTION public.creator_models_guard_platform_fields();
