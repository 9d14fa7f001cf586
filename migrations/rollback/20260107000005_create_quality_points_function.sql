-- Rollback of 20260107000005_create_quality_points_function.sql
-- The full signature: it names exactly the function 005 created (the runbook's
-- bare name would also match an overload somebody else added, or fail on one).
DROP FUNCTION IF EXISTS public.calculate_quality_points(integer, numeric, numeric, numeric, text[]);
