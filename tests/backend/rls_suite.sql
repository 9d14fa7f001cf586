-- 3d3d.ca RLS test suite (runbook: Staging Step 5, "Run RLS Tests"), in pgTAP.
--
--   deploybot runs it in the verify step; by hand, with pgTAP installed:
--   pg_prove -d <database url> tests/backend/rls_suite.sql
--
-- The whole file is one transaction that ends in ROLLBACK: the fixture users and rows
-- it creates (as the connecting role, e.g. postgres), the helpers (pg_temp functions)
-- and the fixture table never commit. uuids only (no sequence advances), no DDL on the
-- project's tables, and a lock timeout so a busy table fails instead of hanging.
--
-- A section switches identity like PostgREST does, local to the transaction:
-- set_config('role', …) plus the JWT claims in request.jwt.claims; each section starts
-- as the connecting role with its own fixtures (pg_temp.fresh()).

BEGIN;
SET LOCAL lock_timeout = '10s';
-- Helpers are created even where tables are missing (an unmigrated database): the first
-- test that needs a table then stops the file at its line.
SET LOCAL check_function_bodies = off;

SELECT plan(82);

-- ===========================================================================
-- Helpers (temporary: gone with the rollback)
-- ===========================================================================

-- Fixture ids by name, readable whatever the current role.
CREATE TEMP TABLE fixture (name text PRIMARY KEY, id uuid);
GRANT ALL ON fixture TO PUBLIC;

CREATE FUNCTION pg_temp.keep(name text, id uuid) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pg_temp.fixture VALUES (name, id)
    ON CONFLICT (name) DO UPDATE SET id = excluded.id;
$$;

CREATE FUNCTION pg_temp.id(name text) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT f.id FROM pg_temp.fixture f WHERE f.name = $1;
$$;

