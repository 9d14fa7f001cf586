-- Phase 1 / 001: quotes produced by the calculate-quote edge function.
--
-- The column list is a contract with the edge function, which inserts into it
-- (with the service role; customer_id stays null for an anonymous visitor).
-- Change it only together with functions/.

CREATE TABLE public.quotes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    grams numeric(12, 2) NOT NULL CHECK (grams > 0),
    material text NOT NULL,
    quality text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    delivery_speed text NOT NULL,
    breakdown jsonb NOT NULL,
    total numeric(12, 2) NOT NULL CHECK (total >= 0),
    currency text NOT NULL DEFAULT 'CAD',
    status text NOT NULL DEFAULT 'active',
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE public.quotes IS
    'Price quotes from the calculate-quote edge function; customer_id is null for anonymous visitors.';

-- "my recent quotes", and the foreign key's index
CREATE INDEX quotes_customer_id_created_at_idx ON public.quotes (customer_id, created_at DESC);

-- Deny by default from the first moment: Supabase's default privileges give
-- anon and authenticated full table access, so without RLS the table would be
-- world-readable until 006 adds the policies.
ALTER TABLE public.quotes ENABLE ROW LEVEL SECURITY;
