-- Baseline: the 3d3d.ca schema as it stood before Phase 1.
--
-- The Phase 1 migrations (20260107…) alter tables that already existed; their
-- history lives outside this repository, so this file reconstructs them.
-- Assumptions:
--   * Supabase owns identity: every person is a row of auth.users, and
--     public.profiles holds one row per user (same id) saying whether the
--     person is a customer or a creator. Profiles are written by the user
--     through the API (no trigger on auth.users: recent Supabase projects
--     restrict changes to the auth schema).
--   * print_requests belong to a customer (customer_id = auth.users.id) and may
--     name a catalogue model (creator_models).
--   * point_transactions is the loyalty-points ledger, one row per award or
--     redemption for a user; it is written by the platform (service_role), the
--     user only reads it.
--   * creator_models are the models creators upload; published ones form a
--     public catalogue.
--   * Primary keys are uuids from gen_random_uuid(): no sequences, so nothing
--     transactional (like the RLS suite) can leave a trace behind.
--   * Row level security was already on for these four tables with owner-only
--     policies; Phase 1 (20260107000006) adds the policies for the new quotes
--     table and tightens the rest. Its rollback returns exactly here.
--   * The project's API roles get table privileges from Supabase's default
--     privileges (see service/embedded/platform_shim.sql); access is decided
--     by the policies below.

CREATE TABLE public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    account_type text NOT NULL DEFAULT 'customer'
        CHECK (account_type IN ('customer', 'creator')),
    display_name text,
    avatar_url text,
    -- private contact details: only the user and the platform read them
    email text,
    phone text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.creator_models (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text,
    file_url text,
    thumbnail_url text,
    price numeric(10, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    is_published boolean NOT NULL DEFAULT false,
    download_count integer NOT NULL DEFAULT 0 CHECK (download_count >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX creator_models_creator_id_idx ON public.creator_models (creator_id);

CREATE TABLE public.print_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    creator_model_id uuid REFERENCES public.creator_models (id) ON DELETE SET NULL,
    file_url text,
    material text NOT NULL,
    quality text NOT NULL DEFAULT 'standard',
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'accepted', 'printing', 'shipped', 'completed', 'cancelled')),
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX print_requests_customer_id_created_at_idx
    ON public.print_requests (customer_id, created_at DESC);
CREATE INDEX print_requests_creator_model_id_idx ON public.print_requests (creator_model_id);

CREATE TABLE public.point_transactions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    points integer NOT NULL,
    transaction_type text NOT NULL
        CHECK (transaction_type IN ('earned', 'redeemed', 'bonus', 'adjustment', 'royalty')),
    description text,
    print_request_id uuid REFERENCES public.print_requests (id) ON DELETE SET NULL,
    creator_model_id uuid REFERENCES public.creator_models (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX point_transactions_user_id_created_at_idx
    ON public.point_transactions (user_id, created_at DESC);
CREATE INDEX point_transactions_print_request_id_idx
    ON public.point_transactions (print_request_id);
CREATE INDEX point_transactions_creator_model_id_idx
    ON public.point_transactions (creator_model_id);

-- ---------------------------------------------------------------------------
-- Row level security as it was before Phase 1: owner-only access.
-- (select auth.uid()) instead of auth.uid(): evaluated once per statement.
-- ---------------------------------------------------------------------------

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.creator_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.print_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.point_transactions ENABLE ROW LEVEL SECURITY;

CREATE POLICY profiles_select_own ON public.profiles
    FOR SELECT TO authenticated
    USING (id = (SELECT auth.uid()));
CREATE POLICY profiles_insert_own ON public.profiles
    FOR INSERT TO authenticated
    WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY profiles_update_own ON public.profiles
    FOR UPDATE TO authenticated
    USING (id = (SELECT auth.uid()))
    WITH CHECK (id = (SELECT auth.uid()));

-- the public catalogue
CREATE POLICY creator_models_select_published ON public.creator_models
    FOR SELECT TO anon, authenticated
    USING (is_published);
CREATE POLICY creator_models_select_own ON public.creator_models
    FOR SELECT TO authenticated
    USING (creator_id = (SELECT auth.uid()));
CREATE POLICY creator_models_insert_own ON public.creator_models
    FOR INSERT TO authenticated
    WITH CHECK (creator_id = (SELECT auth.uid()));
CREATE POLICY creator_models_update_own ON public.creator_models
    FOR UPDATE TO authenticated
    USING (creator_id = (SELECT auth.uid()))
    WITH CHECK (creator_id = (SELECT auth.uid()));

CREATE POLICY print_requests_select_own ON public.print_requests
    FOR SELECT TO authenticated
    USING (customer_id = (SELECT auth.uid()));
CREATE POLICY print_requests_insert_own ON public.print_requests
    FOR INSERT TO authenticated
    WITH CHECK (customer_id = (SELECT auth.uid()));

-- the ledger is written by the platform only: no insert/update policies
CREATE POLICY point_transactions_select_own ON public.point_transactions
    FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()));
