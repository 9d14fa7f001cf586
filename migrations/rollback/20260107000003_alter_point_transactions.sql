-- Rollback of 20260107000003_alter_point_transactions.sql
-- Indexes first (the partial index reads verification_status), then the
-- foreign key and checks, then the columns. No CASCADE: anything else that
-- came to depend on these columns must fail the rollback, not vanish.
DROP INDEX IF EXISTS public.point_transactions_verified_by_idx;
DROP INDEX IF EXISTS public.point_transactions_pending_idx;

ALTER TABLE public.point_transactions
    DROP CONSTRAINT IF EXISTS point_transactions_verified_by_fkey,
    DROP CONSTRAINT IF EXISTS point_transactions_verification_status_check,
    DROP CONSTRAINT IF EXISTS point_transactions_quality_score_check,
    DROP COLUMN IF EXISTS verified_at,
    DROP COLUMN IF EXISTS verified_by,
    DROP COLUMN IF EXISTS fraud_flags,
    DROP COLUMN IF EXISTS verification_notes,
    DROP COLUMN IF EXISTS verification_status,
    DROP COLUMN IF EXISTS quality_score;
