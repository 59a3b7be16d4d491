-- server/schema.sql: the Baodao database as server/migrations.py leaves it, after every
-- migration has run on an empty file, in one file to read.
-- Schema as of PRAGMA user_version = 11 (the test checks this line too).
--
-- DOCUMENTATION ONLY. Nothing runs this file at start, and it changes no database: the
-- migrations in server/migrations.py (numbered by PRAGMA user_version, applied by `migrate(db)`
-- from server/db.py `init_db`) stay the only way the schema changes. A schema change is a new
-- migration there, then the same change here.
--
-- Kept true by tests/test_schema_sql.py: it runs this file into a scratch database and compares
-- each table, index, trigger and view, by name, with those of a freshly migrated one, ignoring
-- `--` comments and layout. When it fails it names the objects that differ;
--     python scripts/dump_schema.py NAME ...
-- prints them as the migrations leave them (without comments: the comments here are written
-- and kept by hand, and the test ignores them). The same test checks the rules this SQL holds
-- (the CHECK lists of statuses and outcomes, any fever threshold) against server/rules.py.
--
-- Reading notes:
-- - Records captured on a phone have the phone's UUID as id (TEXT), so a resend can never make
--   a second row (server/records.py, server/sync.py); registries several people edit carry a
--   `version` that each edit names.
-- - Times: `recorded_at` is the time the phone claims, kept as sent; `recorded_utc` the trusted
--   time the record counts at (server/records.py: trusted_time); the other TEXT `*_at` are UTC
--   ISO 8601, the REAL ones (login_failures.at, push_deliveries.next_attempt_at) epoch seconds;
--   `local_day` is the deployment's local date, YYYY-MM-DD. JSON is stored as TEXT.
-- - A column added later by ALTER TABLE is kept by SQLite at the end of the table's text; here
--   such columns sit on lines of their own, marked with the migration that added them.
-- - Indexes follow their table (later ones marked with their migration). The summary tables of
--   the tallies and the triggers that keep them are together in the last section.
-- - There are no views.


-- ==============================================================================================
-- Places and people (v1, v5): the jurisdiction tree, accounts, teams, assignments
-- ==============================================================================================

-- The jurisdiction tree: district > town > community > grid. `path` is '/1/4/9/' (ids from
-- the root): "everything below node N" is `path LIKE N.path || '%'`, one indexed range scan.
-- Written by server/places.py (the admin's tree and its import).
CREATE TABLE places (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES places(id),
    kind TEXT NOT NULL CHECK (kind IN ('district', 'town', 'community', 'grid')),
    name TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    UNIQUE (parent_id, name)
);

CREATE INDEX places_parent ON places(parent_id);

-- A community's checkpoints (卡口), where cadres stand watch. Written by server/places.py.
CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    name TEXT NOT NULL,
    UNIQUE (community_id, name)
);

-- The cadres' work units (工作单位), made on first use by server/places.py: home_unit_id;
-- also the departments that solve enterprises' problems (category_departments).
CREATE TABLE home_units (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Accounts. An `enterprise` account belongs to exactly one enterprise (the table CHECK).
-- Rebuilt by v5 to add that role (a CHECK cannot be altered). Written by server/auth.py.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL
        CHECK (role IN ('cadre', 'leader', 'committee', 'admin', 'enterprise')),
    place_id INTEGER REFERENCES places(id),
    home_unit_id INTEGER REFERENCES home_units(id),
    specialty TEXT NOT NULL DEFAULT '',
    party_member INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    enterprise_id INTEGER REFERENCES enterprises(id),
    CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))
);

CREATE INDEX users_place ON users(place_id);
CREATE INDEX users_enterprise ON users(enterprise_id);

-- Failed logins and manual-code guesses, for throttling by account and by address.
-- Written by server/auth.py.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at REAL NOT NULL
);

CREATE INDEX login_failures_key_at ON login_failures(key, at);

-- A login the server can end (v10): `id` is the SHA-256 of the random token in the signed
-- cookie; a cookie whose row is gone is logged out. `seen_at` is touched at most hourly and
-- a row unseen for PERMANENT_SESSION_LIFETIME is dropped. Written by server/auth.py.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX sessions_user ON sessions(user_id);

-- A work team (工作队) in a community; party_branch: a temporary party branch.
-- Written by server/cadres.py.
CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    name TEXT NOT NULL,
    leader_id INTEGER REFERENCES users(id),
    party_branch INTEGER NOT NULL DEFAULT 0,
    UNIQUE (community_id, name)
);

-- A cadre's secondment to a community, from starts_on to ends_on. A stationed cadre
-- (驻企特派员) names the enterprise; need_id: the need the assignment answers.
-- Written by server/cadres.py and server/needs.py.
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    team_id INTEGER REFERENCES teams(id),
    role_in_team TEXT NOT NULL DEFAULT 'member',
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    created_at TEXT NOT NULL,
    enterprise_id INTEGER REFERENCES enterprises(id),  -- v5
    need_id INTEGER REFERENCES needs(id)  -- v5
);

CREATE INDEX assignments_user ON assignments(user_id, starts_on);
CREATE INDEX assignments_community ON assignments(community_id, starts_on);
CREATE INDEX assignments_enterprise ON assignments(enterprise_id);
CREATE INDEX assignments_need ON assignments(need_id);

