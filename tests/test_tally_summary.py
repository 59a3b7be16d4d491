"""The tallies' summary table (daily_screening_counts) against a full recount from the records,
after live and synced visits, duplicates, conflicts, corrections and the local-day boundary;
the set-based tally against the one-day tally; the records behind each number."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from helpers import SHANGHAI, build_world, new_id, shanghai_time

from server import create_app, migrations
from server.db import connect, init_db, write_transaction
from server.retention import anonymise
from server.summaries import (
    CHECKIN_COLUMNS,
    COLUMNS,
    checkin_counts,
    household_counts,
    isolation_done,
    rebuild_zone_summaries,
    recount_checkins,
    recount_households,
    recount_screening,
    stored_counts,
    zone_summaries_current,
)
from server.tallies.engine import (
    RECOUNTED_FIELDS,
    TALLY_FIELDS,
    community_tallies,
    daily_tally,
    recount_watch_and_deliveries,
    tally_report,
)

ZONE = "Asia/Shanghai"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def visit(world, household, when, outcome="answered", residents=(), **extra) -> dict:
    body = {"id": new_id(), "recorded_at": shanghai_time(when), "household_id": world[household],
            "outcome": outcome, **({"result": "normal"} if outcome == "answered" else {}),
            **extra}
    if residents:
        body["residents"] = [{"resident_id": world[key], **values} for key, values in residents]
    return body


def live(api, body, status=201):
    response = api.post("/api/screening-visits", json=body)
    assert response.status_code == status, response.json
    return response


def synced(api, *bodies) -> list[str]:
    records = [{"id": b["id"], "type": "screening_visit", "recorded_at": b["recorded_at"],
                "data": {k: v for k, v in b.items() if k not in ("id", "recorded_at")}}
               for b in bodies]
    response = api.post("/api/sync", json={"device_id": "phone-1", "records": records})
    assert response.status_code == 200, response.json
    return [r["status"] for r in response.json["results"]]


def summary(db) -> dict:
    return {(r[0], r[1]): dict(zip(COLUMNS, r[2:], strict=True)) for r in db.execute(
        f"SELECT community_id, local_day, {', '.join(COLUMNS)} FROM daily_screening_counts")}


def assert_summary_agrees(db) -> int:
    """The summary row of every community and day with a visit (or a row) equals a recount
    from the records; returns how many days were compared."""
    days = {tuple(r) for r in db.execute(
        """SELECT community_id, local_day FROM screening_visits UNION
           SELECT community_id, local_day FROM daily_screening_counts""")}
    for community_id, day in days:
        assert stored_counts(db, community_id, day) == recount_screening(db, community_id, day), \
            (community_id, day)
    return len(days)


def numbers(db, world, community, day) -> dict:
    return stored_counts(db, world[community], day)


def test_summary_equals_recount_after_live_synced_duplicate_conflict_and_corrections(
        as_user, world, db):
    cadre = as_user("cadre_A")
    # Live: the 23:30 visit falls on March 1st, the 00:30 one on March 2nd (Shanghai).
    v1 = visit(world, "hhA1", at(1, 23, 30), residents=[("resA1", {"temperature": 37.3}),
                                                         ("resA2", {"temperature": 36.6})])
    v2 = visit(world, "hhA2", at(2, 0, 30), "nobody_home")
    v3 = visit(world, "hhA1", at(1, 10), residents=[("resA1", {"temperature": 36.5})])
    for body in (v1, v2, v3):
        live(cadre, body)
    assert assert_summary_agrees(db) == 2
    assert numbers(db, world, "A", "2026-03-01") == {
        "households_answered": 1, "households_nobody_home": 0, "households_refused": 0,
        "residents_screened": 3, "residents_fever_or_symptoms": 1}  # hhA1 once; 37.3 counts
    assert numbers(db, world, "A", "2026-03-02")["households_nobody_home"] == 1

    # Synced in one batch: a new visit, a correction made the next day, a replay (duplicate),
    # the same id with other content (conflict), a record that fails (rolled back alone), and
    # a correction of a visit sent earlier in the same batch.
    v4 = visit(world, "hhA2", at(1, 9), "refused")
    v5 = visit(world, "hhA1", at(2, 8), corrects_id=v1["id"],
               residents=[("resA1", {"temperature": 36.4}), ("resA2", {"temperature": 36.5})])
    bad = visit(world, "hhA1", at(1, 12), residents=[("resB1", {"temperature": 39.0})])
    v6 = visit(world, "hhA2", at(1, 9, 30), corrects_id=v4["id"],
               residents=[("resA3", {"temperature": 37.5})])
    before_batch = summary(db)
    statuses = synced(cadre, v4, v5, v1, {**v2, "outcome": "refused"}, bad, v6)
    assert statuses == ["created", "created", "duplicate", "conflict", "invalid", "created"]
    assert assert_summary_agrees(db) == 2
    assert summary(db) != before_batch
    assert numbers(db, world, "A", "2026-03-01") == {
        "households_answered": 2, "households_nobody_home": 0, "households_refused": 0,
        "residents_screened": 2, "residents_fever_or_symptoms": 1}
    assert numbers(db, world, "A", "2026-03-02") == {
        "households_answered": 1, "households_nobody_home": 1, "households_refused": 0,
        "residents_screened": 2, "residents_fever_or_symptoms": 0}

    # Replays change nothing, live or synced, whatever their content.
    unchanged = summary(db)
    live(cadre, v3, 200)
    live(cadre, {**v3, "notes": "改过"}, 409)
    assert synced(cadre, v4, v6, {**v6, "outcome": "nobody_home"}) == [
        "duplicate", "duplicate", "conflict"]
    assert summary(db) == unchanged

    # A correction of a correction: v5 leaves March 2nd, v7 enters it.
    v7 = visit(world, "hhA1", at(2, 9), "nobody_home", corrects_id=v5["id"])
    live(cadre, v7)
    assert numbers(db, world, "A", "2026-03-02") == {
        "households_answered": 0, "households_nobody_home": 2, "households_refused": 0,
        "residents_screened": 0, "residents_fever_or_symptoms": 0}

    # Another community, another cadre, over its own midnight; a symptom without fever counts.
    cadre_b = as_user("cadre_B")
    v8 = visit(world, "hhB1", at(3, 23, 30),
               residents=[("resB1", {"temperature": 36.8, "symptoms": ["cough"]})])
    v9 = visit(world, "hhB1", at(4, 0, 30), "refused")
    assert synced(cadre_b, v8, v9) == ["created", "created"]
    assert assert_summary_agrees(db) == 4
    assert numbers(db, world, "B", "2026-03-03") == {
        "households_answered": 1, "households_nobody_home": 0, "households_refused": 0,
        "residents_screened": 1, "residents_fever_or_symptoms": 1}
    assert numbers(db, world, "B", "2026-03-04")["households_refused"] == 1
    assert numbers(db, world, "A", "2026-03-03") == dict.fromkeys(COLUMNS, 0)

    # The tally shows the summary's numbers, per community and day and summed.
    report = as_user("admin").get(f"/api/places/{world['district']}/tally",
                                  query_string={"from": "2026-03-01", "to": "2026-03-04"}).json
    rows = {(r["community"]["id"], r["day"]): r for r in report["rows"]}
    for (community_id, day), counts in summary(db).items():
        assert {k: rows[community_id, day][k] for k in COLUMNS} == counts
    assert [t["households_answered"] for t in report["totals"]] == [2, 0, 1, 0]
    assert [t["households_refused"] for t in report["totals"]] == [0, 0, 0, 1]


def test_daily_tally_reads_the_summary_table(as_user, world, db, app):
    live(as_user("cadre_A"), visit(world, "hhA1", at(5, 11)))
    db.execute("UPDATE daily_screening_counts SET households_answered = 99 "
               "WHERE community_id = ? AND local_day = '2026-03-05'", [world["A"]])
    db.conn.commit()
    with app.app_context():
        assert daily_tally(db, world["A"], "2026-03-05", ZONE)["households_answered"] == 99
    assert recount_screening(db, world["A"], "2026-03-05")["households_answered"] == 1


def test_two_corrections_of_one_visit_and_two_visits_of_one_household(as_user, world, db):
    cadre = as_user("cadre_A")
    first = visit(world, "hhA1", at(6, 9), residents=[("resA1", {"temperature": 38.0})])
    second = visit(world, "hhA1", at(6, 15), residents=[("resA2", {"temperature": 36.0})])
    live(cadre, first)
    live(cadre, second)
    assert numbers(db, world, "A", "2026-03-06")["households_answered"] == 1
    # Two phones correct the same visit: both corrections count, the visit no more.
    live(cadre, visit(world, "hhA1", at(6, 16), "refused", corrects_id=first["id"]))
    live(cadre, visit(world, "hhA1", at(6, 17), "refused", corrects_id=first["id"]))
    assert numbers(db, world, "A", "2026-03-06") == {
        "households_answered": 1, "households_nobody_home": 0, "households_refused": 1,
        "residents_screened": 1, "residents_fever_or_symptoms": 0}
    assert assert_summary_agrees(db) == 1


def test_retention_keeps_the_summary(as_user, world, db, app):
    cadre_b = as_user("cadre_B")
    today = datetime.now(SHANGHAI).date()
    assert synced(cadre_b, visit(world, "hhB1", datetime.now(SHANGHAI) - timedelta(days=45),
                                 residents=[("resB1", {"temperature": 38.5})])) == ["created"]
    ended = (today - timedelta(days=40)).isoformat()
    db.execute("UPDATE screening_rounds SET ends_on = ? WHERE id = ?", [ended, world["roundB"]])
    db.conn.commit()
    before = summary(db)
    with app.app_context():
        assert anonymise(db, today, 30)["households"] == 1
    assert summary(db) == before and sum(r["residents_fever_or_symptoms"]
                                         for r in before.values()) == 1
    assert assert_summary_agrees(db) == 1


def test_v6_migration_backfills_from_existing_visits(tmp_path, monkeypatch):
    path = tmp_path / "v5.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
    assert init_db(path) == 5
    db = connect(path)
    with db.atomic():
        world = build_world(db)
        stamp = "2026-03-01T00:00:00.000000Z"

        def insert(visit_id, household, day, outcome, corrects=None, residents=()):
            db.execute(
                """INSERT INTO screening_visits (id, household_id, community_id, user_id,
                       recorded_at, recorded_utc, local_day, received_at, outcome, corrects_id,
                       round_id, payload_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'h')""",
                [visit_id, world[household], world[household[2]], world["cadre_A"], stamp, stamp,
                 day, stamp, outcome, corrects, world[f"round{household[2]}"]])
            for resident, temperature in residents:
                db.execute("""INSERT INTO screening_visit_residents (visit_id, resident_id,
                                  temperature) VALUES (?,?,?)""", [visit_id, world[resident],
                                                                  temperature])

        insert("a", "hhA1", "2026-03-01", "answered", residents=[("resA1", 38.2), ("resA2", 36.0)])
        insert("b", "hhA1", "2026-03-01", "answered", residents=[("resA1", 36.2)])
        insert("c", "hhA2", "2026-03-01", "refused")
        insert("d", "hhA2", "2026-03-02", "answered", corrects="c", residents=[("resA3", 36.9)])
        insert("e", "hhB1", "2026-03-02", "nobody_home")
        db.execute("INSERT INTO posters (id, community_id, manual_code, issued_at) "
                   "VALUES ('p', ?, '12345678', ?)", [world["A"], stamp])
        for checkin_id, user, flagged in (("k1", "cadre_A", 0), ("k2", "cadre_A", 0),
                                          ("k3", "cadre_B", 1)):
            db.execute("""INSERT INTO checkins (id, user_id, poster_id, community_id, recorded_at,
                              recorded_utc, local_day, received_at, outside_assignment,
                              payload_hash) VALUES (?,?,'p',?,?,?,'2026-03-01',?,?,'h')""",
                       [checkin_id, world[user], world["A"], stamp, stamp, stamp, flagged])
        rules = db.execute("SELECT rules FROM isolation_policies WHERE id = ?",
                           [world["policy9"]]).fetchone()[0]  # 7 days, morning and evening
        db.execute("""INSERT INTO isolation_cases (id, resident_id, household_id, community_id,
                          reason, kind, starts_on, planned_end, policy_snapshot, created_by,
                          recorded_at, received_at, updated_at, ended_on, payload_hash)
                      VALUES ('case', ?, ?, ?, 'close_contact', 'home_isolation', '2026-03-01',
                              '2026-03-07', ?, ?, ?, ?, ?, '2026-03-02', 'h')""",
                   [world["resA1"], world["hhA1"], world["A"], rules, world["admin"], stamp,
                    stamp, stamp])
        for n, (day, slot) in enumerate((("2026-03-01", "morning"), ("2026-03-01", "morning"),
                                         ("2026-03-01", "evening"), ("2026-03-02", "morning"),
                                         ("2026-03-03", "morning"))):  # the last after the end
            db.execute("""INSERT INTO isolation_visits (id, case_id, user_id, due_day, slot,
                              recorded_at, recorded_utc, local_day, received_at, payload_hash)
                          VALUES (?, 'case', ?, ?, ?, ?, ?, ?, ?, 'h')""",
                       [f"iv{n}", world["cadre_A"], day, slot, stamp, stamp, day, stamp])
    db.close()
    monkeypatch.undo()
    assert init_db(path) == len(migrations.MIGRATIONS) >= 6
    db = connect(path)
    assert assert_summary_agrees(db) == 3
    assert stored_counts(db, world["A"], "2026-03-01") == {
        "households_answered": 1, "households_nobody_home": 0, "households_refused": 0,
        "residents_screened": 3, "residents_fever_or_symptoms": 1}
    assert stored_counts(db, world["A"], "2026-03-02")["households_answered"] == 1
    assert stored_counts(db, world["B"], "2026-03-02")["households_nobody_home"] == 1
    assert household_counts(db, [world["A"], world["B"], world["C"]]) == {world["A"]: 2,
                                                                         world["B"]: 1}
    assert checkin_counts(db, [world["A"]], "2026-03-01", "2026-03-01") == {
        (world["A"], "2026-03-01"): {"cadres_reported": 2, "cadres_on_watch": 0,
                                     "checkins_flagged": 1}}
    assert assert_checkins_agree(db) == 1
    assert isolation_done(db, [world["A"]], "2026-03-01", "2026-03-03") == {
        (world["A"], "2026-03-01"): 2, (world["A"], "2026-03-02"): 1}
    from server.summaries import round_screened  # v9: households screened per round

    assert round_screened(db, [world["A"], world["B"]], "2026-03-02") == {world["A"]: 2,
                                                                          world["B"]: 0}
    plan = db.execute("EXPLAIN QUERY PLAN SELECT 1 FROM screening_visits x "
                      "WHERE x.corrects_id = 'a'").fetchall()
    assert "screening_visits_corrects" in str(plan)
    db.close()


# --- the set-based tally ------------------------------------------------------------------------

def _busy_days(as_user, world, poster_token):
    """Records over three days: visits, a watch across midnight, a flagged check-in, an
    isolation case with a visit and a delivery, ending the day before yesterday."""
    today = datetime.now(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    days = [(today - timedelta(days=n)) for n in (2, 1, 0)]
    cadre, other = as_user("cadre_A"), as_user("cadre_A2")
    for n, moment in enumerate(days):
        live(cadre, visit(world, "hhA1", moment.replace(hour=9), residents=[
            ("resA1", {"temperature": 36.5 + n})]))
    start = days[0].replace(hour=22)
    watch = {"id": new_id(), "token": poster_token("A", "gateA"), "recorded_at": shanghai_time(start)}
    assert other.post("/api/checkins", json=watch).status_code == 201
    other.post("/api/checkouts", json={"id": new_id(), "checkin_id": watch["id"],
                                       "recorded_at": shanghai_time(start + timedelta(hours=4))})
    flagged = {"id": new_id(), "token": poster_token("A"),
               "recorded_at": shanghai_time(days[1].replace(hour=8))}
    assert as_user("cadre_B").post("/api/checkins", json=flagged).status_code == 201
    committee = as_user("committee_A")
    case = {"id": new_id(), "recorded_at": shanghai_time(days[0].replace(hour=8)),
            "resident_id": world["resA3"], "reason": "close_contact",
            "starts_on": days[0].date().isoformat(), "policy_id": world["policy8"]}
    assert committee.post("/api/isolation/cases", json=case).status_code == 201
    iso = {"id": new_id(), "recorded_at": shanghai_time(days[1].replace(hour=10)),
           "case_id": case["id"], "slot": "morning", "temperature": 36.5,
           "needs": [{"kind": "medicine", "what": "退烧药"}]}
    response = cadre.post("/api/isolation/visits", json=iso)
    assert response.status_code == 201, response.json
    return [d.date().isoformat() for d in days], case


def test_district_report_equals_the_one_day_tally(as_user, world, db, app, poster_token):
    days, _ = _busy_days(as_user, world, poster_token)
    now = datetime.now(SHANGHAI)
    district = next(db.query("SELECT * FROM places WHERE id = ?", [world["district"]]))
    with app.app_context():
        report = tally_report(db, district, days[0], days[-1], ZONE, now)
        single = {(c, d): daily_tally(db, world[c], d, ZONE, now)
                  for c in ("A", "B", "C") for d in days}
        before = daily_tally(db, world["A"], report["previous_day"]["day"], ZONE, now)
    rows = {(r["community"]["name"], r["day"]): r for r in report["rows"]}
    names = {"A": "甲社区", "B": "乙社区", "C": "丙村"}
    for (c, d), expected in single.items():
        assert {k: rows[names[c], d][k] for k, _ in TALLY_FIELDS} == expected, (c, d)
    a = [single["A", d] for d in days]
    assert [n["households_answered"] for n in a] == [1, 1, 1]
    assert [n["residents_fever_or_symptoms"] for n in a] == [0, 1, 1]
    # The watch 22:00-02:00 gives two hours to each side of midnight.
    assert [n["checkpoint_hours_covered"] for n in a][:2] == [2.0, 2.0]
    assert [n["checkins_flagged"] for n in a] == [0, 1, 0]
    assert [n["cases_new"] for n in a] == [1, 0, 0] and [n["cases_active"] for n in a] == [1, 1, 1]
    assert [n["isolation_visits_done"] for n in a] == [0, 1, 0]
    assert [n["isolation_visits_overdue"] for n in a][:2] == [2, 1]
    assert [n["deliveries_raised"] for n in a] == [0, 1, 0]
    assert before["cases_active"] == 0
    totals = {t["day"]: t for t in report["totals"]}
    for key, _ in TALLY_FIELDS:
        for d in days:
            assert totals[d][key] == round(sum(single[c, d][key] for c in "ABC"), 2)


KEYS = ("isolation_visits_due", "isolation_visits_done", "isolation_visits_overdue")


def scheduled(db, window: list[str], now: datetime) -> dict[str, list[int]]:
    """Due, done and overdue per day counted over each case's schedule (schedule.schedule)."""
    from server.schedule import schedule, visits_of

    expected = {d: [0, 0, 0] for d in window}
    for row in db.query("SELECT * FROM isolation_cases"):
        for entry in schedule(row, visits_of(db, row["id"]), now, ZONE):
            if entry["day"] in expected:
                counts = expected[entry["day"]]
                counts[0] += 1
                counts[1] += entry["status"] == "done"
                counts[2] += entry["status"] == "overdue"
    return expected


