-- Platform shim: make a plain PostgreSQL database look enough like a Supabase
-- project for our migrations, the RLS suite and the smoke checks.
--
-- A real Supabase project already has all of this; the shim is NOT a migration
-- and is never applied there. It is applied to the embedded default's
-- "staging"/"production" databases and to test databases.
--
-- Rules:
--   * idempotent: running it twice changes nothing;
--   * roles are cluster-wide and several databases get the shim at the same
--     time (tests run in parallel), so every cluster-wide change tolerates a
--     concurrent twin (duplicate_object / unique_violation);
--   * only built-ins (gen_random_uuid() is core since PG 13; no pgcrypto or
--     uuid-ossp, which the embedded PostgreSQL does not ship);
--   * works on PostgreSQL 15 and 18.

-- ---------------------------------------------------------------------------
-- Roles (cluster-wide)
-- ---------------------------------------------------------------------------
-- Like Supabase: the API roles cannot log in; PostgREST would connect as
-- `authenticator` and SET ROLE to one of them. Here authenticator is NOLOGIN as
-- well: nothing in the shim's world connects through it, and with trust
-- authentication a LOGIN role without a password would be an open door.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
EXCEPTION
    -- another database's shim created it between our check and our CREATE
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        -- the server-side key: bypasses row level security, like Supabase's
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator NOLOGIN NOINHERIT;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- authenticator may become any of the three API roles (SET ROLE), but being
-- NOINHERIT it holds none of their privileges by itself.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_catalog.pg_has_role('authenticator', r, 'MEMBER') THEN
            BEGIN
                EXECUTE pg_catalog.format('GRANT %I TO authenticator', r);
            EXCEPTION
                -- a concurrent shim inserted the same pg_auth_members row
                WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Schema auth (per database)
-- ---------------------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS auth;

-- The columns of Supabase's auth.users that our code and tests touch, plus the
-- usual bookkeeping ones. Supabase's table has more; nothing here depends on
-- the ones left out.
CREATE TABLE IF NOT EXISTS auth.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    instance_id uuid,
    aud text DEFAULT 'authenticated',
    role text DEFAULT 'authenticated',
    email text UNIQUE,
    encrypted_password text,
    email_confirmed_at timestamptz,
    phone text UNIQUE,
    phone_confirmed_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb DEFAULT '{}'::jsonb,
    raw_user_meta_data jsonb DEFAULT '{}'::jsonb,
    is_super_admin boolean,
    is_anonymous boolean NOT NULL DEFAULT false,
    banned_until timestamptz,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    deleted_at timestamptz
);

-- The JWT helpers, defined as Supabase defines them: PostgREST puts the
-- verified JWT's claims into the transaction-local setting request.jwt.claims
-- (older versions used one setting per claim, hence the fallbacks).

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

CREATE OR REPLACE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

-- ---------------------------------------------------------------------------
-- Grants, like Supabase's
-- ---------------------------------------------------------------------------

-- The API roles may look up objects in auth and call the JWT helpers (policies
-- call auth.uid() as the querying role). auth.users itself stays private: RLS
-- policies must not need it, and foreign keys to it are checked as the owner.
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.jwt(), auth.uid(), auth.role(), auth.email()
    TO anon, authenticated, service_role;

-- Supabase grants broadly in public and relies on row level security: every
-- table, sequence and function the migrating role creates there is usable by
-- the three API roles. A table without RLS is therefore wide open to anon,
-- which is why our migrations enable RLS on every public table.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