-- Which cadres work which grid: a cadre sees and visits the households of their grids.
-- Written by server/screening.py.
CREATE TABLE grid_assignments (
    grid_id INTEGER NOT NULL REFERENCES places(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (grid_id, user_id)
);

CREATE INDEX grid_assignments_user ON grid_assignments(user_id);


-- ==============================================================================================
-- Check-ins (v1, v3): posters, check-ins on arrival and at checkpoints, check-outs
-- ==============================================================================================

-- A poster is a random id signed into the URL of its QR code; re-issuing sets revoked_at on
-- the old one. Only live posters need unique manual codes. Written by server/posters.py.
CREATE TABLE posters (
    id TEXT PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    manual_code TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE INDEX posters_place ON posters(community_id, checkpoint_id);
CREATE UNIQUE INDEX posters_live_code ON posters(manual_code) WHERE revoked_at IS NULL;

-- Captured on the phone (id: its UUID). checkpoint_id set: a watch at a checkpoint, ended
-- by its check-out. outside_assignment: checked in where the cadre is not assigned (flagged);
-- old_poster (v11): a scan of a poster re-issued since (flagged).
-- Written by server/checkins.py (live route, group commit, sync). Counted by the
-- daily_checkin_counts_* triggers and by server/summaries.py: count_watch (watch_coverage).
CREATE TABLE checkins (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    poster_id TEXT NOT NULL REFERENCES posters(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    local_day TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    lat REAL,
    lng REAL,
    accuracy REAL,
    outside_assignment INTEGER NOT NULL DEFAULT 0,
    clock_flag INTEGER NOT NULL DEFAULT 0,
    payload_hash TEXT NOT NULL,
    -- v11: a poster re-issued since, accepted because the phone dates the scan before the
    -- re-issue (docs/configuration.md: POSTER_OFFLINE_GRACE_HOURS); flagged for the committee
    old_poster INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX checkins_user_time ON checkins(user_id, recorded_utc);

-- v6: a community's check-ins of a day from the index alone (the triggers' recount reads it).
CREATE INDEX checkins_community_day ON checkins(community_id, local_day, user_id,
    checkpoint_id, outside_assignment);

-- v6: the watches of a checkpoint with their ids, joined to their check-outs.
CREATE INDEX checkins_checkpoint_time ON checkins(checkpoint_id, recorded_utc, id);

-- The end of a watch, captured on the phone. Written by server/checkins.py.
CREATE TABLE checkouts (
    id TEXT PRIMARY KEY,
    checkin_id TEXT NOT NULL UNIQUE REFERENCES checkins(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

-- v3: a repeat scan within the window is not a second check-in; its id is kept as an alias
-- of the first, so a check-out captured against it closes the real one and a resend stays a
-- duplicate. Written by server/checkins.py.
CREATE TABLE checkin_aliases (
    id TEXT PRIMARY KEY,
    checkin_id TEXT NOT NULL REFERENCES checkins(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    payload_hash TEXT NOT NULL,
    received_at TEXT NOT NULL
);


-- ==============================================================================================
-- Door-to-door screening (v2): households, residents, rounds, visits
-- ==============================================================================================

-- Households, a registry several people edit: TEXT ids (UUIDs, so a phone can add one
-- offline) and a version each edit names; deleted_at: removed, kept for the records that name it.
-- Written by server/screening.py; server/retention.py blanks the personal fields once their
-- purpose is met. Counted by the community_household_counts_* and round_screened_counts_household
-- triggers.
CREATE TABLE households (
    id TEXT PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    grid_id INTEGER NOT NULL REFERENCES places(id),
    building TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL DEFAULT '',
    door TEXT NOT NULL,
    head_name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    residents_count INTEGER,
    is_rental INTEGER NOT NULL DEFAULT 0,
    landlord TEXT NOT NULL DEFAULT '',
    landlord_phone TEXT NOT NULL DEFAULT '',
    tenants TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    deleted_at TEXT
);

CREATE INDEX households_grid ON households(grid_id, building, unit, door);
CREATE UNIQUE INDEX households_address ON households(community_id, building, unit, door)
    WHERE deleted_at IS NULL;

-- The people of a household (same registry rules). Written by server/screening.py;
-- blanked by server/retention.py.
CREATE TABLE residents (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households(id),
    name TEXT NOT NULL,
    sex TEXT NOT NULL DEFAULT '' CHECK (sex IN ('', 'male', 'female')),
    birth_date TEXT,
    birth_year INTEGER,
    id_type TEXT NOT NULL DEFAULT '',
    id_number TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    hukou_place TEXT NOT NULL DEFAULT '',
    came_from TEXT NOT NULL DEFAULT '',
    occupation TEXT NOT NULL DEFAULT '',
    return_date TEXT,
    travel_mode TEXT NOT NULL DEFAULT '',
    travel_number TEXT NOT NULL DEFAULT '',
    companions TEXT NOT NULL DEFAULT '',
    vaccine_doses INTEGER,
    elderly_alone INTEGER NOT NULL DEFAULT 0,
    chronic INTEGER NOT NULL DEFAULT 0,
    pregnant INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    deleted_at TEXT
);

CREATE INDEX residents_household ON residents(household_id);
CREATE INDEX residents_id_number ON residents(id_number) WHERE id_number != '';

-- Every edit of a registry (households, residents, isolation cases), applied or refused as
-- stale (conflict); the id is the edit's UUID. Written by server/screening.py and
-- server/isolation.py; its copies of personal fields blanked by server/retention.py.
CREATE TABLE registry_history (
    id TEXT PRIMARY KEY,
    entity TEXT NOT NULL CHECK (entity IN ('household', 'resident', 'isolation_case')),
    entity_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('applied', 'conflict')),
    base_version INTEGER NOT NULL,
    new_version INTEGER,
    fields TEXT NOT NULL,
    source TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id),
    recorded_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

CREATE INDEX registry_history_entity ON registry_history(entity, entity_id, received_at);

-- A screening round of a community (a campaign of door-to-door visits, from starts_on to
-- ends_on). Written by server/screening.py.
CREATE TABLE screening_rounds (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    name TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    UNIQUE (community_id, name)
);

CREATE INDEX screening_rounds_community ON screening_rounds(community_id, starts_on);

-- A door visit, captured on the phone, append-only: a correction is a new row pointing at
-- the one it corrects (corrects_id). outcome: server/rules.py: SCREENING_OUTCOMES.
-- Written by server/screening.py: store_screening_visit, which counts it into
-- daily_screening_counts in the same transaction (server/summaries.py: count_screening_visit).
-- Counted into round_screened_counts by the round_screened_counts_visit trigger.
CREATE TABLE screening_visits (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households(id),
    round_id INTEGER REFERENCES screening_rounds(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    local_day TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    -- server/rules.py: SCREENING_OUTCOMES
    outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'nobody_home', 'refused')),
    result TEXT CHECK (result IN ('normal', 'home_isolation', 'central_isolation', 'hospital')),
    notes TEXT NOT NULL DEFAULT '',
    corrects_id TEXT REFERENCES screening_visits(id),
    payload_hash TEXT NOT NULL
);

CREATE INDEX screening_visits_household ON screening_visits(household_id, recorded_utc);
CREATE INDEX screening_visits_round ON screening_visits(round_id, household_id, outcome);
CREATE INDEX screening_visits_community_day ON screening_visits(community_id, local_day);

-- v6: "is this visit corrected?" was a full scan of the visits per visit.
CREATE INDEX screening_visits_corrects ON screening_visits(corrects_id)
    WHERE corrects_id IS NOT NULL;

-- Each resident seen (or not: present = 0) at a visit. temperature in °C: its range
-- (server/rules.py: TEMPERATURE_RANGE) is checked by schemas/screening_visit.json, not by a CHECK
-- here; a temperature >= server/rules.py: FEVER or any symptom counts as "fever or symptoms"
-- (server/summaries.py). Written with its visit by server/screening.py.
CREATE TABLE screening_visit_residents (
    visit_id TEXT NOT NULL REFERENCES screening_visits(id),
    resident_id TEXT NOT NULL REFERENCES residents(id),
    present INTEGER NOT NULL DEFAULT 1,
    temperature REAL,
    symptoms TEXT NOT NULL DEFAULT '[]',
    risk_travel_14d INTEGER NOT NULL DEFAULT 0,
    contact INTEGER NOT NULL DEFAULT 0,
    health_code TEXT CHECK (health_code IN ('green', 'yellow', 'red')),
    nat_date TEXT,
    nat_result TEXT CHECK (nat_result IN ('negative', 'positive', 'pending')),
    PRIMARY KEY (visit_id, resident_id)
);

CREATE INDEX screening_visit_residents_resident ON screening_visit_residents(resident_id);


-- ==============================================================================================
-- Home isolation (v2, v8): policies, cases, visits, deliveries
-- ==============================================================================================

-- Isolation policies: the national plan's editions as presets (place_id NULL: everywhere,
-- inserted by v2), and local ones; `rules` is JSON {"slots": [...], "phases": [{"kind", "days",
-- "test_days"}]}. Written by server/isolation.py.
CREATE TABLE isolation_policies (
    id INTEGER PRIMARY KEY,
    place_id INTEGER REFERENCES places(id),
    name TEXT NOT NULL,
    edition TEXT NOT NULL DEFAULT '',
    rules TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id)
);

CREATE INDEX isolation_policies_place ON isolation_policies(place_id);

-- A home isolation or monitoring case of a resident; it keeps the policy it started under
-- (policy_snapshot) when the policy is edited. A registry (version). Written by
-- server/isolation.py. Its changes recount daily_isolation_counts (trigger
-- daily_isolation_counts_case_update).
CREATE TABLE isolation_cases (
    id TEXT PRIMARY KEY,
    resident_id TEXT NOT NULL REFERENCES residents(id),
    household_id TEXT NOT NULL REFERENCES households(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    reason TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('home_isolation', 'home_monitoring')),
    starts_on TEXT NOT NULL,
    planned_end TEXT NOT NULL,
    policy_id INTEGER REFERENCES isolation_policies(id),
    policy_snapshot TEXT NOT NULL,
    source_visit_id TEXT REFERENCES screening_visits(id),
    -- server/rules.py: CASE_STATUSES
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
    attention INTEGER NOT NULL DEFAULT 0,
    attention_reason TEXT NOT NULL DEFAULT '',
    -- server/rules.py: CASE_END_OUTCOMES
    end_outcome TEXT CHECK (end_outcome IN ('released', 'transferred', 'other')),
    end_reason TEXT NOT NULL DEFAULT '',
    ended_on TEXT,
    last_test_result TEXT,
    transferred_to TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    created_by INTEGER NOT NULL REFERENCES users(id),
    recorded_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

CREATE INDEX isolation_cases_community ON isolation_cases(community_id, status);
CREATE INDEX isolation_cases_resident ON isolation_cases(resident_id);
CREATE INDEX isolation_cases_household ON isolation_cases(household_id);

-- The cadres in charge of a case. Written by server/isolation.py.
CREATE TABLE isolation_case_cadres (
    case_id TEXT NOT NULL REFERENCES isolation_cases(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (case_id, user_id)
);

CREATE INDEX isolation_case_cadres_user ON isolation_case_cadres(user_id);

-- A visit of a case for a planned day (due_day) and slot, captured on the phone;
-- a temperature >= server/rules.py: FEVER or a symptom marks the case for attention
-- (server/isolation.py, in Python). Written by server/isolation.py. Counted by the
-- daily_isolation_counts_visit_* triggers.
CREATE TABLE isolation_visits (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES isolation_cases(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    due_day TEXT NOT NULL,
    slot TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    local_day TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    temperature REAL,
    symptoms TEXT NOT NULL DEFAULT '[]',
    sample_taken INTEGER NOT NULL DEFAULT 0,
    sample_result TEXT CHECK (sample_result IN ('negative', 'positive', 'pending')),
    mental_state TEXT NOT NULL DEFAULT '',
    needs TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    corrects_id TEXT REFERENCES isolation_visits(id),
    payload_hash TEXT NOT NULL
);

CREATE INDEX isolation_visits_case ON isolation_visits(case_id, due_day, slot);

-- A delivery task (送医送药); each step (raise, take, deliver) is a delivery_events row with
-- its own UUID. status: server/rules.py: DELIVERY_STATUSES. raised_day / delivered_day (v8): the
-- local days of raised_at / delivered_at, set by server/summaries.py: date_delivery (they need
-- the deployment's time zone). Written by server/deliveries.py. Counted by the
-- daily_delivery_counts_* triggers.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    case_id TEXT REFERENCES isolation_cases(id),
    source_visit_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('medicine', 'food', 'other')),
    what TEXT NOT NULL,
    for_whom TEXT NOT NULL DEFAULT '',
    due_by TEXT,
    -- server/rules.py: DELIVERY_STATUSES
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'delivered')),
    raised_by INTEGER NOT NULL REFERENCES users(id),
    raised_at TEXT NOT NULL,
    taken_by INTEGER REFERENCES users(id),
    taken_at TEXT,
    delivered_by INTEGER REFERENCES users(id),
    delivered_at TEXT,
    raised_day TEXT,  -- v8, server/summaries.py: date_delivery
    delivered_day TEXT  -- v8, likewise
);

CREATE INDEX deliveries_community ON deliveries(community_id, status, raised_at);
CREATE INDEX deliveries_household ON deliveries(household_id);

-- v6: deliveries raised / done per community and time (the index above has status between).
CREATE INDEX deliveries_community_raised ON deliveries(community_id, raised_at);
CREATE INDEX deliveries_community_delivered ON deliveries(community_id, delivered_at)
    WHERE delivered_at IS NOT NULL;

-- v8: the same by local day, read by the daily_delivery_counts_* triggers' recount.
CREATE INDEX deliveries_community_raised_day ON deliveries(community_id, raised_day);
CREATE INDEX deliveries_community_delivered_day ON deliveries(community_id, delivered_day)
    WHERE delivered_day IS NOT NULL;

-- The steps of a delivery, captured on the phone. Written by server/deliveries.py.
CREATE TABLE delivery_events (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES deliveries(id),
    action TEXT NOT NULL CHECK (action IN ('raise', 'take', 'deliver')),
    user_id INTEGER NOT NULL REFERENCES users(id),
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    note TEXT NOT NULL DEFAULT '',
    payload_hash TEXT NOT NULL
);

CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id);


-- ==============================================================================================
-- Notices and web push (v4)
-- ==============================================================================================

-- A browser's push subscription, per user and device; re-registering an endpoint updates
-- its row. Written by server/push.py.
CREATE TABLE push_subscriptions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    device_id TEXT NOT NULL,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, device_id);