def tallied(db, community_id: int, window: list[str], now: datetime) -> dict[str, list[int]]:
    numbers = community_tallies(db, [community_id], window, ZONE, now)
    return {d: [numbers[community_id, d][k] for k in KEYS] for d in window}


def test_isolation_numbers_follow_the_schedule(as_user, world, db, poster_token):
    """Visits due, done and overdue per day, from the summary and the cases, equal a count
    over each case's schedule at any time of day, before and after the deadlines."""
    days, case = _busy_days(as_user, world, poster_token)
    second = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resA1"],
              "reason": "close_contact", "starts_on": days[1], "policy_id": world["policy9"]}
    assert as_user("committee_A").post("/api/isolation/cases", json=second).status_code == 201
    start = datetime.fromisoformat(days[0] + "T00:00:00+08:00")
    window = [(start + timedelta(days=n)).date().isoformat() for n in range(-2, 24)]
    for hours in (0, 11, 12, 23, 35, 36, 24 * 15, 24 * 40):
        now = start + timedelta(hours=hours)
        expected = scheduled(db, window, now)
        assert tallied(db, world["A"], window, now) == expected, hours
        assert sum(v[2] for v in expected.values()) > 0 or hours < 12


def test_isolation_summary_follows_policy_slots_and_early_end(as_user, world, db):
    committee, cadre = as_user("committee_A"), as_user("cadre_A")
    policy = committee.post("/api/isolation/policies", json={
        "name": "上午随访五天", "place_id": world["A"],
        "rules": {"slots": ["morning"], "phases": [{"kind": "home_isolation", "days": 5}]}})
    assert policy.status_code == 201, policy.json
    today = datetime.now(SHANGHAI).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    case = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": world["resA3"],
            "reason": "close_contact", "starts_on": days[0],
            "policy_id": policy.json["policy"]["id"]}
    assert committee.post("/api/isolation/cases", json=case).status_code == 201
    for day, slot in ((days[0], "morning"), (days[0], "evening"), (days[1], "morning"),
                      (days[1], "morning"), (days[2], "morning")):
        visit = {"id": new_id(), "recorded_at": shanghai_time(), "case_id": case["id"],
                 "slot": slot, "due_day": day, "temperature": 36.5}
        assert cadre.post("/api/isolation/visits", json=visit).status_code == 201
    now = datetime.now(SHANGHAI)
    # the evening is not planned, the second visit of a morning is the same planned visit
    assert [v[1] for v in tallied(db, world["A"], days, now).values()] == [1, 1, 1]
    assert tallied(db, world["A"], days, now) == scheduled(db, days, now)
    ended = committee.post(f"/api/isolation/cases/{case['id']}/end", json={
        "base_version": 1, "outcome": "transferred", "ended_on": days[1],
        "transferred_to": "定点医院"})
    assert ended.status_code == 200, ended.json
    assert [v[1] for v in tallied(db, world["A"], days, now).values()] == [1, 1, 0]
    assert tallied(db, world["A"], days, now) == scheduled(db, days, now)


