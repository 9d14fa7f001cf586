-- Phase 1 / 002: print requests remember the quote they were ordered from, the
-- file's measured volume and weight, the design-for-manufacturing warnings,
-- and which earlier request a re-order repeats.

ALTER TABLE public.print_requests
    ADD COLUMN quote_id uuid
        CONSTRAINT print_requests_quote_id_fkey
        REFERENCES public.quotes (id) ON DELETE SET NULL,
    ADD COLUMN file_volume_cm3 numeric(12, 3)
        CONSTRAINT print_requests_file_volume_cm3_check CHECK (file_volume_cm3 >= 0),
    ADD COLUMN file_weight_grams numeric(12, 2)
        CONSTRAINT print_requests_file_weight_grams_check CHECK (file_weight_grams >= 0),
    -- a list of {code, message, severity} objects from the DFM analysis
    ADD COLUMN dfm_warnings jsonb NOT NULL DEFAULT '[]'::jsonb
        CONSTRAINT print_requests_dfm_warnings_check CHECK (jsonb_typeof(dfm_warnings) = 'array'),
    ADD COLUMN reorder_of_request_id uuid
        CONSTRAINT print_requests_reorder_of_request_id_fkey
        REFERENCES public.print_requests (id) ON DELETE SET NULL,
    -- a request cannot be a re-order of itself
    ADD CONSTRAINT print_requests_reorder_not_self CHECK (reorder_of_request_id <> id);

-- indexes for the new foreign keys (lookups and ON DELETE SET NULL)
CREATE INDEX print_requests_quote_id_idx ON public.print_requests (quote_id);
CREATE INDEX print_requests_reorder_of_request_id_idx
    ON public.print_requests (reorder_of_request_id);