-- A notice; sender_id NULL: sent by the system (automatic notices, one per dedupe_key).
-- place_id: the node it concerns, for who may see its delivery report. Written by
-- server/notices.py.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    sender_id INTEGER REFERENCES users(id),
    place_id INTEGER REFERENCES places(id),
    kind TEXT NOT NULL DEFAULT 'manual',
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    urgency TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'high')),
    link TEXT,
    target TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    dedupe_key TEXT UNIQUE
);

CREATE INDEX notices_place ON notices(place_id, created_at);
CREATE INDEX notices_sender ON notices(sender_id, created_at);

-- Who a notice went to, resolved when it is sent, and how far it got (queued / sent by push
-- or by the inbox / failed / gone). Written by server/notices.py and server/push.py.
CREATE TABLE notice_recipients (
    notice_id TEXT NOT NULL REFERENCES notices(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sent', 'failed', 'gone')),
    pushed_at TEXT,
    fetched_at TEXT,
    read_at TEXT,
    read_device_id TEXT,
    PRIMARY KEY (notice_id, user_id)
);

CREATE INDEX notice_recipients_user ON notice_recipients(user_id, read_at);

-- The push queue: one row per (notice, subscription), drained by the push worker
-- (server/push.py); enqueued by server/notices.py.
CREATE TABLE push_deliveries (
    id INTEGER PRIMARY KEY,
    notice_id TEXT NOT NULL REFERENCES notices(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    subscription_id INTEGER REFERENCES push_subscriptions(id) ON DELETE SET NULL,
    endpoint TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'gone')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX push_deliveries_due ON push_deliveries(state, next_attempt_at);
CREATE INDEX push_deliveries_notice ON push_deliveries(notice_id, user_id);
CREATE INDEX push_deliveries_subscription ON push_deliveries(subscription_id);

-- Every push attempt, with the push service's answer. Written by server/push.py.
CREATE TABLE push_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES push_deliveries(id),
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT NOT NULL DEFAULT '',
    retry_after REAL,
    duration_ms REAL
);

CREATE INDEX push_attempts_delivery ON push_attempts(delivery_id);


-- ==============================================================================================
-- Mobilisation (v5, v7): enterprises, dual registration, needs, tickets, inspections
-- ==============================================================================================

-- An enterprise sits in a community (its 属地 committee), so its needs, tickets and stationed
-- cadres roll up through the tree. Written by server/enterprises.py.
CREATE TABLE enterprises (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    community_id INTEGER NOT NULL REFERENCES places(id),
    industry TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    UNIQUE (community_id, name)
);

-- Problem categories (codes in server/enterprises.py: CATEGORIES) and the home units
-- (departments) that can solve them; the admin edits it. Written by server/enterprises.py.
CREATE TABLE category_departments (
    category TEXT NOT NULL,
    home_unit_id INTEGER NOT NULL REFERENCES home_units(id),
    PRIMARY KEY (category, home_unit_id)
);

-- Dual registration (双报到) of a party member with the community where they live
-- (residence) or that their unit is paired with (paired). Written by server/registrations.py.
CREATE TABLE registrations (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    kind TEXT NOT NULL DEFAULT 'residence' CHECK (kind IN ('residence', 'paired')),
    services TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (user_id, community_id)
);

CREATE INDEX registrations_community ON registrations(community_id);

-- v7: dual registration of a home unit, paired with a community. Written by
-- server/registrations.py.
CREATE TABLE unit_registrations (
    id INTEGER PRIMARY KEY,
    home_unit_id INTEGER NOT NULL REFERENCES home_units(id),
    community_id INTEGER NOT NULL REFERENCES places(id),
    contact_name TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    members INTEGER NOT NULL DEFAULT 0,
    services TEXT NOT NULL DEFAULT '',
    registered_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    UNIQUE (home_unit_id, community_id)
);

CREATE INDEX unit_registrations_community ON unit_registrations(community_id);

-- A need for people (a community's) or for help (an enterprise's); place_id: the community.
-- Written by server/needs.py.
CREATE TABLE needs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('people', 'help')),
    place_id INTEGER NOT NULL REFERENCES places(id),
    enterprise_id INTEGER REFERENCES enterprises(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    task TEXT,
    category TEXT,
    department TEXT NOT NULL DEFAULT '',
    department_id INTEGER REFERENCES home_units(id),
    people INTEGER NOT NULL DEFAULT 1,
    skills TEXT NOT NULL DEFAULT '[]',
    urgency TEXT NOT NULL DEFAULT 'normal' CHECK (urgency IN ('normal', 'high', 'urgent')),
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'closed')),
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX needs_place ON needs(place_id, status, created_at);
CREATE INDEX needs_enterprise ON needs(enterprise_id, created_at);

