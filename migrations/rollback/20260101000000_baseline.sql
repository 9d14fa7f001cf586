-- Rollback of 20260101000000_baseline.sql: back to an empty public schema (the
-- platform shim / Supabase's own objects are untouched).
-- Only for rebuilding a scratch database: on a real environment this deletes
-- every profile, print request, points entry and model. Reverse order of
-- dependency; policies and indexes go with their tables.
DROP TABLE IF EXISTS public.point_transactions;
DROP TABLE IF EXISTS public.print_requests;
DROP TABLE IF EXISTS public.creator_models;
DROP TABLE IF EXISTS public.profiles;