# --- the records behind the numbers -------------------------------------------------------------

def test_each_number_links_to_its_records(as_user, world, db, poster_token):
    days, _ = _busy_days(as_user, world, poster_token)
    committee = as_user("committee_A")
    report = committee.get(f"/api/places/{world['A']}/tally",
                           query_string={"from": days[1], "to": days[1]}).json
    template = report["links"]["records"]
    assert all(f["records"] for f in report["fields"])
    row = report["rows"][0]
    nonzero = 0
    for field in report["fields"]:
        url = template.format(community_id=row["community"]["id"], day=row["day"],
                              metric=field["key"])
        answer = committee.get(url)
        assert answer.status_code == 200, (field["key"], answer.json)
        data = answer.json
        assert data["value"] == row[field["key"]] and data["total"] == len(data["records"])
        records = data["records"]
        nonzero += bool(records)
        if data["counts"] == "households":
            assert len({r.get("household", r)["id"] for r in records}) == data["value"]
        elif data["counts"] == "cadres":
            assert len({r["user"]["id"] for r in records}) == data["value"]
        elif data["counts"] == "hours":
            assert all(r["checkpoint"] for r in records)
            assert bool(records) == (row["checkpoint_hours_covered"] > 0)
        else:
            assert len(records) == data["value"], field["key"]
    assert nonzero >= 12
    # Personal data masked; names shown.
    screened = committee.get(template.format(community_id=world["A"], day=days[1],
                                             metric="residents_screened")).json["records"]
    assert screened[0]["resident"]["name"] == "赵大伟"
    assert screened[0]["resident"]["id_number"] == "440524********0014"
    assert screened[0]["resident"]["phone"] == "139****5678"
    cadres = committee.get(template.format(community_id=world["A"], day=days[1],
                                           metric="checkins_flagged")).json["records"]
    assert cadres[0]["user"]["phone"] == "138****0003" and cadres[0]["outside_assignment"]