-- A call-up (动员) by notice; target: {"registered": true} or {"home_unit_ids": [...]}.
-- Written by server/needs.py.
CREATE TABLE call_ups (
    id INTEGER PRIMARY KEY,
    place_id INTEGER NOT NULL REFERENCES places(id),
    need_id INTEGER REFERENCES needs(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    target TEXT NOT NULL DEFAULT '{}',
    notice_id TEXT REFERENCES notices(id),
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);

-- Volunteering (主动请战), captured on the phone. Written by server/needs.py.
CREATE TABLE volunteers (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    call_up_id INTEGER REFERENCES call_ups(id),
    need_id INTEGER REFERENCES needs(id),
    available_from TEXT,
    available_to TEXT,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

CREATE INDEX volunteers_user ON volunteers(user_id, call_up_id, need_id);
CREATE INDEX volunteers_need ON volunteers(need_id);

-- An enterprise's problem, recorded by its stationed cadre (captured on the phone).
-- status: server/rules.py: TICKET_STATUSES. Written by server/enterprises.py.
CREATE TABLE problem_tickets (
    id TEXT PRIMARY KEY,
    enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
    need_id INTEGER REFERENCES needs(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    departments TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'open'
        -- server/rules.py: TICKET_STATUSES
        CHECK (status IN ('open', 'coordinating', 'solved', 'cannot_solve')),
    status_at TEXT NOT NULL,
    raised_on TEXT NOT NULL,
    solved_on TEXT,
    confirmed_at TEXT,
    confirmed_on TEXT,
    confirmed_by INTEGER REFERENCES users(id),
    confirm_note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

CREATE INDEX problem_tickets_enterprise ON problem_tickets(enterprise_id, raised_on);
CREATE INDEX problem_tickets_user ON problem_tickets(user_id, raised_on);

-- Each step of a ticket (a status, departments coordinated, a note), append-only.
-- Written by server/enterprises.py.
CREATE TABLE ticket_updates (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES problem_tickets(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    -- server/rules.py: TICKET_STATUSES
    status TEXT CHECK (status IN ('open', 'coordinating', 'solved', 'cannot_solve')),
    departments TEXT NOT NULL DEFAULT '[]',
    note TEXT NOT NULL DEFAULT '',
    applied INTEGER NOT NULL DEFAULT 1,
    recorded_at TEXT NOT NULL,
    recorded_utc TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id TEXT,
    payload_hash TEXT NOT NULL
);

CREATE INDEX ticket_updates_ticket ON ticket_updates(ticket_id, recorded_utc);

-- Unannounced field inspections (四不两直) and the cadres seen there. Written by
-- server/inspections.py.
CREATE TABLE inspections (
    id INTEGER PRIMARY KEY,
    community_id INTEGER NOT NULL REFERENCES places(id),
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    enterprise_id INTEGER REFERENCES enterprises(id),
    inspected_at TEXT NOT NULL,
    local_day TEXT NOT NULL,
    findings TEXT NOT NULL DEFAULT '',
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);

CREATE INDEX inspections_community ON inspections(community_id, local_day);

CREATE TABLE inspection_cadres (
    inspection_id INTEGER NOT NULL REFERENCES inspections(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    on_duty INTEGER NOT NULL DEFAULT 1,
    conduct TEXT NOT NULL DEFAULT 'good' CHECK (conduct IN ('good', 'fair', 'poor')),
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (inspection_id, user_id)
);

CREATE INDEX inspection_cadres_user ON inspection_cadres(user_id);


-- ==============================================================================================
-- Deployment: settings and the audit log (v1, v5)
-- ==============================================================================================

-- Deployment settings: `mode` (server/settings.py: MODES) and `summary_zone`, the time zone
-- watch_coverage and the delivery days were made in (server/summaries.py: ensure_zone).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id)
);

-- Who did what, append-only through any connection of ours (the two triggers).
-- Written by server/audit.py.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_id INTEGER,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_at ON audit_log(at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;


-- ==============================================================================================
-- Tally summaries (v6, v8, v9): numbers per community and day, kept by the writes
-- ==============================================================================================

-- The numbers the tallies would otherwise count from millions of records on each view
-- (server/summaries.py, its docstring; read by server/tallies/). Each is kept current in the
-- transaction of the write that changes it, by the triggers below or by server/summaries.py,
-- and each has a count from the records in Python that says what it must hold (tests/
-- test_tally_summary.py and bench/tally.py compare the two). Below, summaries. is
-- server/summaries.py, tallies/engine. and tallies/progress. are modules of server/tallies/:
--   summary table               kept by                           counted again by
--   daily_screening_counts      summaries.count_screening_visit   summaries.recount_screening
--   daily_checkin_counts        triggers daily_checkin_counts_*   summaries.recount_checkins
--   daily_isolation_counts      triggers daily_isolation_counts_* summaries.recount_isolation_done
--   community_household_counts  triggers community_household_*    summaries.recount_households
--   watch_coverage              summaries.count_watch             tallies/engine.recount_watch_and_deliveries
--   daily_delivery_counts       triggers daily_delivery_counts_*  tallies/engine.recount_watch_and_deliveries
--   round_screened_counts       triggers round_screened_counts_*  tallies/progress.round_progress
-- Migrations v6 and v9 filled theirs from the records already stored (V6_BACKFILL, V9_BACKFILL);
-- v8's need the time zone and are made at start by server/summaries.py: ensure_zone.

-- Screening numbers per community and local day: distinct households per outcome
-- (server/rules.py: SCREENING_OUTCOMES) and residents present / with a temperature >=
-- server/rules.py: FEVER (37.3) or any symptom. A correction replaces the visit it corrects.
-- No trigger: written only by server/summaries.py: count_screening_visit (in
-- screening.store_screening_visit's transaction), whose SQL holds the fever rule
-- (rules.FEVER, 37.3); v6's backfill compared with 37.3 once.
CREATE TABLE daily_screening_counts (
    community_id INTEGER NOT NULL REFERENCES places(id),
    local_day TEXT NOT NULL,
    households_answered INTEGER NOT NULL DEFAULT 0,
    households_nobody_home INTEGER NOT NULL DEFAULT 0,
    households_refused INTEGER NOT NULL DEFAULT 0,
    residents_screened INTEGER NOT NULL DEFAULT 0,
    residents_fever_or_symptoms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (community_id, local_day)
) WITHOUT ROWID;

-- Check-in numbers per community and local day: cadres reported (distinct users who
-- checked in), cadres on watch (distinct users with a checkpoint check-in), check-ins flagged
-- (outside their assignment). Kept by the daily_checkin_counts_* triggers below.
CREATE TABLE daily_checkin_counts (
    community_id INTEGER NOT NULL REFERENCES places(id),
    local_day TEXT NOT NULL,
    cadres_reported INTEGER NOT NULL DEFAULT 0,
    cadres_on_watch INTEGER NOT NULL DEFAULT 0,
    checkins_flagged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (community_id, local_day)
) WITHOUT ROWID;

-- Planned isolation visits done per community and local day. Kept by the
-- daily_isolation_counts_* triggers below.
CREATE TABLE daily_isolation_counts (
    community_id INTEGER NOT NULL REFERENCES places(id),
    local_day TEXT NOT NULL,
    visits_done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (community_id, local_day)
) WITHOUT ROWID;

-- Households not deleted, per community. Kept by the community_household_counts_* triggers.
CREATE TABLE community_household_counts (
    community_id INTEGER PRIMARY KEY REFERENCES places(id),
    households INTEGER NOT NULL DEFAULT 0
);

-- v8: per checkpoint and local day, the merged stretches of watch (overlaps once) clipped to
-- the day, as JSON [[begin, end], ...] in UTC epoch seconds, and their length in seconds.
-- No trigger (it needs the time zone): written by server/summaries.py: count_watch after a
-- watch check-in or its check-out, rebuilt by ensure_zone / rebuild_zone_summaries.
CREATE TABLE watch_coverage (
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id),
    local_day TEXT NOT NULL,
    community_id INTEGER NOT NULL REFERENCES places(id),
    seconds REAL NOT NULL,
    stretches TEXT NOT NULL,
    PRIMARY KEY (checkpoint_id, local_day)
) WITHOUT ROWID;

CREATE INDEX watch_coverage_community ON watch_coverage(community_id, local_day, seconds);

-- v8: deliveries raised / delivered per community and local day (of raised_day /
-- delivered_day). Kept by the daily_delivery_counts_* triggers below.
CREATE TABLE daily_delivery_counts (
    community_id INTEGER NOT NULL REFERENCES places(id),
    local_day TEXT NOT NULL,
    raised INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (community_id, local_day)
) WITHOUT ROWID;

-- v9: households screened in each screening round, for the progress of all of a district's
-- communities at once. Kept by the round_screened_counts_* triggers below; read by
-- server/summaries.py: round_screened.
CREATE TABLE round_screened_counts (
    round_id INTEGER PRIMARY KEY REFERENCES screening_rounds(id),
    households INTEGER NOT NULL DEFAULT 0
);


-- Check-ins: the community's day (of the row before and after the change) is recounted from
-- its check-ins, read from the index checkins_community_day. The rule they mirror:
-- server/summaries.py: recount_checkins (cadres reported = count(DISTINCT user_id); on watch =
-- those with a checkpoint; flagged = outside_assignment = 1). Any writer keeps it.
CREATE TRIGGER daily_checkin_counts_insert AFTER INSERT ON checkins
BEGIN
    INSERT OR REPLACE INTO daily_checkin_counts (community_id, local_day,
        cadres_reported, cadres_on_watch, checkins_flagged)
    SELECT NEW.community_id, NEW.local_day, count(DISTINCT user_id),
        count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
        coalesce(sum(outside_assignment = 1), 0)
    FROM checkins WHERE community_id = NEW.community_id AND local_day = NEW.local_day;
END;

CREATE TRIGGER daily_checkin_counts_update AFTER UPDATE OF community_id, local_day,
    user_id, checkpoint_id, outside_assignment ON checkins
BEGIN
    INSERT OR REPLACE INTO daily_checkin_counts (community_id, local_day,
        cadres_reported, cadres_on_watch, checkins_flagged)
    SELECT OLD.community_id, OLD.local_day, count(DISTINCT user_id),
        count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
        coalesce(sum(outside_assignment = 1), 0)
    FROM checkins WHERE community_id = OLD.community_id AND local_day = OLD.local_day;
    INSERT OR REPLACE INTO daily_checkin_counts (community_id, local_day,
        cadres_reported, cadres_on_watch, checkins_flagged)
    SELECT NEW.community_id, NEW.local_day, count(DISTINCT user_id),
        count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
        coalesce(sum(outside_assignment = 1), 0)
    FROM checkins WHERE community_id = NEW.community_id AND local_day = NEW.local_day;
END;

CREATE TRIGGER daily_checkin_counts_delete AFTER DELETE ON checkins
BEGIN
    INSERT OR REPLACE INTO daily_checkin_counts (community_id, local_day,
        cadres_reported, cadres_on_watch, checkins_flagged)
    SELECT OLD.community_id, OLD.local_day, count(DISTINCT user_id),
        count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
        coalesce(sum(outside_assignment = 1), 0)
    FROM checkins WHERE community_id = OLD.community_id AND local_day = OLD.local_day;
END;


-- Isolation visits done: each (community, day) a visit or case touches is recounted. A
-- planned visit is done when a visit names its day and slot; planned are the days from the
-- start to the end (ended_on, else planned_end) and no later than the policy's last day, and the
-- policy's slots. The rule they mirror: server/schedule.py: schedule (status "done"), recounted
-- by server/summaries.py: recount_isolation_done.
CREATE TRIGGER daily_isolation_counts_visit_insert AFTER INSERT ON isolation_visits
BEGIN
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT community_id, NEW.due_day AS day FROM isolation_cases WHERE id = NEW.case_id) k;
END;

CREATE TRIGGER daily_isolation_counts_visit_update AFTER UPDATE OF case_id, due_day, slot
    ON isolation_visits
BEGIN
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT community_id, OLD.due_day AS day FROM isolation_cases WHERE id = OLD.case_id) k;
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT community_id, NEW.due_day AS day FROM isolation_cases WHERE id = NEW.case_id) k;
END;

CREATE TRIGGER daily_isolation_counts_visit_delete AFTER DELETE ON isolation_visits
BEGIN
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT community_id, OLD.due_day AS day FROM isolation_cases WHERE id = OLD.case_id) k;
END;

-- a case ended early, moved or re-planned: the days of its visits are counted again
CREATE TRIGGER daily_isolation_counts_case_update AFTER UPDATE OF community_id,
    starts_on, ended_on, planned_end, policy_snapshot ON isolation_cases
BEGIN
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT DISTINCT OLD.community_id AS community_id, due_day AS day
        FROM isolation_visits WHERE case_id = OLD.id) k;
    INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
        visits_done)
    SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
        FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
            AND v.due_day = k.day
        WHERE c.community_id = k.community_id
            AND c.starts_on <= k.day AND k.day <= coalesce(c.ended_on, c.planned_end)
            AND k.day <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
                FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
            AND v.slot IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))))
    FROM (SELECT DISTINCT NEW.community_id AS community_id, due_day AS day
        FROM isolation_visits WHERE case_id = NEW.id) k;
