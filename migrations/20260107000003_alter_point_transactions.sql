-- Phase 1 / 003: points are verified before they count. The platform scores
-- the quality of what earned them, records the verdict, and flags fraud.
-- Who may write these columns is decided in 006 (platform only).

ALTER TABLE public.point_transactions
    ADD COLUMN quality_score numeric(5, 2)
        CONSTRAINT point_transactions_quality_score_check
        CHECK (quality_score BETWEEN 0 AND 100),
    ADD COLUMN verification_status text NOT NULL DEFAULT 'pending'
        CONSTRAINT point_transactions_verification_status_check
        CHECK (verification_status IN ('pending', 'verified', 'rejected', 'flagged')),
    ADD COLUMN verification_notes text,
    ADD COLUMN fraud_flags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN verified_by uuid
        CONSTRAINT point_transactions_verified_by_fkey
        REFERENCES auth.users (id) ON DELETE SET NULL,
    ADD COLUMN verified_at timestamptz;

-- the verification queue, and the index for the new foreign key
CREATE INDEX point_transactions_pending_idx
    ON public.point_transactions (created_at)
    WHERE verification_status = 'pending';
CREATE INDEX point_transactions_verified_by_idx ON public.point_transactions (verified_by);