def test_records_route_checks_its_arguments_and_scope(as_user, world):
    url = f"/api/places/{world['A']}/tally/records"
    admin = as_user("admin")
    unknown = admin.get(url, query_string={"metric": "households_lost"})
    assert unknown.status_code == 422
    assert unknown.json["error"]["fields"][0]["path"] == "/query/metric"
    assert admin.get(url).status_code == 422  # metric is required
    bad_limit = admin.get(url, query_string={"metric": "households_in_round", "limit": "x"})
    assert bad_limit.json["error"]["fields"][0]["path"] == "/query/limit"
    page = admin.get(url, query_string={"metric": "households_in_round", "limit": 1,
                                        "offset": 1}).json
    assert page["total"] == 2 and [r["address"] for r in page["records"]] == ["1号楼1单元102"]
    assert admin.get(f"/api/places/{world['town1']}/tally/records",
                     query_string={"metric": "households_refused"}).status_code == 404
    assert admin.get("/api/places/987654/tally/records",
                     query_string={"metric": "households_refused"}).status_code == 404
    for who in ("committee_B", "town2_admin", "cadre_A", "leader_A"):
        assert as_user(who).get(url, query_string={"metric": "households_refused"}) \
            .status_code == 403, who


# --- the work record: notices read ---------------------------------------------------------------