END;


-- Households per community: +1 / -1 as a household not deleted arrives or leaves (added,
-- deleted, restored, moved), not a recount. The rule they mirror: server/summaries.py:
-- recount_households (count(*) WHERE deleted_at IS NULL).
CREATE TRIGGER community_household_counts_insert AFTER INSERT ON households
    WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO community_household_counts (community_id, households)
    VALUES (NEW.community_id, 1)
    ON CONFLICT (community_id) DO UPDATE SET households = households + 1;
END;

CREATE TRIGGER community_household_counts_delete AFTER DELETE ON households
    WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO community_household_counts (community_id, households)
    VALUES (OLD.community_id, -1)
    ON CONFLICT (community_id) DO UPDATE SET households = households + -1;
END;

CREATE TRIGGER community_household_counts_leave AFTER UPDATE OF community_id, deleted_at
    ON households WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO community_household_counts (community_id, households)
    VALUES (OLD.community_id, -1)
    ON CONFLICT (community_id) DO UPDATE SET households = households + -1;
END;

CREATE TRIGGER community_household_counts_enter AFTER UPDATE OF community_id, deleted_at
    ON households WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO community_household_counts (community_id, households)
    VALUES (NEW.community_id, 1)
    ON CONFLICT (community_id) DO UPDATE SET households = households + 1;
