-- Phase 1 / 004: designer royalties and the platform's quality assessment of
-- each model. All five columns are set by the platform, not by the creator
-- (enforced in 006).

ALTER TABLE public.creator_models
    -- share of each sale paid to the designer (0.10 = 10 %)
    ADD COLUMN designer_royalty_rate numeric(5, 4) NOT NULL DEFAULT 0.10
        CONSTRAINT creator_models_designer_royalty_rate_check
        CHECK (designer_royalty_rate BETWEEN 0 AND 1),
    ADD COLUMN total_royalties_earned numeric(12, 2) NOT NULL DEFAULT 0
        CONSTRAINT creator_models_total_royalties_earned_check
        CHECK (total_royalties_earned >= 0),
    -- 0–100, filled in by the model analysis; null until analysed
    ADD COLUMN complexity_score numeric(5, 2)
        CONSTRAINT creator_models_complexity_score_check
        CHECK (complexity_score BETWEEN 0 AND 100),
    ADD COLUMN originality_score numeric(5, 2)
        CONSTRAINT creator_models_originality_score_check
        CHECK (originality_score BETWEEN 0 AND 100),
    ADD COLUMN quality_flags text[] NOT NULL DEFAULT '{}';