def test_work_record_counts_notices_read(as_user, world):
    committee = as_user("committee_A")
    ids = [committee.post("/api/notices", json={"title": f"通知{n}"}).json["notice"]["id"]
           for n in range(3)]
    cadre = as_user("cadre_A")
    for notice_id in ids[:2]:
        assert cadre.post(f"/api/inbox/{notice_id}/read").status_code == 200
    assert cadre.post(f"/api/inbox/{ids[0]}/read").json["status"] == "duplicate"
    as_user("cadre_A2").post(f"/api/inbox/{ids[2]}/read")
    data = committee.get(f"/api/places/{world['A']}/work-records",
                         query_string={"sort": "notices_read"}).json
    read = {r["user"]["name"]: r["notices_read"] for r in data["records"]}
    assert read == {"王建国": 2, "李丽华": 1, "刘队长": 0}
    assert "notices_read" in [f["key"] for f in data["fields"]]
    old = committee.get(f"/api/places/{world['A']}/work-records",
                        query_string={"from": "2026-01-01", "to": "2026-01-31"}).json
    assert all(r["notices_read"] == 0 for r in old["records"])
    text = committee.get(f"/api/places/{world['A']}/work-records.csv",
                         query_string={"sort": "notices_read"}).get_data(as_text=True)
    header, first = text.lstrip("\ufeff").splitlines()[:2]
    assert header.endswith(",已读通知数") and first.startswith("王建国") and first.endswith(",2")


# --- the check-in and household summaries (kept by triggers) -------------------------------------

def assert_checkins_agree(db) -> int:
    days = {tuple(r) for r in db.execute(
        """SELECT community_id, local_day FROM checkins UNION
           SELECT community_id, local_day FROM daily_checkin_counts""")}
    for community_id, day in days:
        stored = checkin_counts(db, [community_id], day, day).get(
            (community_id, day), dict.fromkeys(CHECKIN_COLUMNS, 0))
        assert stored == recount_checkins(db, community_id, day), (community_id, day)
    return len(days)


def test_checkin_summary_equals_recount(as_user, world, db, poster_token):
    def checkin(api, token, when, status=201, **extra):
        body = {"id": new_id(), "token": token, "recorded_at": shanghai_time(when), **extra}
        response = api.post("/api/checkins", json=body)
        assert response.status_code == status, response.json
        return body

    cadre, other, stranger = as_user("cadre_A"), as_user("cadre_A2"), as_user("cadre_B")
    first = checkin(cadre, poster_token("A"), at(1, 23, 30))
    checkin(cadre, poster_token("A"), at(1, 23, 40), status=200)  # a repeat scan: one check-in
    checkin(cadre, poster_token("A"), at(2, 0, 30))               # the next day
    checkin(stranger, poster_token("A"), at(1, 9))                # not assigned to A: flagged
    watch = checkin(other, poster_token("A", "gateA"), at(1, 20))
    other.post("/api/checkouts", json={"id": new_id(), "checkin_id": watch["id"],
                                       "recorded_at": shanghai_time(at(1, 22))})
    checkin(other, poster_token("A", "gateA2"), at(1, 22, 30))     # on watch again: once
    records = [{"id": first["id"], "type": "checkin", "recorded_at": first["recorded_at"],
                "data": {"token": first["token"]}},                # replayed: duplicate
               {"id": new_id(), "type": "checkin", "recorded_at": shanghai_time(at(3, 8)),
                "data": {"token": poster_token("B")}}]
    results = stranger.post("/api/sync", json={"device_id": "p", "records": records}).json
    assert [r["status"] for r in results["results"]][1] == "created"
    cadre.post("/api/sync", json={"device_id": "p", "records": records[:1]})
    assert assert_checkins_agree(db) == 3
    day1 = checkin_counts(db, [world["A"]], "2026-03-01", "2026-03-01")[world["A"], "2026-03-01"]
    assert day1 == {"cadres_reported": 3, "cadres_on_watch": 1, "checkins_flagged": 1}
    # Whoever writes, the trigger keeps the summary: a row removed by hand is counted out.
    db.execute("DELETE FROM checkouts")
    db.execute("DELETE FROM checkins WHERE user_id = ?", [world["cadre_B"]])
    db.conn.commit()
    assert assert_checkins_agree(db) == 3
    assert checkin_counts(db, [world["A"]], "2026-03-01", "2026-03-01")[
        world["A"], "2026-03-01"]["checkins_flagged"] == 0


def test_household_summary_equals_recount(as_user, world, db, app):
    committee = as_user("committee_A")

    def agree() -> dict:
        counts = household_counts(db, [world["A"], world["B"], world["C"]])
        for key in ("A", "B", "C"):
            assert counts.get(world[key], 0) == recount_households(db, world[key]), key
        return counts

    assert agree() == {world["A"]: 2, world["B"]: 1}
    made = committee.post("/api/households", json={"household_id": new_id(),
                                                   "grid_id": world["gridA"], "door": "909"})
    assert made.status_code == 201, made.json
    synced_household = {"id": new_id(), "type": "household", "recorded_at": shanghai_time(),
                        "data": {"household_id": new_id(), "grid_id": world["gridA"],
                                 "door": "910", "base_version": 0}}
    results = as_user("cadre_A").post("/api/sync", json={"device_id": "p",
                                                         "records": [synced_household]}).json
    assert results["results"][0]["status"] == "created", results
    assert agree()[world["A"]] == 4
    assert committee.delete(f"/api/households/{world['hhA2']}").status_code == 200
    committee.post(f"/api/households/{made.json['household']['id']}",
                   json={"base_version": 1, "notes": "改备注"})  # an edit leaves the count alone
    assert agree()[world["A"]] == 3
    numbers = daily_tally_today(app, db, world["A"])
    assert numbers["households_in_round"] == 3
    db.execute("UPDATE households SET community_id = ?, grid_id = ? WHERE id = ?",
               [world["B"], world["gridB"], world["hhA1"]])  # moved by hand: counted over
    db.conn.commit()
    assert agree() == {world["A"]: 2, world["B"]: 2}


