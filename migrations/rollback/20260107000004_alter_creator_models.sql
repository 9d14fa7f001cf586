-- Rollback of 20260107000004_alter_creator_models.sql
-- Dropping a column drops its CHECK constraint; the explicit drops document
-- what 004 added and fail nothing when already gone.
ALTER TABLE public.creator_models
    DROP CONSTRAINT IF EXISTS creator_models_originality_score_check,
    DROP CONSTRAINT IF EXISTS creator_models_complexity_score_check,
    DROP CONSTRAINT IF EXISTS creator_models_total_royalties_earned_check,
    DROP CONSTRAINT IF EXISTS creator_models_designer_royalty_rate_check,
    DROP COLUMN IF EXISTS quality_flags,
    DROP COLUMN IF EXISTS originality_score,
    DROP COLUMN IF EXISTS complexity_score,
    DROP COLUMN IF EXISTS total_royalties_earned,
    DROP COLUMN IF EXISTS designer_royalty_rate;
