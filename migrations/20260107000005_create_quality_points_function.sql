-- Phase 1 / 005: how many points an action is worth once its quality is known.
--
--   calculate_quality_points(base_points, quality_score,
--                            complexity_score, originality_score, fraud_flags)
--
-- Scores are on the 0–100 scale of point_transactions.quality_score and
-- creator_models.complexity_score / originality_score.
--   * any fraud flag            → 0 points;
--   * otherwise base_points × multiplier, rounded to the nearest integer, where
--     multiplier = 0.5 + quality/100            (0.5 … 1.5)
--                + 0.25 × complexity/100        (0 … 0.25, unknown = 0)
--                + 0.25 × originality/100       (0 … 0.25, unknown = 0)
--     so an average piece (quality 50) earns its base points, the best earns
--     twice as many, the worst half;
--   * unknown base points or quality → null (nothing to compute yet);
--   * negative base points or a score outside 0–100 → error 22023.
-- Pure arithmetic: IMMUTABLE, and an empty search_path so nothing can shadow
-- the built-ins it uses.

CREATE FUNCTION public.calculate_quality_points(
    base_points integer,
    quality_score numeric,
    complexity_score numeric DEFAULT NULL,
    originality_score numeric DEFAULT NULL,
    fraud_flags text[] DEFAULT '{}'
) RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SET search_path = ''
AS $$
DECLARE
    multiplier numeric;
BEGIN
    IF base_points IS NULL OR quality_score IS NULL THEN
        RETURN NULL;
    END IF;
    IF base_points < 0 THEN
        RAISE EXCEPTION 'base_points must not be negative (got %)', base_points
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF quality_score NOT BETWEEN 0 AND 100
       OR complexity_score NOT BETWEEN 0 AND 100
       OR originality_score NOT BETWEEN 0 AND 100 THEN
        RAISE EXCEPTION 'scores must be between 0 and 100 (quality %, complexity %, originality %)',
            quality_score, complexity_score, originality_score
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(pg_catalog.cardinality(fraud_flags), 0) > 0 THEN
        RETURN 0;
    END IF;

    multiplier := 0.5
        + quality_score / 100
        + 0.25 * coalesce(complexity_score, 0) / 100
        + 0.25 * coalesce(originality_score, 0) / 100;
    RETURN pg_catalog.round(base_points * multiplier)::integer;
END
$$;

COMMENT ON FUNCTION public.calculate_quality_points(integer, numeric, numeric, numeric, text[]) IS
    'Points for an action: 0 when fraud-flagged, else base_points x (0.5 + quality/100 + 0.25 complexity/100 + 0.25 originality/100).';