END;


-- Deliveries per community and local day: the days of the row (before and after) are
-- recounted from the indexes on raised_day / delivered_day, which server/summaries.py:
-- date_delivery sets. The rule they mirror: server/tallies/engine.py: recount_watch_and_deliveries
-- (raised on the day of raised_at, delivered on the day of delivered_at, whatever the status).
CREATE TRIGGER daily_delivery_counts_insert AFTER INSERT ON deliveries
BEGIN
    INSERT OR REPLACE INTO daily_delivery_counts (community_id, local_day,
        raised, delivered)
    SELECT NEW.community_id, k.day,
        (SELECT count(*) FROM deliveries WHERE community_id = NEW.community_id
            AND raised_day = k.day),
        (SELECT count(*) FROM deliveries WHERE community_id = NEW.community_id
            AND delivered_day = k.day)
    FROM (SELECT NEW.raised_day AS day UNION SELECT NEW.delivered_day) k
    WHERE k.day IS NOT NULL;
END;

CREATE TRIGGER daily_delivery_counts_update AFTER UPDATE OF community_id, raised_day,
    delivered_day ON deliveries
BEGIN
    INSERT OR REPLACE INTO daily_delivery_counts (community_id, local_day,
        raised, delivered)
    SELECT OLD.community_id, k.day,
        (SELECT count(*) FROM deliveries WHERE community_id = OLD.community_id
            AND raised_day = k.day),
        (SELECT count(*) FROM deliveries WHERE community_id = OLD.community_id
            AND delivered_day = k.day)
    FROM (SELECT OLD.raised_day AS day UNION SELECT OLD.delivered_day) k
    WHERE k.day IS NOT NULL;
    INSERT OR REPLACE INTO daily_delivery_counts (community_id, local_day,
        raised, delivered)
    SELECT NEW.community_id, k.day,
        (SELECT count(*) FROM deliveries WHERE community_id = NEW.community_id
            AND raised_day = k.day),
        (SELECT count(*) FROM deliveries WHERE community_id = NEW.community_id
            AND delivered_day = k.day)
    FROM (SELECT NEW.raised_day AS day UNION SELECT NEW.delivered_day) k
    WHERE k.day IS NOT NULL;