def daily_tally_today(app, db, community_id):
    with app.app_context():
        return daily_tally(db, community_id, datetime.now(SHANGHAI).date().isoformat(), ZONE)


def test_cadres_assigned_once_each_whatever_their_assignments(world, db, app):
    from server import cadres

    with app.app_context():
        # cadre_B: B since 2026-01-01, and A twice over overlapping periods, and once later
        cadres.assign(db, world["cadre_B"], world["A"], "2026-03-02", "2026-03-04")
        cadres.assign(db, world["cadre_B"], world["A"], "2026-03-03", "2026-03-05")
        cadres.assign(db, world["cadre_B"], world["A"], "2026-03-08")
        cadres.assign(db, world["admin"], world["C"], "2026-03-03", "2026-03-03")
    days = [f"2026-03-{n:02d}" for n in range(1, 10)]
    numbers = community_tallies(db, [world["A"], world["C"]], days, ZONE)
    assert [numbers[world["A"], d]["cadres_assigned"] for d in days] == [3, 4, 4, 4, 4, 3, 3, 4, 4]
    assert [numbers[world["C"], d]["cadres_assigned"] for d in days] == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    for day in days:
        assert numbers[world["A"], day] == daily_tally(db, world["A"], day, ZONE)


def test_deliveries_fall_on_their_local_day_in_any_zone(world, db):
    """Raised and delivered times are UTC; each counts on its local day, with one offset
    (Shanghai) and across a daylight-saving change (Berlin, 29 March 2026)."""
    moments = ["2026-03-27T22:59:00.000000Z", "2026-03-27T23:00:00.000000Z",
               "2026-03-28T15:59:59.000000Z", "2026-03-28T16:00:00.000000Z",
               "2026-03-28T22:30:00.000000Z", "2026-03-29T21:59:00.000000Z",
               "2026-03-29T22:00:00.000000Z", "2026-03-30T12:00:00.000000Z"]
    for n, moment in enumerate(moments):
        db.execute("""INSERT INTO deliveries (id, household_id, community_id, kind, what,
                          raised_by, raised_at, delivered_at) VALUES (?,?,?,'food','米',?,?,?)""",
                   [f"d{n}", world["hhA1"], world["A"], world["cadre_A"], moment,
                    moment if n % 2 else None])
    db.conn.commit()
    days = ["2026-03-28", "2026-03-29", "2026-03-30"]
    for zone in ("Asia/Shanghai", "Europe/Berlin"):
        def local(text, zone=zone):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(
                ZoneInfo(zone)).date().isoformat()

        expected = ([sum(local(m) == d for m in moments) for d in days],
                    [sum(local(m) == d for n, m in enumerate(moments) if n % 2) for d in days])
        # counted from the UTC times (summaries of another zone), then from the day columns
        # made in this zone (rows written by hand: the start-up rebuild gives them their days)
        for summarised in (False, True):
            with write_transaction(db):
                if summarised:
                    rebuild_zone_summaries(db, zone)
                else:
                    db.execute("DELETE FROM settings WHERE key = 'summary_zone'")
            assert zone_summaries_current(db, zone) is summarised
            numbers = community_tallies(db, [world["A"]], days, zone)
            assert ([numbers[world["A"], d]["deliveries_raised"] for d in days],
                    [numbers[world["A"], d]["deliveries_done"] for d in days]) == expected, zone


def test_report_of_a_town_without_communities(world, db):
    from server import places

    town = places.get_place(db, places.create_place(db, "新建街道", "town", world["district"]))
    report = tally_report(db, town, "2026-03-01", "2026-03-02", ZONE)
    assert report["rows"] == []
    assert report["totals"] == [{"day": d, **dict.fromkeys((k for k, _ in TALLY_FIELDS), 0)}
                                for d in ("2026-03-01", "2026-03-02")]


# --- hours on watch and deliveries per local day (watch_coverage, delivery days) -----------------

def coverage(db) -> dict:
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in db.execute(
        "SELECT checkpoint_id, local_day, community_id, seconds, stretches FROM watch_coverage")}


