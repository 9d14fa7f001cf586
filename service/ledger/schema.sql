-- deploybot's own records (the ledger), in the bot's database. Postgres is the source of
-- truth: what is recorded here survives Redis losing its queue (DESIGN.md).
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE IF NOT EXISTS ledger.deployments (
    id            bigserial PRIMARY KEY,
    repo          text NOT NULL,
    environment   text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('deploy', 'rollback', 'dry_run')),
    commit_sha    text NOT NULL,
    ref           text,
    status        text NOT NULL DEFAULT 'queued',
    trigger       text NOT NULL DEFAULT 'cli',
    requested_by  text,
    pr_number     integer,
    rollback_of   bigint REFERENCES ledger.deployments (id),
    failed_step   text,
    reason        text,
    stop_the_line text,
    forced_reason text,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX IF NOT EXISTS deployments_env_idx
    ON ledger.deployments (repo, environment, id DESC);

-- What a record is, for counting and filtering: real deployments ('deploy', 'rollback')
-- and the runs recorded for the audit trail that deployed nothing: a dry run ('dry-run'),
-- a run the pre-production checklist refused before anything ran ('refused'), a deploy
-- that found the environment already running the commit ('noop'). Only real deployments
-- count in the history's numbers, failure rates and an environment's last deployment.
-- Earlier versions recorded a refusal as 'failed' at the gates step: those become
-- 'refused' (a gates failure that is not an unmet item, e.g. the team could not be told,
-- stays a failure).
UPDATE ledger.deployments SET status = 'refused'
 WHERE status = 'failed' AND failed_step = 'gates'
   AND stop_the_line = 'pre-production checklist not met'
   AND reason NOT LIKE 'could not notify the team%'
   AND reason NOT LIKE 'the pre-production checklist could not be evaluated%';
ALTER TABLE ledger.deployments ADD COLUMN IF NOT EXISTS record_kind text
    GENERATED ALWAYS AS (CASE WHEN kind = 'dry_run' THEN 'dry-run'
                              WHEN status = 'refused' THEN 'refused'
                              WHEN status = 'up_to_date' THEN 'noop'
                              ELSE kind END) STORED;

CREATE TABLE IF NOT EXISTS ledger.deployment_steps (
    deployment_id bigint NOT NULL REFERENCES ledger.deployments (id) ON DELETE CASCADE,
    name          text NOT NULL,
    position      integer NOT NULL,
    title         text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'pending',
    message       text NOT NULL DEFAULT '',
    output        text NOT NULL DEFAULT '',
    started_at    timestamptz,
    finished_at   timestamptz,
    duration_ms   integer,
    undo_status   text,
    undo_message  text,
    PRIMARY KEY (deployment_id, name)
);

CREATE TABLE IF NOT EXISTS ledger.backups (
    id                 bigserial PRIMARY KEY,
    deployment_id      bigint REFERENCES ledger.deployments (id) ON DELETE SET NULL,
    repo               text NOT NULL,
    environment        text NOT NULL,
    location           text NOT NULL,
    size_bytes         bigint NOT NULL,
    entries            integer NOT NULL,
    server_version_num integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every webhook delivery the intake accepted, keyed by X-GitHub-Delivery (stable across
-- redeliveries, so a redelivery is recognised and does nothing new).
CREATE TABLE IF NOT EXISTS ledger.deliveries (
    id              text PRIMARY KEY,
    event           text NOT NULL,
    action          text,
    installation_id bigint,
    repo            text,
    payload         text NOT NULL,  -- the JSON as received, never cast to jsonb: its numbers
                                    -- may be past numeric's range (deliveries.read_json)
    status          text NOT NULL DEFAULT 'received',
    result          text,
    attempts        integer NOT NULL DEFAULT 0,
    received_at     timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    processed_at    timestamptz
);
CREATE INDEX IF NOT EXISTS deliveries_unprocessed_idx
    ON ledger.deliveries (received_at) WHERE status IN ('received', 'handling');
-- The payload is kept as the text the intake parsed and checked, not as jsonb: building jsonb
-- (and before it PostgreSQL's own JSON check) was two thirds of PostgreSQL's CPU per
-- acknowledged delivery; the worker reads it as jsonb, once, off the request's path.
-- Compressed with lz4, a third of the default pglz's cost (benchmarks/intake_wrk.py): only
-- for rows written from then on, and only where the server was built with lz4.
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'ledger.deliveries'::regclass
        AND attname = 'payload') = 'jsonb'::regtype THEN
        ALTER TABLE ledger.deliveries ALTER COLUMN payload TYPE text USING payload::text;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'
               AND 'lz4' = ANY (enumvals))
       AND (SELECT attcompression FROM pg_attribute
            WHERE attrelid = 'ledger.deliveries'::regclass AND attname = 'payload') <> 'l' THEN
        ALTER TABLE ledger.deliveries ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END $$;

-- Deployment requests: what people (or merges) asked for, kept until done. The queue of an
-- environment is its requests in 'queued' state, oldest first.
CREATE TABLE IF NOT EXISTS ledger.requests (
    id              bigserial PRIMARY KEY,
    repo            text NOT NULL,
    installation_id bigint,
    environment     text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('deploy', 'rollback', 'dry_run')),
    commit_sha      text NOT NULL,
    ref             text,
    pr_number       integer,
    requested_by    text,
    trigger         text NOT NULL,
    comment_id      bigint,
    delivery_id     text,
    rollback_target bigint,
    forced_reason   text,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'done', 'cancelled', 'superseded')),
    deployment_id   bigint REFERENCES ledger.deployments (id),
    check_run_id    bigint,
    gh_deployment_id bigint,
    note            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS requests_queue_idx
    ON ledger.requests (repo, environment, id) WHERE status IN ('queued', 'running');
