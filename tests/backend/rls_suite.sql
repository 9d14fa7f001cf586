-- 3d3d.ca RLS test suite (runbook: Staging Step 5, "Run RLS Tests").
--
--   psql -X -q -v ON_ERROR_STOP=0 -f tests/backend/rls_suite.sql <database url>
--
-- Prints TAP on stdout: the plan "1..N", then one line per test,
-- "ok <n> - <name>" or "not ok <n> - <name> # <reason>". The deploy bot parses
-- it; any "not ok" (or a missing line) is a security stop.
--
-- How it stays harmless on a real environment:
--   * every test runs in its own BEGIN … ROLLBACK: the fixture users and rows
--     it creates (as the connecting role, e.g. postgres) never commit;
--   * uuids only: no sequence is advanced;
--   * no DDL on the project's tables (no long or exclusive locks), and a lock
--     timeout so a busy table fails the test instead of hanging the suite;
--   * the helpers below are temporary functions (pg_temp), gone when the
--     session ends.
-- A test switches identity like PostgREST does, local to its transaction:
-- set_config('role', …) plus the JWT claims in request.jwt.claims.
-- An unexpected error inside a test makes that test "not ok" with the error
-- as reason; the suite carries on.

\set QUIET on
\pset pager off
\pset format unaligned
\pset tuples_only on

-- Create the helpers even where tables are missing (a broken or unmigrated
-- database): every test then reports its own "not ok" instead of the helpers
-- failing up front. Session-only setting.
SET check_function_bodies = off;

-- ===========================================================================
-- Helpers (temporary functions of this session)
-- ===========================================================================