def delivery_days(db) -> tuple[dict, dict]:
    """Each delivery's local days, and the counts per community and day the triggers keep."""
    return ({r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT id, raised_day, delivered_day FROM deliveries")},
        {(r[0], r[1]): (r[2], r[3]) for r in db.execute(
            """SELECT community_id, local_day, raised, delivered FROM daily_delivery_counts
               WHERE raised > 0 OR delivered > 0""")})


def assert_watch_and_deliveries_agree(db, world, days, now=None, zone=ZONE) -> dict:
    """The tally from watch_coverage and the delivery days equals a recount from the records
    for every community and day, and what the writes kept equals a rebuild from scratch;
    returns the tally's numbers."""
    assert zone_summaries_current(db, zone)
    ids = [world["A"], world["B"], world["C"]]
    numbers = community_tallies(db, ids, days, zone, now)
    recounted = recount_watch_and_deliveries(db, ids, days, zone, now)
    for key, row in recounted.items():
        assert {k: numbers[key][k] for k in RECOUNTED_FIELDS} == row, key
    kept = (coverage(db), delivery_days(db))
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        rebuild_zone_summaries(db, zone)
        assert (coverage(db), delivery_days(db)) == kept
    finally:
        db.conn.execute("ROLLBACK")
    return numbers


def hours(numbers, world, community, days, key="checkpoint_hours_covered") -> list:
    return [numbers[world[community], d][key] for d in days]


def watch(api, token, when, status=201) -> dict:
    body = {"id": new_id(), "token": token, "recorded_at": shanghai_time(when)}
    response = api.post("/api/checkins", json=body)
    assert response.status_code == status, response.json
    return body


def leave(api, checkin, when, status=201) -> dict:
    body = {"id": new_id(), "checkin_id": checkin["id"], "recorded_at": shanghai_time(when)}
    response = api.post("/api/checkouts", json=body)
    assert response.status_code == status, response.json
    return body


def test_watch_coverage_equals_recount_after_live_synced_overlaps_midnight_and_replays(
        as_user, world, db, poster_token):
    cadre, other = as_user("cadre_A"), as_user("cadre_A2")
    gate, gate2 = poster_token("A", "gateA"), poster_token("A", "gateA2")
    days = [f"2026-03-{n:02d}" for n in range(1, 6)]
    # South gate, March 1st: 08:00-16:00 live, overlapped by 12:00-20:00 synced: 12 hours.
    first = watch(other, gate, at(1, 8))
    leave(other, first, at(1, 16))
    overlapping = {"id": new_id(), "type": "checkin", "recorded_at": shanghai_time(at(1, 12)),
                   "data": {"token": gate}}
    closing = {"id": new_id(), "type": "checkout", "recorded_at": shanghai_time(at(1, 20)),
               "data": {"checkin_id": overlapping["id"]}}
    batch = {"device_id": "phone-1", "records": [overlapping, closing]}
    results = cadre.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    # North gate: 23:30 on the 1st to 03:00 on the 2nd, across Shanghai's midnight.
    leave(other, watch(other, gate2, at(1, 23, 30)), at(2, 3))
    numbers = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(numbers, world, "A", days) == [12.5, 3.0, 0.0, 0.0, 0.0]
    assert hours(numbers, world, "A", days, "checkpoint_hours_uncovered") == [
        35.5, 45.0, 48.0, 48.0, 48.0]
    # A replayed batch, live replays and a repeat scan change nothing.
    kept = coverage(db)
    results = cadre.post("/api/sync", json=batch).json["results"]
    assert [r["status"] for r in results] == ["duplicate", "duplicate"]
    assert other.post("/api/checkins", json=first).status_code == 200
    assert coverage(db) == kept
    # A watch never checked out counts MAX_SHIFT (24 hours) and no longer: 18:00 on the 3rd to
    # 18:00 on the 4th, overlapped at its end by a closed one from 17:00 to 19:00.
    watch(cadre, gate2, at(3, 18))
    leave(other, watch(other, gate2, at(4, 17)), at(4, 19))
    numbers = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(numbers, world, "A", days) == [12.5, 3.0, 6.0, 19.0, 0.0]
    # a check-out long after the start still counts MAX_SHIFT only; its days are made again
    late = watch(other, gate, at(5, 1))
    assert hours(assert_watch_and_deliveries_agree(db, world, days), world, "A", days)[4] == 23.0
    leave(other, late, at(6, 9))
    assert hours(assert_watch_and_deliveries_agree(db, world, days), world, "A", days)[4] == 23.0
    leave(other, late, at(6, 10), status=409)


def test_open_watch_today_counts_until_now(as_user, world, db, poster_token):
    other = as_user("cadre_A2")
    now = datetime.now(SHANGHAI).replace(second=0, microsecond=0)
    start = now - timedelta(hours=2)
    watch(other, poster_token("A", "gateA"), start)
    kept = coverage(db)
    watch(other, poster_token("A", "gateA"), start + timedelta(minutes=10), status=200)  # repeat
    assert coverage(db) == kept
    first = start.date() - timedelta(days=1)
    days = [(first + timedelta(days=n)).isoformat() for n in range(4)]  # to tomorrow or later
    for passed in (timedelta(minutes=30), timedelta(minutes=90), timedelta(hours=30)):
        numbers = assert_watch_and_deliveries_agree(db, world, days, start + passed)
        # the part of the watch before `now`, up to MAX_SHIFT, whatever midnights it crosses
        assert sum(hours(numbers, world, "A", days)) == round(
            min(passed, timedelta(hours=24)).total_seconds() / 3600, 2), passed


def test_delivery_days_around_midnight(as_user, world, db):
    cadre = as_user("cadre_A")

    def step(when, action, **extra) -> dict:
        body = {"id": new_id(), "recorded_at": shanghai_time(when), "action": action, **extra}
        response = cadre.post("/api/deliveries", json=body)
        assert response.status_code in (200, 201), response.json
        return body

    late = step(at(1, 23, 50), "raise", household_id=world["hhA1"], kind="medicine", what="退烧药")
    early = step(at(2, 0, 10), "raise", household_id=world["hhA2"], kind="food", what="米")
    step(at(2, 0, 5), "deliver", delivery_id=late["id"])
    step(at(2, 0, 20), "take", delivery_id=early["id"])
    step(at(2, 23, 59), "deliver", delivery_id=early["id"])
    # raised by a screening visit's needs, synced, then the same batch again
    need = visit(world, "hhA1", at(2, 23, 55), residents=[("resA1", {"temperature": 36.5})],
                 needs=[{"kind": "medicine", "what": "降压药"}])
    assert synced(cadre, need) == ["created"]
    assert synced(cadre, need) == ["duplicate"]
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    numbers = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(numbers, world, "A", days, "deliveries_raised") == [1, 2, 0]
    assert hours(numbers, world, "A", days, "deliveries_done") == [0, 2, 0]


def test_rebuilt_at_start_when_the_zone_changes(as_user, world, db, poster_token, tmp_path):
    other = as_user("cadre_A2")
    # 07:30 to 09:30 Shanghai on March 2nd is 00:30 to 02:30 in Berlin, on March 2nd too;
    # 06:00 to 07:30 Shanghai is 23:00 to 00:30 in Berlin, across its midnight
    leave(other, watch(other, poster_token("A", "gateA"), at(2, 6)), at(2, 9, 30))
    step = {"id": new_id(), "recorded_at": shanghai_time(at(2, 6, 30)), "action": "raise",
            "household_id": world["hhA1"], "kind": "food", "what": "菜"}
    assert other.post("/api/deliveries", json=step).status_code == 201
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    shanghai = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(shanghai, world, "A", days) == [0.0, 3.5, 0.0]
    assert hours(shanghai, world, "A", days, "deliveries_raised") == [0, 1, 0]

    def restart(zone: str) -> None:
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret",
                    "TIMEZONE": zone})

    restart("Europe/Berlin")
    berlin = assert_watch_and_deliveries_agree(db, world, days, zone="Europe/Berlin")
    assert hours(berlin, world, "A", days) == [1.0, 2.5, 0.0]
    assert hours(berlin, world, "A", days, "deliveries_raised") == [1, 0, 0]
    # back to Shanghai; a watch written by hand (no write path) is counted by the rebuild
    db.execute("DELETE FROM settings WHERE key = 'summary_zone'")
    db.execute("""INSERT INTO checkins (id, user_id, poster_id, community_id, checkpoint_id,
                      recorded_at, recorded_utc, local_day, received_at, payload_hash)
                  SELECT 'by-hand', user_id, poster_id, community_id, checkpoint_id, recorded_at,
                      '2026-03-02T16:00:00.000000Z', '2026-03-03', received_at, 'h'
                  FROM checkins WHERE checkpoint_id IS NOT NULL""")
    db.conn.commit()
    restart(ZONE)
    again = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(again, world, "A", days) == [0.0, 3.5, 24.0]


