-- Rollback of 20260107000002_alter_print_requests.sql
-- Indexes, then constraints (the foreign key to quotes must go before 001's
-- rollback drops quotes), then the columns.
DROP INDEX IF EXISTS public.print_requests_reorder_of_request_id_idx;
DROP INDEX IF EXISTS public.print_requests_quote_id_idx;

ALTER TABLE public.print_requests
    DROP CONSTRAINT IF EXISTS print_requests_reorder_not_self,
    DROP CONSTRAINT IF EXISTS print_requests_reorder_of_request_id_fkey,
    DROP CONSTRAINT IF EXISTS print_requests_dfm_warnings_check,
    DROP CONSTRAINT IF EXISTS print_requests_file_weight_grams_check,
    DROP CONSTRAINT IF EXISTS print_requests_file_volume_cm3_check,
    DROP CONSTRAINT IF EXISTS print_requests_quote_id_fkey,
    DROP COLUMN IF EXISTS reorder_of_request_id,
    DROP COLUMN IF EXISTS dfm_warnings,
    DROP COLUMN IF EXISTS file_weight_grams,
    DROP COLUMN IF EXISTS file_volume_cm3,
    DROP COLUMN IF EXISTS quote_id;