-- Run one test body (a plpgsql block) and turn its outcome into a TAP line.
CREATE FUNCTION pg_temp.tap(n integer, name text, body text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    reason text;
BEGIN
    PERFORM set_config('lock_timeout', '10s', true);
    BEGIN
        EXECUTE 'DO ' || quote_literal(body);
    EXCEPTION
        WHEN assert_failure THEN
            reason := SQLERRM;
        WHEN others THEN
            -- P0001: a failed expectation, whose message is the reason
            reason := CASE WHEN SQLSTATE = 'P0001' THEN SQLERRM
                           ELSE 'unexpected error ' || SQLSTATE || ': ' || SQLERRM END;
    END;
    -- back to the connecting role for the next statement
    PERFORM set_config('role', 'none', true);
    PERFORM set_config('request.jwt.claims', '', true);
    IF reason IS NULL THEN
        RETURN format('ok %s - %s', n, name);
    END IF;
    RETURN format('not ok %s - %s # %s', n, name,
                  regexp_replace(reason, '[[:space:]]+', ' ', 'g'));
END
$$;

CREATE FUNCTION pg_temp.expect(ok boolean, failure text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', failure;
    END IF;
END
$$;

-- The statement must be refused with insufficient_privilege (42501): missing
-- privilege, a row level security check, or a guard trigger.
CREATE FUNCTION pg_temp.expect_denied(stmt text, what text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    BEGIN
        EXECUTE stmt;
        GET DIAGNOSTICS n = ROW_COUNT;
    EXCEPTION
        WHEN insufficient_privilege THEN
            RETURN;
    END;
    RAISE EXCEPTION '% was allowed (% rows)', what, n;
END
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
-- Tests
-- ===========================================================================

SELECT '1..26';

-- Quotes and print requests: customers --------------------------------------

BEGIN;
SELECT pg_temp.tap(1, 'customers see only their own quotes', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    qa uuid := pg_temp.new_quote(a);
    qb uuid := pg_temp.new_quote(b);
    anon_quote uuid := pg_temp.new_quote(NULL);
    ids uuid[];
BEGIN
    PERFORM pg_temp.as_user(a);
    SELECT array_agg(id) INTO ids FROM public.quotes;
    PERFORM pg_temp.expect(ids = ARRAY[qa],
        format('customer saw quotes %s, expected only their own %s',
               coalesce(ids::text, 'none'), qa));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(2, 'customers see only their own print requests', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    pa uuid := pg_temp.new_print_request(a);
    pb uuid := pg_temp.new_print_request(b);
    ids uuid[];
BEGIN
    PERFORM pg_temp.as_user(a);
    SELECT array_agg(id) INTO ids FROM public.print_requests;
    PERFORM pg_temp.expect(ids = ARRAY[pa],
        format('customer saw print requests %s, expected only their own %s',
               coalesce(ids::text, 'none'), pa));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(3, 'customers can create and change their own quotes and print requests', $t$
DECLARE
    a uuid := pg_temp.new_user();
    q uuid;
    p uuid;
    p2 uuid;
BEGIN
    PERFORM pg_temp.as_user(a);
    INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, delivery_speed,
                               breakdown, total, expires_at)
    VALUES (a, 50, 'PETG', 'draft', 2, 'express', '{"total": 30}', 30, now() + interval '7 days')
    RETURNING id INTO q;
    PERFORM pg_temp.expect(
        pg_temp.affected(format('UPDATE public.quotes SET status = %L WHERE id = %L', 'accepted', q)) = 1,
        'customer could not accept their own quote');
    INSERT INTO public.print_requests (customer_id, quote_id, material)
    VALUES (a, q, 'PETG') RETURNING id INTO p;
    PERFORM pg_temp.expect(
        pg_temp.affected(format('UPDATE public.print_requests SET notes = %L WHERE id = %L', 'please hurry', p)) = 1,
        'customer could not update their own print request');
    INSERT INTO public.print_requests (customer_id, material, reorder_of_request_id)
    VALUES (a, 'PETG', p) RETURNING id INTO p2;
    PERFORM pg_temp.expect(p2 IS NOT NULL, 'customer could not re-order their own request');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(4, 'customers cannot insert a quote for another customer', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    ins text := 'INSERT INTO public.quotes (customer_id, grams, material, quality, quantity,'
                ' delivery_speed, breakdown, total, expires_at) VALUES (%L, 10, %L, %L, 1, %L,'
                ' %L, 1, now() + interval ''1 day'')';
BEGIN
    PERFORM pg_temp.as_user(a);
    PERFORM pg_temp.expect_denied(format(ins, b, 'PLA', 'standard', 'standard', '{}'),
                                  'inserting a quote for another customer');
    PERFORM pg_temp.expect_denied(format(ins, NULL, 'PLA', 'standard', 'standard', '{}'),
                                  'inserting a quote without a customer');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(5, 'customers cannot update another customer''s quote', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    qb uuid := pg_temp.new_quote(b);
    n bigint;
    st text;
BEGIN
    PERFORM pg_temp.as_user(a);
    n := pg_temp.affected(format('UPDATE public.quotes SET status = %L WHERE id = %L', 'cancelled', qb));
    PERFORM pg_temp.expect(n = 0, format('customer updated %s of another customer''s quotes', n));
    PERFORM pg_temp.as_owner();
    SELECT status INTO st FROM public.quotes WHERE id = qb;
    PERFORM pg_temp.expect(st = 'active', format('the other customer''s quote is now %s', st));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(6, 'customers cannot reassign or reprice their own quote', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    qa uuid := pg_temp.new_quote(a);
BEGIN
    PERFORM pg_temp.as_user(a);
    PERFORM pg_temp.expect_denied(
        format('UPDATE public.quotes SET customer_id = %L WHERE id = %L', b, qa),
        'handing a quote to another customer');
    PERFORM pg_temp.expect_denied(
        format('UPDATE public.quotes SET total = 0 WHERE id = %L', qa),
        'changing the price of a quote');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(7, 'customers cannot insert a print request for another customer', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
BEGIN
    PERFORM pg_temp.as_user(a);
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.print_requests (customer_id, material) VALUES (%L, %L)', b, 'PLA'),
        'inserting a print request for another customer');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(8, 'customers cannot update another customer''s print request', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    pa uuid := pg_temp.new_print_request(a);
    pb uuid := pg_temp.new_print_request(b);
    n bigint;
    note text;
BEGIN
    PERFORM pg_temp.as_user(a);
    n := pg_temp.affected(format('UPDATE public.print_requests SET notes = %L WHERE id = %L', 'mine now', pb));
    PERFORM pg_temp.expect(n = 0, format('customer updated %s of another customer''s print requests', n));
    PERFORM pg_temp.expect_denied(
        format('UPDATE public.print_requests SET customer_id = %L WHERE id = %L', b, pa),
        'handing a print request to another customer');
    PERFORM pg_temp.as_owner();
    SELECT notes INTO note FROM public.print_requests WHERE id = pb;
    PERFORM pg_temp.expect(note IS NULL, 'the other customer''s print request was changed');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(9, 'customers cannot link a print request to another customer''s quote or request', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    qb uuid := pg_temp.new_quote(b);
    pa uuid := pg_temp.new_print_request(a);
    pb uuid := pg_temp.new_print_request(b, qb);
BEGIN
    PERFORM pg_temp.as_user(a);
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.print_requests (customer_id, quote_id, material) VALUES (%L, %L, %L)',
               a, qb, 'PLA'),
        'ordering from another customer''s quote');
    PERFORM pg_temp.expect_denied(
        format('UPDATE public.print_requests SET quote_id = %L WHERE id = %L', qb, pa),
        'attaching another customer''s quote');
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.print_requests (customer_id, reorder_of_request_id, material) VALUES (%L, %L, %L)',
               a, pb, 'PLA'),
        're-ordering another customer''s print request');
END
$t$);
ROLLBACK;

-- anon ------------------------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(10, 'anon sees no quotes', $t$
DECLARE
    a uuid := pg_temp.new_user();
    qa uuid := pg_temp.new_quote(a);
    anon_quote uuid := pg_temp.new_quote(NULL);
    n bigint;
BEGIN
    PERFORM pg_temp.as_anon();
    n := pg_temp.seen('SELECT 1 FROM public.quotes');
    PERFORM pg_temp.expect(n = 0, format('anon saw %s quotes', n));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(11, 'anon sees no print requests', $t$
DECLARE
    a uuid := pg_temp.new_user();
    pa uuid := pg_temp.new_print_request(a);
    n bigint;
BEGIN
    PERFORM pg_temp.as_anon();
    n := pg_temp.seen('SELECT 1 FROM public.print_requests');
    PERFORM pg_temp.expect(n = 0, format('anon saw %s print requests', n));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(12, 'anon sees no point transactions', $t$
DECLARE
    a uuid := pg_temp.new_user();
    t uuid := pg_temp.new_points(a);
    n bigint;
BEGIN
    PERFORM pg_temp.as_anon();
    n := pg_temp.seen('SELECT 1 FROM public.point_transactions');
    PERFORM pg_temp.expect(n = 0, format('anon saw %s point transactions', n));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(13, 'anon sees no profiles or their private fields', $t$
DECLARE
    a uuid := pg_temp.new_user();
    n bigint;
BEGIN
    PERFORM pg_temp.as_anon();
    n := pg_temp.seen('SELECT 1 FROM public.profiles');
    PERFORM pg_temp.expect(n = 0, format('anon saw %s profiles', n));
    n := pg_temp.seen(format('SELECT email, phone FROM public.profiles WHERE id = %L', a));
    PERFORM pg_temp.expect(n = 0, 'anon read a profile''s email and phone');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(14, 'anon cannot create quotes or print requests', $t$
DECLARE
    a uuid := pg_temp.new_user();
BEGIN
    PERFORM pg_temp.as_anon();
    PERFORM pg_temp.expect_denied(
        'INSERT INTO public.quotes (grams, material, quality, quantity, delivery_speed, breakdown,'
        ' total, expires_at) VALUES (10, ''PLA'', ''standard'', 1, ''standard'', ''{}'', 1, now())',
        'anon inserting a quote');
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.print_requests (customer_id, material) VALUES (%L, %L)', a, 'PLA'),
        'anon inserting a print request');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(15, 'anon sees only published creator models', $t$
DECLARE
    c uuid := pg_temp.new_user('creator');
    published uuid := pg_temp.new_model(c, true);
    draft uuid := pg_temp.new_model(c, false);
    n bigint;
BEGIN
    PERFORM pg_temp.as_anon();
    n := pg_temp.seen(format('SELECT 1 FROM public.creator_models WHERE id = %L', published));
    PERFORM pg_temp.expect(n = 1, 'anon cannot see a published model');
    n := pg_temp.seen('SELECT 1 FROM public.creator_models WHERE NOT is_published');
    PERFORM pg_temp.expect(n = 0, format('anon saw %s unpublished models', n));
    PERFORM pg_temp.expect(
        pg_temp.affected(format('UPDATE public.creator_models SET title = %L WHERE id = %L', 'x', published)) = 0,
        'anon changed a model');
EXCEPTION
    WHEN insufficient_privilege THEN
        NULL;  -- anon has no UPDATE privilege at all: also fine
END
$t$);
ROLLBACK;

-- Customers' other private data ------------------------------------------------

BEGIN;
SELECT pg_temp.tap(16, 'customers see only their own profile and point transactions', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    ta uuid := pg_temp.new_points(a);
    tb uuid := pg_temp.new_points(b);
    ids uuid[];
BEGIN
    PERFORM pg_temp.as_user(a);
    SELECT array_agg(id) INTO ids FROM public.profiles;
    PERFORM pg_temp.expect(ids = ARRAY[a],
        format('customer saw profiles %s, expected only their own', coalesce(ids::text, 'none')));
    SELECT array_agg(id) INTO ids FROM public.point_transactions;
    PERFORM pg_temp.expect(ids = ARRAY[ta],
        format('customer saw point transactions %s, expected only their own %s',
               coalesce(ids::text, 'none'), ta));
END
$t$);
ROLLBACK;

-- service_role ------------------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(17, 'service_role sees every quote, print request, point transaction and profile', $t$
DECLARE
    a uuid := pg_temp.new_user();
    b uuid := pg_temp.new_user();
    quote_ids uuid[] := ARRAY[pg_temp.new_quote(a), pg_temp.new_quote(b), pg_temp.new_quote(NULL)];
    request_ids uuid[] := ARRAY[pg_temp.new_print_request(a), pg_temp.new_print_request(b)];
    point_ids uuid[] := ARRAY[pg_temp.new_points(a), pg_temp.new_points(b)];
    n bigint;
BEGIN
    PERFORM pg_temp.as_service();
    SELECT count(*) INTO n FROM public.quotes WHERE id = ANY (quote_ids);
    PERFORM pg_temp.expect(n = 3, format('service_role saw %s of 3 quotes', n));
    SELECT count(*) INTO n FROM public.print_requests WHERE id = ANY (request_ids);
    PERFORM pg_temp.expect(n = 2, format('service_role saw %s of 2 print requests', n));
    SELECT count(*) INTO n FROM public.point_transactions WHERE id = ANY (point_ids);
    PERFORM pg_temp.expect(n = 2, format('service_role saw %s of 2 point transactions', n));
    SELECT count(*) INTO n FROM public.profiles WHERE id IN (a, b) AND email IS NOT NULL;
    PERFORM pg_temp.expect(n = 2, format('service_role saw %s of 2 profiles', n));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(18, 'service_role and postgres can insert a quote without a customer', $t$
DECLARE
    q uuid;
BEGIN
    -- the calculate-quote edge function's insert, for an anonymous visitor
    PERFORM pg_temp.as_service();
    INSERT INTO public.quotes (customer_id, grams, material, quality, quantity, delivery_speed,
                               breakdown, total, expires_at)
    VALUES (NULL, 100, 'PLA_STANDARD', 'standard', 1, 'standard',
            '{"platform_fee": 5.00, "bed_rental": 10.00, "filament_cost": 9.00, "total": 24.00}',
            24.00, now() + interval '7 days')
    RETURNING id INTO q;
    PERFORM pg_temp.expect(q IS NOT NULL, 'service_role insert returned no id');
    PERFORM pg_temp.as_owner();
    q := pg_temp.new_quote(NULL);
    PERFORM pg_temp.expect(q IS NOT NULL, 'postgres insert returned no id');
END
$t$);
ROLLBACK;

-- Points verification -------------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(19, 'authenticated cannot set point_transactions verification fields', $t$
DECLARE
    a uuid := pg_temp.new_user();
    t uuid := pg_temp.new_points(a);
    st text;
    stmt text;
BEGIN
    PERFORM pg_temp.as_user(a);
    FOREACH stmt IN ARRAY ARRAY[
        'quality_score = 100',
        'verification_status = ''verified''',
        'verification_notes = ''looks fine to me''',
        'fraud_flags = ''{}''::text[]',
        format('verified_by = %L', a),
        'verified_at = now()'
    ] LOOP
        PERFORM pg_temp.expect_denied(
            format('UPDATE public.point_transactions SET %s WHERE id = %L', stmt, t),
            'setting ' || stmt);
    END LOOP;
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.point_transactions (user_id, points, transaction_type,'
               ' verification_status) VALUES (%L, 1000, %L, %L)', a, 'earned', 'verified'),
        'inserting pre-verified points');
    PERFORM pg_temp.as_owner();
    SELECT verification_status INTO st FROM public.point_transactions WHERE id = t;
    PERFORM pg_temp.expect(st = 'pending', format('verification_status became %s', st));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(20, 'service_role can set point_transactions verification fields', $t$
DECLARE
    a uuid := pg_temp.new_user();
    reviewer uuid := pg_temp.new_user();
    t uuid := pg_temp.new_points(a);
    r record;
BEGIN
    PERFORM pg_temp.as_service();
    UPDATE public.point_transactions
       SET quality_score = 87.5, verification_status = 'verified',
           verification_notes = 'checked by the RLS suite', fraud_flags = '{}',
           verified_by = reviewer, verified_at = now()
     WHERE id = t;
    PERFORM pg_temp.expect(FOUND, 'service_role updated no row');
    INSERT INTO public.point_transactions (user_id, points, transaction_type, verification_status,
                                           fraud_flags)
    VALUES (a, 5, 'bonus', 'flagged', '{velocity}');
    PERFORM pg_temp.as_owner();
    SELECT * INTO r FROM public.point_transactions WHERE id = t;
    PERFORM pg_temp.expect(r.verification_status = 'verified' AND r.quality_score = 87.5
                           AND r.verified_by = reviewer AND r.verified_at IS NOT NULL,
                           format('verification not stored: %s', row_to_json(r)));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(21, 'platform-only fields are guarded by triggers whatever the grants', $t$
DECLARE
    missing text;
    writer boolean;
BEGIN
    SELECT string_agg(want.tgname, ', ') INTO missing
    FROM (VALUES ('point_transactions', 'point_transactions_guard_verification'),
                 ('creator_models', 'creator_models_guard_platform_fields')) want (tbl, tgname)
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_trigger tg
        WHERE tg.tgrelid = ('public.' || want.tbl)::regclass
          AND tg.tgname = want.tgname AND tg.tgenabled IN ('O', 'A'));
    PERFORM pg_temp.expect(missing IS NULL, format('guard triggers missing or disabled: %s', missing));

    PERFORM pg_temp.as_user(gen_random_uuid());
    writer := public.is_platform_writer();
    PERFORM pg_temp.expect(NOT writer, 'authenticated counts as a platform writer');
    PERFORM pg_temp.as_anon();
    writer := public.is_platform_writer();
    PERFORM pg_temp.expect(NOT writer, 'anon counts as a platform writer');
    PERFORM pg_temp.as_service();
    writer := public.is_platform_writer();
    PERFORM pg_temp.expect(writer, 'service_role does not count as a platform writer');
END
$t$);
ROLLBACK;

-- calculate_quality_points -----------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(22, 'calculate_quality_points computes points from quality', $t$
DECLARE
    got integer;
    c record;
BEGIN
    PERFORM pg_temp.as_user(gen_random_uuid());  -- callable by customers
    FOR c IN SELECT * FROM (VALUES
        (100, 50::numeric, NULL::numeric, NULL::numeric, 100),  -- average quality: base points
        (100, 0, NULL, NULL, 50),                                -- worst: half
        (100, 100, 100, 100, 200),                               -- best: double
        (10, 75, 40, 20, 14),                                    -- 10 × 1.40
        (0, 90, 90, 90, 0)
    ) v (base, quality, complexity, originality, expected) LOOP
        got := public.calculate_quality_points(c.base, c.quality, c.complexity, c.originality);
        PERFORM pg_temp.expect(got = c.expected,
            format('calculate_quality_points(%s, %s, %s, %s) = %s, expected %s',
                   c.base, c.quality, c.complexity, c.originality, got, c.expected));
    END LOOP;
    got := public.calculate_quality_points(100, NULL);
    PERFORM pg_temp.expect(got IS NULL, format('unknown quality gave %s points, expected null', got));
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(23, 'calculate_quality_points gives nothing for fraud and rejects bad input', $t$
DECLARE
    got integer;
    bad text;
BEGIN
    got := public.calculate_quality_points(100, 90, 50, 50, ARRAY['duplicate_upload']);
    PERFORM pg_temp.expect(got = 0, format('fraud-flagged action earned %s points', got));
    got := public.calculate_quality_points(100, 90, 50, 50, '{}');
    PERFORM pg_temp.expect(got > 0, 'an empty fraud flag list zeroed the points');
    FOREACH bad IN ARRAY ARRAY['-1, 50', '100, 101', '100, -0.01', '100, 50, 150', '100, 50, 50, -1'] LOOP
        BEGIN
            EXECUTE 'SELECT public.calculate_quality_points(' || bad || ')' INTO got;
            RAISE EXCEPTION 'calculate_quality_points(%) accepted bad input and returned %', bad, got;
        EXCEPTION
            WHEN invalid_parameter_value THEN
                NULL;
        END;
    END LOOP;
END
$t$);
ROLLBACK;

-- creator_models -----------------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(24, 'creators update only their own creator_models', $t$
DECLARE
    c1 uuid := pg_temp.new_user('creator');
    c2 uuid := pg_temp.new_user('creator');
    m1 uuid := pg_temp.new_model(c1, false);
    m2 uuid := pg_temp.new_model(c2, true);
    n bigint;
    title2 text;
BEGIN
    PERFORM pg_temp.as_user(c1);
    n := pg_temp.affected(format(
        'UPDATE public.creator_models SET title = %L WHERE id IN (%L, %L)', 'renamed', m1, m2));
    PERFORM pg_temp.expect(n = 1, format('creator updated %s models, expected only their own', n));
    n := pg_temp.affected(format('DELETE FROM public.creator_models WHERE id = %L', m2));
    PERFORM pg_temp.expect(n = 0, 'creator deleted another creator''s model');
    PERFORM pg_temp.as_owner();
    SELECT title INTO title2 FROM public.creator_models WHERE id = m2;
    PERFORM pg_temp.expect(title2 = 'RLS suite model', 'another creator''s model was renamed');
    PERFORM pg_temp.as_user(c2);
    PERFORM pg_temp.expect(
        pg_temp.seen(format('SELECT 1 FROM public.creator_models WHERE id = %L', m1)) = 0,
        'creator saw another creator''s unpublished model');
    n := pg_temp.affected(format('DELETE FROM public.creator_models WHERE id = %L', m2));
    PERFORM pg_temp.expect(n = 1, 'creator could not delete their own model');
END
$t$);
ROLLBACK;

BEGIN;
SELECT pg_temp.tap(25, 'creators cannot set royalty and quality fields of their models', $t$
DECLARE
    c uuid := pg_temp.new_user('creator');
    other uuid := pg_temp.new_user('creator');
    m uuid := pg_temp.new_model(c);
    stmt text;
BEGIN
    PERFORM pg_temp.as_user(c);
    FOREACH stmt IN ARRAY ARRAY[
        'designer_royalty_rate = 0.9',
        'total_royalties_earned = 1000',
        'complexity_score = 100',
        'originality_score = 100',
        'quality_flags = ''{}''::text[]',
        format('creator_id = %L', other)
    ] LOOP
        PERFORM pg_temp.expect_denied(
            format('UPDATE public.creator_models SET %s WHERE id = %L', stmt, m),
            'setting ' || stmt);
    END LOOP;
    PERFORM pg_temp.expect_denied(
        format('INSERT INTO public.creator_models (creator_id, title, designer_royalty_rate)'
               ' VALUES (%L, %L, 0.9)', c, 'greedy'),
        'inserting a model with a royalty rate');
    -- the platform may
    PERFORM pg_temp.as_service();
    UPDATE public.creator_models
       SET complexity_score = 70, originality_score = 80, designer_royalty_rate = 0.15
     WHERE id = m;
    PERFORM pg_temp.expect(FOUND, 'service_role could not score a model');
END
$t$);
ROLLBACK;

-- Structure ----------------------------------------------------------------------

BEGIN;
SELECT pg_temp.tap(26, 'every public table has row level security and API roles cannot truncate', $t$
DECLARE
    open_tables text;
BEGIN
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO open_tables
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relkind IN ('r', 'p')
      AND NOT c.relrowsecurity;
    PERFORM pg_temp.expect(open_tables IS NULL,
        format('tables without row level security: %s', open_tables));
    PERFORM pg_temp.as_user(gen_random_uuid());
    PERFORM pg_temp.expect_denied('TRUNCATE public.quotes', 'authenticated truncating quotes');
    PERFORM pg_temp.as_anon();
    PERFORM pg_temp.expect_denied('TRUNCATE public.print_requests', 'anon truncating print requests');
END
$t$);
ROLLBACK;