-- A delivery creates at most one request, however often it is redelivered or retried.
CREATE UNIQUE INDEX IF NOT EXISTS requests_delivery_idx
    ON ledger.requests (delivery_id, environment) WHERE delivery_id IS NOT NULL;

-- One deployment at a time per environment: a lease with an expiry and a fencing token.
-- A worker that dies stops renewing; once expired, the next taker gets a larger token and
-- the old holder can no longer renew or write.
CREATE SEQUENCE IF NOT EXISTS ledger.lease_tokens;
CREATE TABLE IF NOT EXISTS ledger.leases (
    repo        text NOT NULL,
    environment text NOT NULL,
    request_id  bigint,
    holder      text,
    token       bigint NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (repo, environment)
);

-- Sticky locks taken with /lock: an environment kept for one owner until /unlock.
CREATE TABLE IF NOT EXISTS ledger.locks (
    repo        text NOT NULL,
    environment text NOT NULL,
    owner       text NOT NULL,
    pr_number   integer,
    reason      text,
    since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, environment)
);

-- Checklist items a person confirms by hand where nothing can check them (e.g. leaked
-- password protection on a database that is not a Supabase project).
CREATE TABLE IF NOT EXISTS ledger.confirmations (
    repo         text NOT NULL,
    environment  text NOT NULL,
    item         text NOT NULL,
    confirmed_by text NOT NULL,
    confirmed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo, environment, item)
);

-- The watch after a deployment (runbook: Monitoring): one row per watched deployment with
-- the settings it runs under (names of variables, never secrets) and where it stands; a row
-- per sample for the dashboard; and the breach that ended it, if one did.
CREATE TABLE IF NOT EXISTS ledger.watches (
    deployment_id   bigint PRIMARY KEY REFERENCES ledger.deployments (id) ON DELETE CASCADE,
    request_id      bigint,
    repo            text NOT NULL,
    environment     text NOT NULL,
    installation_id bigint,
    config          jsonb NOT NULL,
    started_at      timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    interval_s      double precision NOT NULL,
    status          text NOT NULL DEFAULT 'watching'
                    CHECK (status IN ('watching', 'passed', 'breached', 'stopped')),
    next_sample     integer NOT NULL DEFAULT 1,
    next_at         timestamptz NOT NULL,
    last_sample_at  timestamptz,
    note            text,
    finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS watches_due_idx ON ledger.watches (next_at)
    WHERE status = 'watching';

CREATE TABLE IF NOT EXISTS ledger.watch_samples (
    deployment_id    bigint NOT NULL REFERENCES ledger.deployments (id) ON DELETE CASCADE,
    seq              integer NOT NULL,
    at               timestamptz NOT NULL,
    latency_p95_ms   double precision,
    error_rate       double precision,
    connections      integer,
    requests         integer NOT NULL DEFAULT 0,
    errors           integer NOT NULL DEFAULT 0,
    probe_status     integer,
    probe_latency_ms double precision,
    source           text NOT NULL DEFAULT '',
    notes            text[] NOT NULL DEFAULT '{}',
    breaches         jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE IF NOT EXISTS ledger.watch_breaches (
    deployment_id       bigint PRIMARY KEY REFERENCES ledger.deployments (id)
                        ON DELETE CASCADE,
    seq                 integer NOT NULL,
    at                  timestamptz NOT NULL,
    breaches            jsonb NOT NULL,
    summary             text NOT NULL,
    auto_rollback       boolean NOT NULL,
    rollback_request_id bigint,
    reported            text[] NOT NULL DEFAULT '{}',  -- GitHub actions done, for retries
    handled_at          timestamptz
);

-- A deployment's final report (check run conclusion, deployment status, summary comment)
-- that GitHub did not take when the deployment ended, after the client's own retries: the
-- reconciler sends the parts still missing (`report_parts`) from the ledger when
-- `report_due` comes, until they arrive. Given up (after a day): `report_due` is NULL and
-- `report_parts` still names what never arrived, for the dashboard to say so.
ALTER TABLE ledger.requests ADD COLUMN IF NOT EXISTS report_due timestamptz;
ALTER TABLE ledger.requests ADD COLUMN IF NOT EXISTS report_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE ledger.requests ADD COLUMN IF NOT EXISTS report_parts text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS requests_report_due_idx
    ON ledger.requests (report_due) WHERE report_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS requests_report_parts_idx
    ON ledger.requests (deployment_id) WHERE report_parts <> '{}';

-- Each pull request's head as the bot learns of it (issue 11: the commit a person saw is
-- never inferred from commit dates, which the pusher writes). One row per `pull_request`
-- opened / synchronize / reopened delivery: `event_at` is the event's
-- `pull_request.updated_at` (GitHub's clock, the clock of a comment's `created_at`),
-- `received_at` when the intake took the delivery. `source` 'observed' rows are heads the
-- bot saw itself (GET pull) when it had no record of them: their time is when it looked.
CREATE TABLE IF NOT EXISTS ledger.pr_heads (
    id          bigserial PRIMARY KEY,
    repo        text NOT NULL,
    pr_number   integer NOT NULL,
    head_sha    text NOT NULL,
    source      text NOT NULL CHECK (source IN ('opened', 'synchronize', 'reopened',
                                                 'observed')),
    delivery_id text,
    event_at    timestamptz,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pr_heads_pr_idx ON ledger.pr_heads (repo, pr_number, id);
-- A redelivered event records nothing new.
CREATE UNIQUE INDEX IF NOT EXISTS pr_heads_delivery_idx
    ON ledger.pr_heads (delivery_id) WHERE delivery_id IS NOT NULL;
