"""Schema migrations, numbered by PRAGMA user_version and applied in order at start.

Each migration runs in its own transaction together with the version bump, so a failed
migration leaves the file at the previous version. Never edit a released migration: add one.
"""

from __future__ import annotations

import json

import sqlite_utils


def _v1_foundation(db: sqlite_utils.Database) -> None:
    for sql in V1_SQL:
        db.conn.execute(sql)


V1_SQL = [
    # The jurisdiction tree. `path` is '/1/4/9/' (ids from the root): "everything below node N"
    # is `path LIKE N.path || '%'`, one indexed range scan.
    """CREATE TABLE places (
        id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES places(id),
        kind TEXT NOT NULL CHECK (kind IN ('district', 'town', 'community', 'grid')),
        name TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        UNIQUE (parent_id, name)
    )""",
    "CREATE INDEX places_parent ON places(parent_id)",
    """CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        name TEXT NOT NULL,
        UNIQUE (community_id, name)
    )""",
    """CREATE TABLE home_units (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('cadre', 'leader', 'committee', 'admin')),
        place_id INTEGER REFERENCES places(id),
        home_unit_id INTEGER REFERENCES home_units(id),
        specialty TEXT NOT NULL DEFAULT '',
        party_member INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX users_place ON users(place_id)",
    # Failed logins (and manual-code guesses), for throttling by account and by address.
    """CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        at REAL NOT NULL
    )""",
    "CREATE INDEX login_failures_key_at ON login_failures(key, at)",
    """CREATE TABLE teams (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        name TEXT NOT NULL,
        leader_id INTEGER REFERENCES users(id),
        party_branch INTEGER NOT NULL DEFAULT 0,
        UNIQUE (community_id, name)
    )""",
    """CREATE TABLE assignments (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        community_id INTEGER NOT NULL REFERENCES places(id),
        team_id INTEGER REFERENCES teams(id),
        role_in_team TEXT NOT NULL DEFAULT 'member',
        starts_on TEXT NOT NULL,
        ends_on TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX assignments_user ON assignments(user_id, starts_on)",
    "CREATE INDEX assignments_community ON assignments(community_id, starts_on)",
    # A poster is a random id signed into the URL; re-issuing sets revoked_at on the old one.
    """CREATE TABLE posters (
        id TEXT PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        manual_code TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    "CREATE INDEX posters_place ON posters(community_id, checkpoint_id)",
    # Only live posters need unique manual codes; revoked ones keep theirs for the record.
    "CREATE UNIQUE INDEX posters_live_code ON posters(manual_code) WHERE revoked_at IS NULL",
    # Captured events: the id is the phone's UUID, so a retry can never make a second row.
    """CREATE TABLE checkins (
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
        payload_hash TEXT NOT NULL
    )""",
    "CREATE INDEX checkins_user_time ON checkins(user_id, recorded_utc)",
    "CREATE INDEX checkins_community_day ON checkins(community_id, local_day)",
    "CREATE INDEX checkins_checkpoint_time ON checkins(checkpoint_id, recorded_utc)",
    """CREATE TABLE checkouts (
        id TEXT PRIMARY KEY,
        checkin_id TEXT NOT NULL UNIQUE REFERENCES checkins(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        recorded_at TEXT NOT NULL,
        recorded_utc TEXT NOT NULL,
        received_at TEXT NOT NULL,
        device_id TEXT,
        payload_hash TEXT NOT NULL
    )""",
    """CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_id INTEGER,
        action TEXT NOT NULL,
        object TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX audit_log_at ON audit_log(at)",
    # The audit log can be appended to, never edited, through any connection of ours.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]


def _v2_screening(db: sqlite_utils.Database) -> None:
    for sql in V2_SQL:
        db.conn.execute(sql)
    # The national plan's editions as presets (place_id NULL: everywhere); admins correct them.
    for name, edition, rules in ISOLATION_PRESETS:
        db.conn.execute(
            """INSERT INTO isolation_policies (place_id, name, edition, rules, version, updated_at)
               VALUES (NULL, ?, ?, ?, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))""",
            [name, edition, json.dumps(rules, ensure_ascii=False)])


# phases run one after another; day 1 is the start day; test_days count from the phase's day 1.
ISOLATION_PRESETS = [
    ("第八版 密切接触者", "8",
     {"slots": ["morning", "evening"],
      "phases": [{"kind": "home_isolation", "days": 14, "test_days": [1, 4, 7, 14]},
                 {"kind": "home_monitoring", "days": 7, "test_days": []}]}),
    ("第九版 密接的密接 居家隔离", "9",
     {"slots": ["morning", "evening"],
      "phases": [{"kind": "home_isolation", "days": 7, "test_days": [1, 4, 7]}]}),
    ("第九版 集中隔离期满后 居家健康监测", "9",
     {"slots": ["morning", "evening"],
      "phases": [{"kind": "home_monitoring", "days": 3, "test_days": [3]}]}),
]

V2_SQL = [
    # Which cadres work which grid: a cadre sees and visits the households of their grids.
    """CREATE TABLE grid_assignments (
        grid_id INTEGER NOT NULL REFERENCES places(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        PRIMARY KEY (grid_id, user_id)
    )""",
    "CREATE INDEX grid_assignments_user ON grid_assignments(user_id)",
    # Registries several people edit: TEXT ids (UUIDs, so a phone can add one offline) and a
    # version that every edit names (registry_history keeps each edit, stale ones too).
    """CREATE TABLE households (
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
    )""",
    "CREATE INDEX households_grid ON households(grid_id, building, unit, door)",
    """CREATE UNIQUE INDEX households_address ON households(community_id, building, unit, door)
       WHERE deleted_at IS NULL""",
    """CREATE TABLE residents (
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
    )""",
    "CREATE INDEX residents_household ON residents(household_id)",
    "CREATE INDEX residents_id_number ON residents(id_number) WHERE id_number != ''",
    # Every edit of a registry, applied or refused as stale; the id is the edit's UUID.
    """CREATE TABLE registry_history (
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
    )""",
    "CREATE INDEX registry_history_entity ON registry_history(entity, entity_id, received_at)",
    """CREATE TABLE screening_rounds (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        name TEXT NOT NULL,
        starts_on TEXT NOT NULL,
        ends_on TEXT NOT NULL,
        created_by INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        UNIQUE (community_id, name)
    )""",
    "CREATE INDEX screening_rounds_community ON screening_rounds(community_id, starts_on)",
    # Captured events, append-only: a correction is a new row pointing at the one it corrects.
    """CREATE TABLE screening_visits (
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
        outcome TEXT NOT NULL CHECK (outcome IN ('answered', 'nobody_home', 'refused')),
        result TEXT CHECK (result IN ('normal', 'home_isolation', 'central_isolation', 'hospital')),
        notes TEXT NOT NULL DEFAULT '',
        corrects_id TEXT REFERENCES screening_visits(id),
        payload_hash TEXT NOT NULL
    )""",
    "CREATE INDEX screening_visits_household ON screening_visits(household_id, recorded_utc)",
    "CREATE INDEX screening_visits_round ON screening_visits(round_id, household_id, outcome)",
    "CREATE INDEX screening_visits_community_day ON screening_visits(community_id, local_day)",
    """CREATE TABLE screening_visit_residents (
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
    )""",
    "CREATE INDEX screening_visit_residents_resident ON screening_visit_residents(resident_id)",
    """CREATE TABLE isolation_policies (
        id INTEGER PRIMARY KEY,
        place_id INTEGER REFERENCES places(id),
        name TEXT NOT NULL,
        edition TEXT NOT NULL DEFAULT '',
        rules TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL,
        updated_by INTEGER REFERENCES users(id)
    )""",
    "CREATE INDEX isolation_policies_place ON isolation_policies(place_id)",
    # A case keeps the policy it started under (policy_snapshot) when the policy is edited.
    """CREATE TABLE isolation_cases (
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
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
        attention INTEGER NOT NULL DEFAULT 0,
        attention_reason TEXT NOT NULL DEFAULT '',
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
    )""",
    "CREATE INDEX isolation_cases_community ON isolation_cases(community_id, status)",
    "CREATE INDEX isolation_cases_resident ON isolation_cases(resident_id)",
    "CREATE INDEX isolation_cases_household ON isolation_cases(household_id)",
    """CREATE TABLE isolation_case_cadres (
        case_id TEXT NOT NULL REFERENCES isolation_cases(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (case_id, user_id)
    )""",
    "CREATE INDEX isolation_case_cadres_user ON isolation_case_cadres(user_id)",
    """CREATE TABLE isolation_visits (
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
    )""",
    "CREATE INDEX isolation_visits_case ON isolation_visits(case_id, due_day, slot)",
    # A delivery task (送医送药); each step (raise, take, deliver) is an event with its own UUID.
    """CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES households(id),
        community_id INTEGER NOT NULL REFERENCES places(id),
        case_id TEXT REFERENCES isolation_cases(id),
        source_visit_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('medicine', 'food', 'other')),
        what TEXT NOT NULL,
        for_whom TEXT NOT NULL DEFAULT '',
        due_by TEXT,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'delivered')),
        raised_by INTEGER NOT NULL REFERENCES users(id),
        raised_at TEXT NOT NULL,
        taken_by INTEGER REFERENCES users(id),
        taken_at TEXT,
        delivered_by INTEGER REFERENCES users(id),
        delivered_at TEXT
    )""",
    "CREATE INDEX deliveries_community ON deliveries(community_id, status, raised_at)",
    "CREATE INDEX deliveries_household ON deliveries(household_id)",
    """CREATE TABLE delivery_events (
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
    )""",
    "CREATE INDEX delivery_events_delivery ON delivery_events(delivery_id)",
]


def _v3_checkin_aliases(db: sqlite_utils.Database) -> None:
    # A repeat scan (a second check-in at the same place within the window) is not stored as a
    # check-in, but its id is kept as an alias of the first: a check-out the phone captured
    # against the repeat's id then closes the real check-in, and a resend stays a duplicate.
    db.conn.execute("""CREATE TABLE checkin_aliases (
        id TEXT PRIMARY KEY,
        checkin_id TEXT NOT NULL REFERENCES checkins(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        payload_hash TEXT NOT NULL,
        received_at TEXT NOT NULL
    )""")


def _v4_push(db: sqlite_utils.Database) -> None:
    for sql in V4_SQL:
        db.conn.execute(sql)


V4_SQL = [
    # A browser's push subscription, per user and device. The endpoint is the push service's
    # URL for that browser: re-registering it updates the row (keys, owner, device).
    """CREATE TABLE push_subscriptions (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        device_id TEXT NOT NULL,
        endpoint TEXT NOT NULL UNIQUE,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, device_id)",
    # A notice; sender_id NULL: sent by the system (automatic notices, one per dedupe_key).
    # place_id: the node it concerns, for who may see its delivery report.
    """CREATE TABLE notices (
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
    )""",
    "CREATE INDEX notices_place ON notices(place_id, created_at)",
    "CREATE INDEX notices_sender ON notices(sender_id, created_at)",
    # Recipients are resolved when the notice is sent. state: queued (not arrived yet), sent
    # (arrived by push or by the inbox), failed / gone (every push failed / every subscription
    # was dead, and the inbox has not fetched it yet).
    """CREATE TABLE notice_recipients (
        notice_id TEXT NOT NULL REFERENCES notices(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'sent', 'failed', 'gone')),
        pushed_at TEXT,
        fetched_at TEXT,
        read_at TEXT,
        read_device_id TEXT,
        PRIMARY KEY (notice_id, user_id)
    )""",
    "CREATE INDEX notice_recipients_user ON notice_recipients(user_id, read_at)",
    # The delivery queue: one row per (notice, subscription), drained by the push worker.
    """CREATE TABLE push_deliveries (
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
    )""",
    "CREATE INDEX push_deliveries_due ON push_deliveries(state, next_attempt_at)",
    "CREATE INDEX push_deliveries_notice ON push_deliveries(notice_id, user_id)",
    "CREATE INDEX push_deliveries_subscription ON push_deliveries(subscription_id)",
    # Every attempt, with the push service's answer.
    """CREATE TABLE push_attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES push_deliveries(id),
        at TEXT NOT NULL,
        status INTEGER,
        error TEXT NOT NULL DEFAULT '',
        retry_after REAL,
        duration_ms REAL
    )""",
    "CREATE INDEX push_attempts_delivery ON push_attempts(delivery_id)",
]


def _v5_mobilisation(db: sqlite_utils.Database) -> None:
    """Enterprises and the `enterprise` role, the registered pool (双报到), needs, call-ups,
    volunteering, problem tickets, field inspections, the deployment mode."""
    db.conn.execute(V5_ENTERPRISES)
    _v5_rebuild_users(db)
    for sql in V5_SQL:
        db.conn.execute(sql)


# An enterprise sits in a community (its 属地 committee): its needs, tickets and stationed
# cadres then roll up through the tree like everything else, and its contacts are scoped to it.
V5_ENTERPRISES = """CREATE TABLE enterprises (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        community_id INTEGER NOT NULL REFERENCES places(id),
        industry TEXT NOT NULL DEFAULT '',
        address TEXT NOT NULL DEFAULT '',
        created_by INTEGER REFERENCES users(id),
        created_at TEXT NOT NULL,
        UNIQUE (community_id, name)
    )"""

V5_USERS = """CREATE TABLE users (
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
    )"""


def _v5_rebuild_users(db: sqlite_utils.Database) -> None:
    """A CHECK cannot be altered: copy users aside, drop, recreate, copy back, in this
    transaction. Deferred foreign keys let the drop orphan the referencing rows for a moment;
    copying the rows back into the new `users` re-parents them (the deferred counter returns
    to zero), so the commit's check passes, and fails if any row were lost."""
    db.conn.execute("PRAGMA defer_foreign_keys = ON")  # reset by SQLite at commit
    columns = [r[1] for r in db.conn.execute("PRAGMA table_info(users)")]
    names = ", ".join(columns)
    db.conn.execute(f"CREATE TEMP TABLE users_v4 AS SELECT {names} FROM main.users")
    db.conn.execute("DROP TABLE main.users")  # its index users_place goes with it
    db.conn.execute(V5_USERS)
    db.conn.execute(f"INSERT INTO main.users ({names}) SELECT {names} FROM temp.users_v4")
    db.conn.execute("DROP TABLE temp.users_v4")
    db.conn.execute("CREATE INDEX users_place ON users(place_id)")
    db.conn.execute("CREATE INDEX users_enterprise ON users(enterprise_id)")


V5_SQL = [
    # Problem categories (codes in enterprises.CATEGORIES) ↔ the home units (departments)
    # that can solve them; the admin edits it, matching reads it.
    """CREATE TABLE category_departments (
        category TEXT NOT NULL,
        home_unit_id INTEGER NOT NULL REFERENCES home_units(id),
        PRIMARY KEY (category, home_unit_id)
    )""",
    # Dual registration (双报到): a party member registers with the community where they live
    # (residence) or that their unit is paired with (paired): the standing pool.
    """CREATE TABLE registrations (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        community_id INTEGER NOT NULL REFERENCES places(id),
        kind TEXT NOT NULL DEFAULT 'residence' CHECK (kind IN ('residence', 'paired')),
        services TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (user_id, community_id)
    )""",
    "CREATE INDEX registrations_community ON registrations(community_id)",
    # A need for people (a community) or for help (an enterprise). place_id: the community.
    """CREATE TABLE needs (
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
    )""",
    "CREATE INDEX needs_place ON needs(place_id, status, created_at)",
    "CREATE INDEX needs_enterprise ON needs(enterprise_id, created_at)",
    # A stationed cadre (驻企特派员) is an assignment to the enterprise's community that names
    # the enterprise; need_id: the need the assignment answers.
    "ALTER TABLE assignments ADD COLUMN enterprise_id INTEGER REFERENCES enterprises(id)",
    "ALTER TABLE assignments ADD COLUMN need_id INTEGER REFERENCES needs(id)",
    "CREATE INDEX assignments_enterprise ON assignments(enterprise_id)",
    "CREATE INDEX assignments_need ON assignments(need_id)",
    # A call-up (动员) by notice; target: {"registered": true} or {"home_unit_ids": [...]}.
    """CREATE TABLE call_ups (
        id INTEGER PRIMARY KEY,
        place_id INTEGER NOT NULL REFERENCES places(id),
        need_id INTEGER REFERENCES needs(id),
        title TEXT NOT NULL,
        body TEXT NOT NULL DEFAULT '',
        target TEXT NOT NULL DEFAULT '{}',
        notice_id TEXT REFERENCES notices(id),
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL
    )""",
    # Volunteering (主动请战), captured on the phone: the id is its UUID.
    """CREATE TABLE volunteers (
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
    )""",
    "CREATE INDEX volunteers_user ON volunteers(user_id, call_up_id, need_id)",
    "CREATE INDEX volunteers_need ON volunteers(need_id)",
    # An enterprise's problem, recorded by its stationed cadre (captured on the phone).
    """CREATE TABLE problem_tickets (
        id TEXT PRIMARY KEY,
        enterprise_id INTEGER NOT NULL REFERENCES enterprises(id),
        need_id INTEGER REFERENCES needs(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        category TEXT NOT NULL,
        description TEXT NOT NULL,
        departments TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'open'
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
    )""",
    "CREATE INDEX problem_tickets_enterprise ON problem_tickets(enterprise_id, raised_on)",
    "CREATE INDEX problem_tickets_user ON problem_tickets(user_id, raised_on)",
    # Each step of a ticket (status, departments coordinated, a note), append-only.
    """CREATE TABLE ticket_updates (
        id TEXT PRIMARY KEY,
        ticket_id TEXT NOT NULL REFERENCES problem_tickets(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        status TEXT CHECK (status IN ('open', 'coordinating', 'solved', 'cannot_solve')),
        departments TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        applied INTEGER NOT NULL DEFAULT 1,
        recorded_at TEXT NOT NULL,
        recorded_utc TEXT NOT NULL,
        received_at TEXT NOT NULL,
        device_id TEXT,
        payload_hash TEXT NOT NULL
    )""",
    "CREATE INDEX ticket_updates_ticket ON ticket_updates(ticket_id, recorded_utc)",
    # Unannounced field inspections (四不两直) and the cadres seen there.
    """CREATE TABLE inspections (
        id INTEGER PRIMARY KEY,
        community_id INTEGER NOT NULL REFERENCES places(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        enterprise_id INTEGER REFERENCES enterprises(id),
        inspected_at TEXT NOT NULL,
        local_day TEXT NOT NULL,
        findings TEXT NOT NULL DEFAULT '',
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX inspections_community ON inspections(community_id, local_day)",
    """CREATE TABLE inspection_cadres (
        inspection_id INTEGER NOT NULL REFERENCES inspections(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        on_duty INTEGER NOT NULL DEFAULT 1,
        conduct TEXT NOT NULL DEFAULT 'good' CHECK (conduct IN ('good', 'fair', 'poor')),
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (inspection_id, user_id)
    )""",
    "CREATE INDEX inspection_cadres_user ON inspection_cadres(user_id)",
    # Deployment settings, e.g. mode = emergency | routine.
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by INTEGER REFERENCES users(id)
    )""",
]


def _v6_tally_summaries(db: sqlite_utils.Database) -> None:
    for sql in [*V6_SQL, *V6_BACKFILL, *V6_TRIGGERS]:
        db.conn.execute(sql)


# Summary tables for the tallies (docs/capacity.md#tallies-at-real-size): the numbers per
# community and local day that would
# otherwise be counted from millions of records on each view. Kept current in the transaction
# of each write: the screening numbers by server/summaries.py (corrections replace the
# visit they correct; households counted once per outcome and day); the check-in numbers, the
# isolation visits done and the households per community by the triggers below, so every
# writer keeps them. Numbers that need the deployment's time zone to find their local day
# (deliveries, hours on watch) are counted from indexes when read.
V6_SQL = [
    """CREATE TABLE daily_screening_counts (
        community_id INTEGER NOT NULL REFERENCES places(id),
        local_day TEXT NOT NULL,
        households_answered INTEGER NOT NULL DEFAULT 0,
        households_nobody_home INTEGER NOT NULL DEFAULT 0,
        households_refused INTEGER NOT NULL DEFAULT 0,
        residents_screened INTEGER NOT NULL DEFAULT 0,
        residents_fever_or_symptoms INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, local_day)
    ) WITHOUT ROWID""",
    """CREATE TABLE daily_checkin_counts (
        community_id INTEGER NOT NULL REFERENCES places(id),
        local_day TEXT NOT NULL,
        cadres_reported INTEGER NOT NULL DEFAULT 0,
        cadres_on_watch INTEGER NOT NULL DEFAULT 0,
        checkins_flagged INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, local_day)
    ) WITHOUT ROWID""",
    """CREATE TABLE daily_isolation_counts (
        community_id INTEGER NOT NULL REFERENCES places(id),
        local_day TEXT NOT NULL,
        visits_done INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, local_day)
    ) WITHOUT ROWID""",
    """CREATE TABLE community_household_counts (
        community_id INTEGER PRIMARY KEY REFERENCES places(id),
        households INTEGER NOT NULL DEFAULT 0
    )""",
    # "Is this visit corrected?" was a full scan of the visits per visit.
    """CREATE INDEX screening_visits_corrects ON screening_visits(corrects_id)
       WHERE corrects_id IS NOT NULL""",
    # A community's check-ins of a day from the index alone (the trigger's recount reads it).
    "DROP INDEX checkins_community_day",
    """CREATE INDEX checkins_community_day ON checkins(community_id, local_day, user_id,
       checkpoint_id, outside_assignment)""",
    # The watches of a checkpoint with their ids (joined to their check-outs) from the index.
    "DROP INDEX checkins_checkpoint_time",
    "CREATE INDEX checkins_checkpoint_time ON checkins(checkpoint_id, recorded_utc, id)",
    # Deliveries raised / done per community and day (the old index has status in between).
    "CREATE INDEX deliveries_community_raised ON deliveries(community_id, raised_at)",
    """CREATE INDEX deliveries_community_delivered ON deliveries(community_id, delivered_at)
       WHERE delivered_at IS NOT NULL""",
]

# One community's check-in numbers of one day, counted from its check-ins (a few dozen rows).
_RECOUNT_CHECKINS = """INSERT OR REPLACE INTO daily_checkin_counts (community_id, local_day,
           cadres_reported, cadres_on_watch, checkins_flagged)
       SELECT {row}.community_id, {row}.local_day, count(DISTINCT user_id),
           count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
           coalesce(sum(outside_assignment = 1), 0)
       FROM checkins WHERE community_id = {row}.community_id AND local_day = {row}.local_day;"""
_HOUSEHOLDS = """INSERT INTO community_household_counts (community_id, households)
       VALUES ({row}.community_id, {delta})
       ON CONFLICT (community_id) DO UPDATE SET households = households + {delta};"""

# A planned isolation visit is done when a visit names its day and slot; planned are the days
# from the start to the end (or the plan's last day) and the policy's slots (isolation.schedule).
_PLANNED = """c.starts_on <= {day} AND {day} <= coalesce(c.ended_on, c.planned_end)
       AND {day} <= date(c.starts_on, ((SELECT sum(json_extract(p.value, '$.days'))
           FROM json_each(c.policy_snapshot, '$.phases') p) - 1) || ' days')
       AND {slot} IN (SELECT value FROM json_each(c.policy_snapshot, '$.slots'))"""
# One community's planned visits done on one day, for each (community_id, day) row of `keys`.
_RECOUNT_ISOLATION = """INSERT OR REPLACE INTO daily_isolation_counts (community_id, local_day,
           visits_done)
       SELECT k.community_id, k.day, (SELECT count(*) FROM (SELECT DISTINCT v.case_id, v.slot
           FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
             AND v.due_day = k.day
           WHERE c.community_id = k.community_id AND {planned}))
       FROM ({keys}) k;""".replace("{planned}", _PLANNED.format(day="k.day", slot="v.slot"))
_VISIT_KEY = "SELECT community_id, {row}.due_day AS day FROM isolation_cases WHERE id = {row}.case_id"
_CASE_KEYS = """SELECT DISTINCT {row}.community_id AS community_id, due_day AS day
       FROM isolation_visits WHERE case_id = {row}.id"""

V6_TRIGGERS = [
    f"""CREATE TRIGGER daily_isolation_counts_visit_insert AFTER INSERT ON isolation_visits
        BEGIN {_RECOUNT_ISOLATION.format(keys=_VISIT_KEY.format(row="NEW"))} END""",
    f"""CREATE TRIGGER daily_isolation_counts_visit_update AFTER UPDATE OF case_id, due_day, slot
            ON isolation_visits
        BEGIN {_RECOUNT_ISOLATION.format(keys=_VISIT_KEY.format(row="OLD"))}
              {_RECOUNT_ISOLATION.format(keys=_VISIT_KEY.format(row="NEW"))} END""",
    f"""CREATE TRIGGER daily_isolation_counts_visit_delete AFTER DELETE ON isolation_visits
        BEGIN {_RECOUNT_ISOLATION.format(keys=_VISIT_KEY.format(row="OLD"))} END""",
    # a case ended early, moved or re-planned: its visits' days are counted again
    f"""CREATE TRIGGER daily_isolation_counts_case_update AFTER UPDATE OF community_id,
            starts_on, ended_on, planned_end, policy_snapshot ON isolation_cases
        BEGIN {_RECOUNT_ISOLATION.format(keys=_CASE_KEYS.format(row="OLD"))}
              {_RECOUNT_ISOLATION.format(keys=_CASE_KEYS.format(row="NEW"))} END""",
    f"""CREATE TRIGGER daily_checkin_counts_insert AFTER INSERT ON checkins
        BEGIN {_RECOUNT_CHECKINS.format(row="NEW")} END""",
    f"""CREATE TRIGGER daily_checkin_counts_update AFTER UPDATE OF community_id, local_day,
            user_id, checkpoint_id, outside_assignment ON checkins
        BEGIN {_RECOUNT_CHECKINS.format(row="OLD")} {_RECOUNT_CHECKINS.format(row="NEW")} END""",
    f"""CREATE TRIGGER daily_checkin_counts_delete AFTER DELETE ON checkins
        BEGIN {_RECOUNT_CHECKINS.format(row="OLD")} END""",
    f"""CREATE TRIGGER community_household_counts_insert AFTER INSERT ON households
        WHEN NEW.deleted_at IS NULL BEGIN {_HOUSEHOLDS.format(row="NEW", delta=1)} END""",
    f"""CREATE TRIGGER community_household_counts_delete AFTER DELETE ON households
        WHEN OLD.deleted_at IS NULL BEGIN {_HOUSEHOLDS.format(row="OLD", delta=-1)} END""",
    f"""CREATE TRIGGER community_household_counts_leave AFTER UPDATE OF community_id, deleted_at
            ON households WHEN OLD.deleted_at IS NULL
        BEGIN {_HOUSEHOLDS.format(row="OLD", delta=-1)} END""",
    f"""CREATE TRIGGER community_household_counts_enter AFTER UPDATE OF community_id, deleted_at
            ON households WHEN NEW.deleted_at IS NULL
        BEGIN {_HOUSEHOLDS.format(row="NEW", delta=1)} END""",
]

# The summaries of the records already stored.
V6_BACKFILL = [
    """INSERT INTO daily_screening_counts (community_id, local_day, households_answered,
           households_nobody_home, households_refused, residents_screened,
           residents_fever_or_symptoms)
       SELECT v.community_id, v.local_day,
           count(DISTINCT CASE WHEN v.outcome = 'answered' THEN v.household_id END),
           count(DISTINCT CASE WHEN v.outcome = 'nobody_home' THEN v.household_id END),
           count(DISTINCT CASE WHEN v.outcome = 'refused' THEN v.household_id END),
           coalesce(sum(r.screened), 0), coalesce(sum(r.feverish), 0)
       FROM screening_visits v
       LEFT JOIN (SELECT visit_id, count(*) AS screened,
                         sum(temperature >= 37.3 OR symptoms NOT IN ('[]', '')) AS feverish
                  FROM screening_visit_residents WHERE present = 1 GROUP BY visit_id) r
           ON r.visit_id = v.id
       WHERE NOT EXISTS (SELECT 1 FROM screening_visits x WHERE x.corrects_id = v.id)
       GROUP BY v.community_id, v.local_day""",
    """INSERT INTO daily_checkin_counts (community_id, local_day, cadres_reported,
           cadres_on_watch, checkins_flagged)
       SELECT community_id, local_day, count(DISTINCT user_id),
           count(DISTINCT CASE WHEN checkpoint_id IS NOT NULL THEN user_id END),
           coalesce(sum(outside_assignment = 1), 0)
       FROM checkins GROUP BY community_id, local_day""",
    f"""INSERT INTO daily_isolation_counts (community_id, local_day, visits_done)
       SELECT c.community_id, v.due_day, count(DISTINCT v.case_id || ' ' || v.slot)
       FROM isolation_cases c JOIN isolation_visits v ON v.case_id = c.id
       WHERE {_PLANNED.format(day="v.due_day", slot="v.slot")}
       GROUP BY c.community_id, v.due_day""",
    """INSERT INTO community_household_counts (community_id, households)
       SELECT community_id, count(*) FROM households WHERE deleted_at IS NULL
       GROUP BY community_id""",
]


def _v7_unit_registrations(db: sqlite_utils.Database) -> None:
    # 双报到 of home units: a unit paired with a community (server/registrations.py).
    db.conn.execute("""CREATE TABLE unit_registrations (
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
    )""")
    db.conn.execute("CREATE INDEX unit_registrations_community ON unit_registrations(community_id)")


def _v8_watch_and_delivery_days(db: sqlite_utils.Database) -> None:
    for sql in V8_SQL:
        db.conn.execute(sql)


# One community's deliveries raised and delivered on the days of one delivery row, counted
# from the day columns' indexes.
_RECOUNT_DELIVERIES = """INSERT OR REPLACE INTO daily_delivery_counts (community_id, local_day,
           raised, delivered)
       SELECT {row}.community_id, k.day,
           (SELECT count(*) FROM deliveries WHERE community_id = {row}.community_id
            AND raised_day = k.day),
           (SELECT count(*) FROM deliveries WHERE community_id = {row}.community_id
            AND delivered_day = k.day)
       FROM (SELECT {row}.raised_day AS day UNION SELECT {row}.delivered_day) k
       WHERE k.day IS NOT NULL;"""

# Hours on watch and deliveries per local day, kept by the write path (server/summaries.py).
# Their local days need the deployment's time zone, which a migration does not know: they are
# filled at start by summaries.ensure_zone, which also rebuilds them when the zone changes.
V8_SQL = [
    # Per checkpoint and local day: the merged stretches of watch (overlaps once), clipped to
    # the day, as JSON [[begin, end], ...] in UTC epoch seconds, and their length in seconds.
    """CREATE TABLE watch_coverage (
        checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id),
        local_day TEXT NOT NULL,
        community_id INTEGER NOT NULL REFERENCES places(id),
        seconds REAL NOT NULL,
        stretches TEXT NOT NULL,
        PRIMARY KEY (checkpoint_id, local_day)
    ) WITHOUT ROWID""",
    "CREATE INDEX watch_coverage_community ON watch_coverage(community_id, local_day, seconds)",
    "ALTER TABLE deliveries ADD COLUMN raised_day TEXT",
    "ALTER TABLE deliveries ADD COLUMN delivered_day TEXT",
    "CREATE INDEX deliveries_community_raised_day ON deliveries(community_id, raised_day)",
    """CREATE INDEX deliveries_community_delivered_day ON deliveries(community_id, delivered_day)
       WHERE delivered_day IS NOT NULL""",
    # Deliveries raised / delivered per community and local day, kept by the triggers below
    # from the day columns: one row a day reads faster than grouping the index (bench/tally.py).
    """CREATE TABLE daily_delivery_counts (
        community_id INTEGER NOT NULL REFERENCES places(id),
        local_day TEXT NOT NULL,
        raised INTEGER NOT NULL DEFAULT 0,
        delivered INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, local_day)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER daily_delivery_counts_insert AFTER INSERT ON deliveries
        BEGIN {_RECOUNT_DELIVERIES.format(row="NEW")} END""",
    f"""CREATE TRIGGER daily_delivery_counts_update AFTER UPDATE OF community_id, raised_day,
            delivered_day ON deliveries
        BEGIN {_RECOUNT_DELIVERIES.format(row="OLD")} {_RECOUNT_DELIVERIES.format(row="NEW")} END""",
    f"""CREATE TRIGGER daily_delivery_counts_delete AFTER DELETE ON deliveries
        BEGIN {_RECOUNT_DELIVERIES.format(row="OLD")} END""",
]


def _v9_round_screened_counts(db: sqlite_utils.Database) -> None:
    for sql in [*V9_SQL, *V9_BACKFILL, *V9_TRIGGERS]:
        db.conn.execute(sql)


# Households screened in each screening round, for the progress of all of a district's
# communities at once (the bar chart): counting them from the visits took 4-7 s at 1,000
# communities. Counted as tallies.round_progress counts them: a household with any answered
# visit of the round, not deleted, and in the round's community.
_IN_ROUND = """({row}.deleted_at IS NULL AND {row}.community_id = (SELECT r.community_id
       FROM screening_rounds r WHERE r.id = round_screened_counts.round_id))"""
V9_SQL = [
    """CREATE TABLE round_screened_counts (
        round_id INTEGER PRIMARY KEY REFERENCES screening_rounds(id),
        households INTEGER NOT NULL DEFAULT 0
    )""",
]
V9_BACKFILL = [
    """INSERT INTO round_screened_counts (round_id, households)
       SELECT r.id, count(DISTINCT v.household_id) FROM screening_rounds r
       JOIN screening_visits v ON v.round_id = r.id AND v.outcome = 'answered'
       JOIN households h ON h.id = v.household_id AND h.deleted_at IS NULL
           AND h.community_id = r.community_id
       GROUP BY r.id""",
]
V9_TRIGGERS = [
    # a household's first answered visit of the round
    """CREATE TRIGGER round_screened_counts_visit AFTER INSERT ON screening_visits
       WHEN NEW.outcome = 'answered' AND NEW.round_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM screening_visits v WHERE v.round_id = NEW.round_id
                       AND v.household_id = NEW.household_id AND v.outcome = 'answered'
                       AND v.id != NEW.id)
       AND EXISTS (SELECT 1 FROM households h JOIN screening_rounds r ON r.id = NEW.round_id
                   WHERE h.id = NEW.household_id AND h.deleted_at IS NULL
                   AND h.community_id = r.community_id)
       BEGIN INSERT INTO round_screened_counts (round_id, households) VALUES (NEW.round_id, 1)
             ON CONFLICT (round_id) DO UPDATE SET households = households + 1; END""",
    # a household deleted, restored or moved leaves (or joins) each round it was screened in
    f"""CREATE TRIGGER round_screened_counts_household AFTER UPDATE OF deleted_at, community_id
            ON households
       BEGIN UPDATE round_screened_counts
             SET households = households + {_IN_ROUND.format(row="NEW")}
                                         - {_IN_ROUND.format(row="OLD")}
             WHERE round_id IN (SELECT v.round_id FROM screening_visits v
                                WHERE v.household_id = NEW.id AND v.outcome = 'answered'); END""",
]


def _v10_sessions(db: sqlite_utils.Database) -> None:
    for sql in V10_SQL:
        db.conn.execute(sql)


# Sessions the server can end (docs/deploy.md#sessions): the signed cookie holds a random token,
# this table its SHA-256; logout, a password change or an admin deletes rows, and a cookie
# whose row is gone is logged out. Cookies from before this migration have no row: everyone
# logs in once more after the upgrade (their outboxes wait for it).
V10_SQL = [
    """CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        address TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID""",
    "CREATE INDEX sessions_user ON sessions(user_id)",
]


def _v11_checkins_old_poster(db: sqlite_utils.Database) -> None:
    # A check-in of a poster re-issued since, accepted because the phone dates the scan before
    # the re-issue (docs/configuration.md, POSTER_OFFLINE_GRACE_HOURS): shown to the committee.
    db.conn.execute("ALTER TABLE checkins ADD COLUMN old_poster INTEGER NOT NULL DEFAULT 0")


MIGRATIONS = [_v1_foundation, _v2_screening, _v3_checkin_aliases, _v4_push, _v5_mobilisation,
              _v6_tally_summaries, _v7_unit_registrations, _v8_watch_and_delivery_days,
              _v9_round_screened_counts, _v10_sessions,
              _v11_checkins_old_poster]


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply the migrations the file has not had yet, each in its own transaction.

    The version is read inside the write lock, so two processes starting at once (gunicorn
    workers) cannot both apply the same migration.
    """
    while True:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(db)
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"database schema version {version} is newer than this code "
                    f"({len(MIGRATIONS)} migrations)")
            if version == len(MIGRATIONS):
                db.conn.execute("COMMIT")
                return version
            MIGRATIONS[version](db)
            db.conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        db.conn.execute("COMMIT")