END;

CREATE TRIGGER daily_delivery_counts_delete AFTER DELETE ON deliveries
BEGIN
    INSERT OR REPLACE INTO daily_delivery_counts (community_id, local_day,
        raised, delivered)
    SELECT OLD.community_id, k.day,
        (SELECT count(*) FROM deliveries WHERE community_id = OLD.community_id
            AND raised_day = k.day),
        (SELECT count(*) FROM deliveries WHERE community_id = OLD.community_id
            AND delivered_day = k.day)
    FROM (SELECT OLD.raised_day AS day UNION SELECT OLD.delivered_day) k
    WHERE k.day IS NOT NULL;
END;


-- Round progress: a household is screened in a round when it has an answered visit of the
-- round ('answered': server/rules.py: SCREENING_OUTCOMES), is not deleted and is in the round's
-- community. The rule they mirror: server/tallies/progress.py: round_progress. +1 on a household's first
-- answered visit of the round; a household deleted, restored or moved leaves (or joins) each
-- round it was screened in. Visits are append-only, so no trigger on their update or delete.
CREATE TRIGGER round_screened_counts_visit AFTER INSERT ON screening_visits
    WHEN NEW.outcome = 'answered' AND NEW.round_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM screening_visits v WHERE v.round_id = NEW.round_id
                    AND v.household_id = NEW.household_id AND v.outcome = 'answered'
                    AND v.id != NEW.id)
    AND EXISTS (SELECT 1 FROM households h JOIN screening_rounds r ON r.id = NEW.round_id
                WHERE h.id = NEW.household_id AND h.deleted_at IS NULL
                AND h.community_id = r.community_id)
BEGIN
    INSERT INTO round_screened_counts (round_id, households) VALUES (NEW.round_id, 1)
    ON CONFLICT (round_id) DO UPDATE SET households = households + 1;
END;

CREATE TRIGGER round_screened_counts_household AFTER UPDATE OF deleted_at, community_id
    ON households
BEGIN
    UPDATE round_screened_counts
    SET households = households
        + (NEW.deleted_at IS NULL AND NEW.community_id = (SELECT r.community_id
            FROM screening_rounds r WHERE r.id = round_screened_counts.round_id))
        - (OLD.deleted_at IS NULL AND OLD.community_id = (SELECT r.community_id
            FROM screening_rounds r WHERE r.id = round_screened_counts.round_id))
    WHERE round_id IN (SELECT v.round_id FROM screening_visits v
                       WHERE v.household_id = NEW.id AND v.outcome = 'answered');
END;