-- Rows the statement touched (UPDATE/DELETE filtered by RLS touch none).
CREATE FUNCTION pg_temp.affected(stmt text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE stmt;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Rows the statement touched; a refusal (no privilege at all) touched none.
CREATE FUNCTION pg_temp.touched(stmt text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RETURN pg_temp.affected(stmt);
EXCEPTION
    WHEN insufficient_privilege THEN
        RETURN 0;
END
$$;

-- Run an INSERT … RETURNING id and keep the id under `name`; NULL when it worked, else
-- the error, so a refusal is a failing test rather than the end of the file.
CREATE FUNCTION pg_temp.created(name text, stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    new_id uuid;
BEGIN
    EXECUTE stmt INTO new_id;
    PERFORM pg_temp.keep(name, new_id);
    RETURN CASE WHEN new_id IS NULL THEN 'no row was returned' END;
EXCEPTION
    WHEN others THEN
        RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Rows of a query the current role can see; "permission denied" counts as
-- seeing nothing (anon has no privileges at all on private tables).
CREATE FUNCTION pg_temp.seen(query text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM (' || query || ') seen' INTO n;
    RETURN n;
EXCEPTION
    WHEN insufficient_privilege THEN
        RETURN 0;
END
$$;

-- Identities, as PostgREST would set them for a request.
CREATE FUNCTION pg_temp.as_user(uid uuid) RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('role', 'authenticated', true),
           set_config('request.jwt.claims',
                      json_build_object('sub', uid, 'role', 'authenticated')::text, true);
$$;

CREATE FUNCTION pg_temp.as_anon() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('role', 'anon', true),
           set_config('request.jwt.claims', '{"role": "anon"}', true);
$$;

CREATE FUNCTION pg_temp.as_service() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('role', 'service_role', true),
           set_config('request.jwt.claims', '{"role": "service_role"}', true);
$$;

-- back to the connecting role (postgres), which writes the fixtures
CREATE FUNCTION pg_temp.as_owner() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('role', 'none', true),
           set_config('request.jwt.claims', '', true);
$$;

-- A new section: the connecting role, no fixtures.
CREATE FUNCTION pg_temp.fresh() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_temp.as_owner();
    DELETE FROM pg_temp.fixture;
$$;

-- Fixtures; call them as the connecting role (before switching identity).
CREATE FUNCTION pg_temp.new_user(kind text DEFAULT 'customer') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    uid uuid := gen_random_uuid();
    mail text := 'rls-suite+' || uid || '@example.invalid';
BEGIN
    INSERT INTO auth.users (id, email, aud, role)
    VALUES (uid, mail, 'authenticated', 'authenticated');
    -- a project may create profiles from a trigger on auth.users
    INSERT INTO public.profiles (id, account_type, display_name, email, phone)
    VALUES (uid, kind, 'RLS suite ' || kind, mail, '+1-555-0100')
    ON CONFLICT (id) DO UPDATE
        SET account_type = excluded.account_type, email = excluded.email,
            phone = excluded.phone;
    RETURN uid;
END
$$;

CREATE FUNCTION pg_temp.new_quote(customer uuid) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, delivery_speed,
                               breakdown, total, expires_at)
    VALUES (customer, 100, 'PLA_STANDARD', 'standard', 1, 'standard',
            '{"platform_fee": 5.00, "bed_rental": 10.00, "filament_cost": 9.00, "total": 24.00}',
            24.00, now() + interval '7 days')
    RETURNING id;
$$;

CREATE FUNCTION pg_temp.new_print_request(customer uuid, quote uuid DEFAULT NULL) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO public.print_requests (customer_id, quote_id, material, quality, quantity)
    VALUES (customer, quote, 'PLA_STANDARD', 'standard', 1)
    RETURNING id;
$$;

CREATE FUNCTION pg_temp.new_points(uid uuid, points integer DEFAULT 25) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO public.point_transactions (user_id, points, transaction_type, description)
    VALUES (uid, points, 'earned', 'RLS suite fixture')
    RETURNING id;
$$;

CREATE FUNCTION pg_temp.new_model(creator uuid, published boolean DEFAULT true) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO public.creator_models (creator_id, title, price, is_published)
    VALUES (creator, 'RLS suite model', 12.50, published)
    RETURNING id;
$$;

-- ===========================================================================
-- Quotes and print requests: customers
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('qa', pg_temp.new_quote(pg_temp.id('a')));
    PERFORM pg_temp.keep('qb', pg_temp.new_quote(pg_temp.id('b')));
    PERFORM pg_temp.keep('anon_quote', pg_temp.new_quote(NULL));
    PERFORM pg_temp.keep('pa', pg_temp.new_print_request(pg_temp.id('a')));
    PERFORM pg_temp.keep('pb', pg_temp.new_print_request(pg_temp.id('b')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT results_eq('SELECT id FROM public.quotes', ARRAY[pg_temp.id('qa')],
                  'customers see only their own quotes');
SELECT results_eq('SELECT id FROM public.print_requests', ARRAY[pg_temp.id('pa')],
                  'customers see only their own print requests');

SELECT pg_temp.fresh();
DO $$ BEGIN PERFORM pg_temp.keep('a', pg_temp.new_user()); END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT is(pg_temp.created('q', format(
              'INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, '
              'delivery_speed, breakdown, total, expires_at) VALUES (%L, 50, %L, %L, 2, %L, '
              '%L, 30, now() + interval ''7 days'') RETURNING id',
              pg_temp.id('a'), 'PETG', 'draft', 'express', '{"total": 30}')),
          NULL, 'customers can create and change their own quotes and print requests: '
                'a quote');
SELECT is(pg_temp.affected(format('UPDATE public.quotes SET status = %L WHERE id = %L',
                                  'accepted', pg_temp.id('q'))),
          1::bigint, 'customers can create and change their own quotes and print requests: '
                     'accepting their quote');
SELECT is(pg_temp.created('p', format(
              'INSERT INTO public.print_requests (customer_id, quote_id, material) '
              'VALUES (%L, %L, %L) RETURNING id', pg_temp.id('a'), pg_temp.id('q'), 'PETG')),
          NULL, 'customers can create and change their own quotes and print requests: '
                'a print request from their quote');
SELECT is(pg_temp.affected(format('UPDATE public.print_requests SET notes = %L WHERE id = %L',
                                  'please hurry', pg_temp.id('p'))),
          1::bigint, 'customers can create and change their own quotes and print requests: '
                     'changing their print request');
SELECT is(pg_temp.created('p2', format(
              'INSERT INTO public.print_requests (customer_id, material, reorder_of_request_id) '
              'VALUES (%L, %L, %L) RETURNING id', pg_temp.id('a'), 'PETG', pg_temp.id('p'))),
          NULL, 'customers can create and change their own quotes and print requests: '
                're-ordering their request');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT throws_ok(format('INSERT INTO public.quotes (customer_id, grams, material, quality, '
                        'quantity, delivery_speed, breakdown, total, expires_at) VALUES (%L, '
                        '10, %L, %L, 1, %L, %L, 1, now() + interval ''1 day'')',
                        customer, 'PLA', 'standard', 'standard', '{}'),
                 '42501', NULL,
                 'customers cannot insert a quote for another customer: ' || what)
FROM (VALUES (pg_temp.id('b'), 'for another customer'),
             (NULL, 'without a customer')) v (customer, what);

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('qb', pg_temp.new_quote(pg_temp.id('b')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT is(pg_temp.affected(format('UPDATE public.quotes SET status = %L WHERE id = %L',
                                  'cancelled', pg_temp.id('qb'))),
          0::bigint, 'customers cannot update another customer''s quote');
SELECT pg_temp.as_owner();
SELECT is((SELECT status FROM public.quotes WHERE id = pg_temp.id('qb')), 'active',
          'customers cannot update another customer''s quote: it stays active');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('qa', pg_temp.new_quote(pg_temp.id('a')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT throws_ok(format('UPDATE public.quotes SET customer_id = %L WHERE id = %L',
                        pg_temp.id('b'), pg_temp.id('qa')),
                 '42501', NULL, 'customers cannot reassign or reprice their own quote: '
                                'handing it to another customer');
SELECT throws_ok(format('UPDATE public.quotes SET total = 0 WHERE id = %L', pg_temp.id('qa')),
                 '42501', NULL, 'customers cannot reassign or reprice their own quote: '
                                'changing its price');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT throws_ok(format('INSERT INTO public.print_requests (customer_id, material) '
                        'VALUES (%L, %L)', pg_temp.id('b'), 'PLA'),
                 '42501', NULL, 'customers cannot insert a print request for another customer');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('pa', pg_temp.new_print_request(pg_temp.id('a')));
    PERFORM pg_temp.keep('pb', pg_temp.new_print_request(pg_temp.id('b')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT is(pg_temp.affected(format('UPDATE public.print_requests SET notes = %L WHERE id = %L',
                                  'mine now', pg_temp.id('pb'))),
          0::bigint, 'customers cannot update another customer''s print request');
SELECT throws_ok(format('UPDATE public.print_requests SET customer_id = %L WHERE id = %L',
                        pg_temp.id('b'), pg_temp.id('pa')),
                 '42501', NULL, 'customers cannot update another customer''s print request: '
                                'handing theirs to another customer');
SELECT pg_temp.as_owner();
SELECT is((SELECT notes FROM public.print_requests WHERE id = pg_temp.id('pb')), NULL,
          'customers cannot update another customer''s print request: it is unchanged');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('qb', pg_temp.new_quote(pg_temp.id('b')));
    PERFORM pg_temp.keep('pa', pg_temp.new_print_request(pg_temp.id('a')));
    PERFORM pg_temp.keep('pb', pg_temp.new_print_request(pg_temp.id('b'), pg_temp.id('qb')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT throws_ok(format('INSERT INTO public.print_requests (customer_id, quote_id, material) '
                        'VALUES (%L, %L, %L)', pg_temp.id('a'), pg_temp.id('qb'), 'PLA'),
                 '42501', NULL, 'customers cannot link a print request to another '
                                'customer''s quote or request: ordering from their quote');
SELECT throws_ok(format('UPDATE public.print_requests SET quote_id = %L WHERE id = %L',
                        pg_temp.id('qb'), pg_temp.id('pa')),
                 '42501', NULL, 'customers cannot link a print request to another '
                                'customer''s quote or request: attaching their quote');
SELECT throws_ok(format('INSERT INTO public.print_requests (customer_id, '
                        'reorder_of_request_id, material) VALUES (%L, %L, %L)',
                        pg_temp.id('a'), pg_temp.id('pb'), 'PLA'),
                 '42501', NULL, 'customers cannot link a print request to another '
                                'customer''s quote or request: re-ordering their request');

-- ===========================================================================
-- anon
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('qa', pg_temp.new_quote(pg_temp.id('a')));
    PERFORM pg_temp.keep('anon_quote', pg_temp.new_quote(NULL));
    PERFORM pg_temp.keep('pa', pg_temp.new_print_request(pg_temp.id('a')));
    PERFORM pg_temp.keep('ta', pg_temp.new_points(pg_temp.id('a')));
END $$;
SELECT pg_temp.as_anon();
SELECT is(pg_temp.seen('SELECT 1 FROM public.quotes'), 0::bigint, 'anon sees no quotes');
SELECT is(pg_temp.seen('SELECT 1 FROM public.print_requests'), 0::bigint,
          'anon sees no print requests');
SELECT is(pg_temp.seen('SELECT 1 FROM public.point_transactions'), 0::bigint,
          'anon sees no point transactions');
SELECT is(pg_temp.seen('SELECT 1 FROM public.profiles'), 0::bigint,
          'anon sees no profiles or their private fields');
SELECT is(pg_temp.seen(format('SELECT email, phone FROM public.profiles WHERE id = %L',
                              pg_temp.id('a'))),
          0::bigint, 'anon sees no profiles or their private fields: email and phone');
SELECT throws_ok('INSERT INTO public.quotes (grams, material, quality, quantity, '
                 'delivery_speed, breakdown, total, expires_at) VALUES (10, ''PLA'', '
                 '''standard'', 1, ''standard'', ''{}'', 1, now())',
                 '42501', NULL, 'anon cannot create quotes or print requests: a quote');
SELECT throws_ok(format('INSERT INTO public.print_requests (customer_id, material) '
                        'VALUES (%L, %L)', pg_temp.id('a'), 'PLA'),
                 '42501', NULL, 'anon cannot create quotes or print requests: a print request');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('c', pg_temp.new_user('creator'));
    PERFORM pg_temp.keep('published', pg_temp.new_model(pg_temp.id('c'), true));
    PERFORM pg_temp.keep('draft', pg_temp.new_model(pg_temp.id('c'), false));
END $$;
SELECT pg_temp.as_anon();
SELECT is(pg_temp.seen(format('SELECT 1 FROM public.creator_models WHERE id = %L',
                              pg_temp.id('published'))),
          1::bigint, 'anon sees only published creator models');
SELECT is(pg_temp.seen('SELECT 1 FROM public.creator_models WHERE NOT is_published'),
          0::bigint, 'anon sees only published creator models: no drafts');
SELECT is(pg_temp.touched(format('UPDATE public.creator_models SET title = %L WHERE id = %L',
                                 'x', pg_temp.id('published'))),
          0::bigint, 'anon sees only published creator models: and changes none');

-- ===========================================================================
-- Customers' other private data
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('ta', pg_temp.new_points(pg_temp.id('a')));
    PERFORM pg_temp.keep('tb', pg_temp.new_points(pg_temp.id('b')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT results_eq('SELECT id FROM public.profiles', ARRAY[pg_temp.id('a')],
                  'customers see only their own profile and point transactions: profiles');
SELECT results_eq('SELECT id FROM public.point_transactions', ARRAY[pg_temp.id('ta')],
                  'customers see only their own profile and point transactions');

-- ===========================================================================
-- service_role
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('b', pg_temp.new_user());
    PERFORM pg_temp.keep('q1', pg_temp.new_quote(pg_temp.id('a')));
    PERFORM pg_temp.keep('q2', pg_temp.new_quote(pg_temp.id('b')));
    PERFORM pg_temp.keep('q3', pg_temp.new_quote(NULL));
    PERFORM pg_temp.keep('p1', pg_temp.new_print_request(pg_temp.id('a')));
    PERFORM pg_temp.keep('p2', pg_temp.new_print_request(pg_temp.id('b')));
    PERFORM pg_temp.keep('t1', pg_temp.new_points(pg_temp.id('a')));
    PERFORM pg_temp.keep('t2', pg_temp.new_points(pg_temp.id('b')));
END $$;
SELECT pg_temp.as_service();
SELECT is((SELECT count(*) FROM public.quotes
           WHERE id IN (pg_temp.id('q1'), pg_temp.id('q2'), pg_temp.id('q3'))),
          3::bigint, 'service_role sees every quote, print request, point transaction and '
                     'profile');
SELECT is((SELECT count(*) FROM public.print_requests
           WHERE id IN (pg_temp.id('p1'), pg_temp.id('p2'))),
          2::bigint, 'service_role sees every quote, print request, point transaction and '
                     'profile: print requests');
SELECT is((SELECT count(*) FROM public.point_transactions
           WHERE id IN (pg_temp.id('t1'), pg_temp.id('t2'))),
          2::bigint, 'service_role sees every quote, print request, point transaction and '
                     'profile: point transactions');
SELECT is((SELECT count(*) FROM public.profiles
           WHERE id IN (pg_temp.id('a'), pg_temp.id('b')) AND email IS NOT NULL),
          2::bigint, 'service_role sees every quote, print request, point transaction and '
                     'profile: profiles');

-- the calculate-quote edge function's insert, for an anonymous visitor
SELECT pg_temp.fresh();
SELECT pg_temp.as_service();
SELECT is(pg_temp.created('q', format(
              'INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, '
              'delivery_speed, breakdown, total, expires_at) VALUES (NULL, 100, %L, %L, 1, '
              '%L, %L, 24.00, now() + interval ''7 days'') RETURNING id',
              'PLA_STANDARD', 'standard', 'standard',
              '{"platform_fee": 5.00, "bed_rental": 10.00, "filament_cost": 9.00, '
              '"total": 24.00}')),
          NULL, 'service_role and postgres can insert a quote without a customer');
SELECT pg_temp.as_owner();
SELECT isnt(pg_temp.new_quote(NULL), NULL,
            'service_role and postgres can insert a quote without a customer: postgres');

-- ===========================================================================
-- Points verification
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('t', pg_temp.new_points(pg_temp.id('a')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('a'));
SELECT throws_ok(format('UPDATE public.point_transactions SET %s WHERE id = %L',
                        field, pg_temp.id('t')),
                 '42501', NULL,
                 'authenticated cannot set point_transactions verification fields: ' || field)
FROM unnest(ARRAY[
    'quality_score = 100',
    'verification_status = ''verified''',
    'verification_notes = ''looks fine to me''',
    'fraud_flags = ''{}''::text[]',
    format('verified_by = %L', pg_temp.id('a')),
    'verified_at = now()'
]) WITH ORDINALITY AS f (field, n)
ORDER BY n;
SELECT throws_ok(format('INSERT INTO public.point_transactions (user_id, points, '
                        'transaction_type, verification_status) VALUES (%L, 1000, %L, %L)',
                        pg_temp.id('a'), 'earned', 'verified'),
                 '42501', NULL, 'authenticated cannot set point_transactions verification '
                                'fields: inserting pre-verified points');
SELECT pg_temp.as_owner();
SELECT is((SELECT verification_status FROM public.point_transactions
           WHERE id = pg_temp.id('t')),
          'pending', 'authenticated cannot set point_transactions verification fields');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('a', pg_temp.new_user());
    PERFORM pg_temp.keep('reviewer', pg_temp.new_user());
    PERFORM pg_temp.keep('t', pg_temp.new_points(pg_temp.id('a')));
END $$;
SELECT pg_temp.as_service();
SELECT is(pg_temp.affected(format(
              'UPDATE public.point_transactions SET quality_score = 87.5, '
              'verification_status = %L, verification_notes = %L, fraud_flags = %L, '
              'verified_by = %L, verified_at = now() WHERE id = %L',
              'verified', 'checked by the RLS suite', '{}', pg_temp.id('reviewer'),
              pg_temp.id('t'))),
          1::bigint, 'service_role can set point_transactions verification fields');
SELECT is(pg_temp.created('flagged', format(
              'INSERT INTO public.point_transactions (user_id, points, transaction_type, '
              'verification_status, fraud_flags) VALUES (%L, 5, %L, %L, %L) RETURNING id',
              pg_temp.id('a'), 'bonus', 'flagged', '{velocity}')),
          NULL, 'service_role can set point_transactions verification fields: '
                'inserting flagged points');
SELECT pg_temp.as_owner();
SELECT ok((SELECT verification_status = 'verified' AND quality_score = 87.5
                   AND verified_by = pg_temp.id('reviewer') AND verified_at IS NOT NULL
           FROM public.point_transactions WHERE id = pg_temp.id('t')),
          'service_role can set point_transactions verification fields: stored');

SELECT pg_temp.fresh();
SELECT is(
    (SELECT string_agg(want.tgname, ', ')
     FROM (VALUES ('point_transactions', 'point_transactions_guard_verification'),
                  ('creator_models', 'creator_models_guard_platform_fields'))
          want (tbl, tgname)
     WHERE NOT EXISTS (
         SELECT 1 FROM pg_trigger tg
         WHERE tg.tgrelid = ('public.' || want.tbl)::regclass
           AND tg.tgname = want.tgname AND tg.tgenabled IN ('O', 'A'))),
    NULL, 'platform-only fields are guarded by triggers whatever the grants');
SELECT pg_temp.as_user(gen_random_uuid());
SELECT ok(NOT public.is_platform_writer(),
          'platform-only fields are guarded by triggers whatever the grants: '
          'authenticated is no platform writer');
SELECT pg_temp.as_anon();
SELECT ok(NOT public.is_platform_writer(),
          'platform-only fields are guarded by triggers whatever the grants: '
          'anon is no platform writer');
SELECT pg_temp.as_service();
SELECT ok(public.is_platform_writer(),
          'platform-only fields are guarded by triggers whatever the grants: '
          'service_role is a platform writer');

-- ===========================================================================
-- calculate_quality_points
-- ===========================================================================

SELECT pg_temp.fresh();
SELECT pg_temp.as_user(gen_random_uuid());  -- callable by customers
SELECT is(public.calculate_quality_points(base, quality, complexity, originality), expected,
          format('calculate_quality_points computes points from quality: (%s, %s, %s, %s)',
                 base, quality, complexity, originality))
FROM (VALUES
    (1, 100, 50::numeric, NULL::numeric, NULL::numeric, 100),  -- average quality: base points
    (2, 100, 0, NULL, NULL, 50),                                -- worst: half
    (3, 100, 100, 100, 100, 200),                               -- best: double
    (4, 10, 75, 40, 20, 14),                                    -- 10 × 1.40
    (5, 0, 90, 90, 90, 0)
) v (n, base, quality, complexity, originality, expected)
ORDER BY n;
SELECT is(public.calculate_quality_points(100, NULL), NULL,
          'calculate_quality_points computes points from quality: unknown quality');

SELECT pg_temp.fresh();
SELECT is(public.calculate_quality_points(100, 90, 50, 50, ARRAY['duplicate_upload']), 0,
          'calculate_quality_points gives nothing for fraud and rejects bad input');
SELECT cmp_ok(public.calculate_quality_points(100, 90, 50, 50, '{}'), '>', 0,
              'calculate_quality_points gives nothing for fraud and rejects bad input: '
              'an empty fraud flag list');
SELECT throws_ok('SELECT public.calculate_quality_points(' || bad || ')', '22023', NULL,
                 'calculate_quality_points gives nothing for fraud and rejects bad input: ('
                 || bad || ')')
FROM unnest(ARRAY['-1, 50', '100, 101', '100, -0.01', '100, 50, 150', '100, 50, 50, -1'])
     WITH ORDINALITY AS b (bad, n)
ORDER BY n;

-- ===========================================================================
-- creator_models
-- ===========================================================================

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('c1', pg_temp.new_user('creator'));
    PERFORM pg_temp.keep('c2', pg_temp.new_user('creator'));
    PERFORM pg_temp.keep('m1', pg_temp.new_model(pg_temp.id('c1'), false));
    PERFORM pg_temp.keep('m2', pg_temp.new_model(pg_temp.id('c2'), true));
END $$;
SELECT pg_temp.as_user(pg_temp.id('c1'));
SELECT is(pg_temp.affected(format(
              'UPDATE public.creator_models SET title = %L WHERE id IN (%L, %L)',
              'renamed', pg_temp.id('m1'), pg_temp.id('m2'))),
          1::bigint, 'creators update only their own creator_models');
SELECT is(pg_temp.affected(format('DELETE FROM public.creator_models WHERE id = %L',
                                  pg_temp.id('m2'))),
          0::bigint, 'creators update only their own creator_models: '
                     'deleting another creator''s model');
SELECT pg_temp.as_owner();
SELECT is((SELECT title FROM public.creator_models WHERE id = pg_temp.id('m2')),
          'RLS suite model', 'creators update only their own creator_models: '
                             'another creator''s model keeps its title');
SELECT pg_temp.as_user(pg_temp.id('c2'));
SELECT is(pg_temp.seen(format('SELECT 1 FROM public.creator_models WHERE id = %L',
                              pg_temp.id('m1'))),
          0::bigint, 'creators update only their own creator_models: '
                     'another creator''s unpublished model is hidden');
SELECT is(pg_temp.affected(format('DELETE FROM public.creator_models WHERE id = %L',
                                  pg_temp.id('m2'))),
          1::bigint, 'creators update only their own creator_models: '
                     'deleting their own model');

SELECT pg_temp.fresh();
DO $$ BEGIN
    PERFORM pg_temp.keep('c', pg_temp.new_user('creator'));
    PERFORM pg_temp.keep('other', pg_temp.new_user('creator'));
    PERFORM pg_temp.keep('m', pg_temp.new_model(pg_temp.id('c')));
END $$;
SELECT pg_temp.as_user(pg_temp.id('c'));
SELECT throws_ok(format('UPDATE public.creator_models SET %s WHERE id = %L',
                        field, pg_temp.id('m')),
                 '42501', NULL,
                 'creators cannot set royalty and quality fields of their models: ' || field)
FROM unnest(ARRAY[
    'designer_royalty_rate = 0.9',
    'total_royalties_earned = 1000',
    'complexity_score = 100',
    'originality_score = 100',
    'quality_flags = ''{}''::text[]',
    format('creator_id = %L', pg_temp.id('other'))
]) WITH ORDINALITY AS f (field, n)
ORDER BY n;
SELECT throws_ok(format('INSERT INTO public.creator_models (creator_id, title, '
                        'designer_royalty_rate) VALUES (%L, %L, 0.9)',
                        pg_temp.id('c'), 'greedy'),
                 '42501', NULL, 'creators cannot set royalty and quality fields of their '
                                'models: inserting a model with a royalty rate');
-- the platform may
SELECT pg_temp.as_service();
SELECT is(pg_temp.affected(format(
              'UPDATE public.creator_models SET complexity_score = 70, '
              'originality_score = 80, designer_royalty_rate = 0.15 WHERE id = %L',
              pg_temp.id('m'))),
          1::bigint, 'creators cannot set royalty and quality fields of their models');

-- ===========================================================================
-- Structure
-- ===========================================================================

SELECT pg_temp.fresh();
SELECT is((SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
           FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace
             AND c.relkind IN ('r', 'p')
             AND NOT c.relrowsecurity),
          NULL, 'every public table has row level security and API roles cannot truncate');
SELECT pg_temp.as_user(gen_random_uuid());
SELECT throws_ok('TRUNCATE public.quotes', '42501', NULL,
                 'every public table has row level security and API roles cannot truncate: '
                 'authenticated truncating quotes');
SELECT pg_temp.as_anon();
SELECT throws_ok('TRUNCATE public.print_requests', '42501', NULL,
                 'every public table has row level security and API roles cannot truncate: '
                 'anon truncating print requests');

SELECT * FROM finish();
ROLLBACK;
