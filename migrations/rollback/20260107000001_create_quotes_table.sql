-- Rollback of 20260107000001_create_quotes_table.sql
-- Drops the table with its index, comment and RLS setting. No CASCADE (the
-- runbook had one): 002's foreign key is removed by 002's rollback, which runs
-- first; anything else still pointing at quotes should stop the rollback
-- rather than be dropped silently.
DROP TABLE IF EXISTS public.quotes;