def test_v8_migration_then_start_fills_the_zone_summaries(tmp_path, monkeypatch):
    path = tmp_path / "baodao.db"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
    assert init_db(path) == 7
    db = connect(path)
    with db.atomic():
        world = build_world(db)
        db.execute("INSERT INTO posters (id, community_id, checkpoint_id, manual_code, issued_at) "
                   "VALUES ('p', ?, ?, '12345678', '2026-03-01T00:00:00.000000Z')",
                   [world["A"], world["gateA"]])
        for n, (start, stop) in enumerate((("2026-03-01T15:00:00.000000Z",
                                            "2026-03-01T17:00:00.000000Z"),
                                           ("2026-03-01T16:00:00.000000Z", None))):
            db.execute("""INSERT INTO checkins (id, user_id, poster_id, community_id, checkpoint_id,
                              recorded_at, recorded_utc, local_day, received_at, payload_hash)
                          VALUES (?, ?, 'p', ?, ?, ?, ?, '2026-03-02', ?, 'h')""",
                       [f"k{n}", world["cadre_A"], world["A"], world["gateA"], start, start,
                        start])
            if stop:
                db.execute("""INSERT INTO checkouts (id, checkin_id, user_id, recorded_at,
                                  recorded_utc, received_at, payload_hash)
                              VALUES (?, ?, ?, ?, ?, ?, 'h')""",
                           [f"o{n}", f"k{n}", world["cadre_A"], stop, stop, stop])
        db.execute("""INSERT INTO deliveries (id, household_id, community_id, kind, what,
                          raised_by, raised_at, delivered_at)
                      VALUES ('d', ?, ?, 'food', '米', ?, '2026-03-01T15:59:00.000000Z',
                              '2026-03-01T16:01:00.000000Z')""",
                   [world["hhA1"], world["A"], world["cadre_A"]])
    db.close()
    monkeypatch.undo()
    create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret"})
    db = connect(path)
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    numbers = assert_watch_and_deliveries_agree(db, world, days)
    assert hours(numbers, world, "A", days) == [1.0, 24.0, 0.0]  # 23:00 to 00:00 + 24 hours
    assert hours(numbers, world, "A", days, "deliveries_raised") == [1, 0, 0]
    assert hours(numbers, world, "A", days, "deliveries_done") == [0, 1, 0]
    db.close()


def test_rebuilt_at_start_when_max_shift_changes(as_user, world, db, poster_token, tmp_path,
                                                 monkeypatch):
    from server import summaries

    watch(as_user("cadre_A2"), poster_token("A", "gateA"), at(2, 6))  # never checked out
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert hours(assert_watch_and_deliveries_agree(db, world, days), world, "A", days) == [
        0.0, 18.0, 6.0]
    monkeypatch.setattr(summaries, "MAX_SHIFT", timedelta(hours=12))
    assert not zone_summaries_current(db, ZONE)
    create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "SECRET_KEY": "test-secret"})
    assert hours(assert_watch_and_deliveries_agree(db, world, days), world, "A", days) == [
        0.0, 12.0, 0.0]


def test_round_screened_summary_counts_as_round_progress(as_user, world, db, app):
    """The district's progress chart reads round_screened_counts (migration v9); it must say
    what round_progress, which counts from the visits, says of every community."""
    from server import places
    from server.summaries import round_screened
    from server.tallies.progress import round_progress

    day = datetime.now(SHANGHAI).date().isoformat()
    district = db.execute("SELECT path FROM places WHERE id = ?", [world["district"]]).fetchone()[0]
    communities = places.subtree(db, district, "community")

    def agree():
        ids = [c["id"] for c in communities]
        screened, households = round_screened(db, ids, day), household_counts(db, ids)
        for community in communities:
            progress = round_progress(db, community, day)
            expected = (sum(g["screened"] for g in progress["grids"]),
                        sum(g["households"] for g in progress["grids"]))
            if progress["round"] is None:
                assert community["id"] not in screened
                continue
            assert (screened[community["id"]], households[community["id"]]) == expected
        return screened

    cadre, other = as_user("cadre_A"), as_user("cadre_B")
    assert agree()[world["A"]] == 0
    now = datetime.now(SHANGHAI)
    first = visit(world, "hhA1", now - timedelta(minutes=30))
    live(cadre, first)
    live(cadre, visit(world, "hhA1", now - timedelta(minutes=20)))  # again: still one household
    nobody = visit(world, "hhA2", now - timedelta(minutes=10), "nobody_home")
    assert synced(cadre, nobody, nobody) == ["created", "duplicate"]
    live(other, visit(world, "hhB1", now - timedelta(minutes=5), "refused"))
    assert agree()[world["A"]] == 1 and agree()[world["B"]] == 0
    # nobody home, then the door answered: screened
    live(cadre, visit(world, "hhA2", now - timedelta(minutes=2), corrects_id=nobody["id"]))
    assert agree()[world["A"]] == 2
    # deleted by the committee: out of the count and of the households
    assert as_user("committee_A").delete(f"/api/households/{world['hhA1']}").status_code == 200
    assert agree()[world["A"]] == 1
    # restored, and moved to another community, by any writer of the file
    with write_transaction(db):
        db.execute("UPDATE households SET deleted_at = NULL WHERE id = ?", [world["hhA1"]])
    assert agree()[world["A"]] == 2
    with write_transaction(db):
        db.execute("UPDATE households SET community_id = ? WHERE id = ?",
                   [world["B"], world["hhA2"]])
    assert agree()[world["A"]] == 1
    # a new round starts from nothing
    with write_transaction(db):
        db.execute("""INSERT INTO screening_rounds (community_id, name, starts_on, ends_on,
                          created_at) VALUES (?, '第二轮', ?, '2099-12-31', ?)""",
                   [world["A"], day, now.isoformat()])
    assert agree()[world["A"]] == 0
    chart = as_user("admin").get(f"/api/places/{world['district']}/progress.svg")
    assert "0/1" in chart.get_data(as_text=True)  # 甲社区: one household left, none screened
