"""The access matrix: every route × every role × own/other jurisdiction → expected status.

`test_every_route_is_in_the_matrix` enumerates the app's URL map, so a new route fails the
suite until its row is written here.
"""

from __future__ import annotations

import pytest
from helpers import PASSWORD, PHONES, Api, new_id, shanghai_time

ROLES = ["anon", "cadre_A", "leader_A", "committee_A", "committee_B", "admin", "town2_admin",
         "mill_contact"]


def everyone(status):
    return dict.fromkeys(ROLES, status)


def logged_in(status, anon=401):
    return {**everyone(status), "anon": anon}


def staff_of_A(ok, denied=403, anon=401):
    """Committee of A and the district admin may; B's committee, town 2's admin, cadres and the
    enterprise contact may not."""
    return {"anon": anon, "cadre_A": denied, "leader_A": denied, "committee_A": ok,
            "committee_B": denied, "admin": ok, "town2_admin": denied, "mill_contact": denied}


class Ctx:
    """What a request needs: the world's ids, live tokens, a check-in of cadre_A."""

    def __init__(self, app, world, poster_token):
        self.app, self.world, self.poster_token = app, world, poster_token

    def poster_id(self, community="A"):
        from server.db import connect

        token = self.poster_token(community)
        db = connect(self.app.config["DATABASE"])
        try:
            return db.execute("SELECT id FROM posters WHERE revoked_at IS NULL AND "
                              "checkpoint_id IS NULL AND community_id = ?",
                              [self.world[community]]).fetchone()[0], token
        finally:
            db.close()

    def cadre_checkin(self):
        api = Api(self.app)
        api.login(PHONES["cadre_A"])
        body = {"id": new_id(), "token": self.poster_token("A", "gateA"),
                "recorded_at": shanghai_time()}
        assert api.post("/api/checkins", json=body).status_code == 201
        return body["id"]


def _checkin_body(ctx):
    return {"id": new_id(), "token": ctx.poster_token("A"), "recorded_at": shanghai_time()}


# (method, rule) → (function making (url, json body) from ctx, expected status per role)
MATRIX = {
    ("GET", "/api/session"): (lambda c: ("/api/session", None), everyone(200)),
    ("POST", "/api/session"): (lambda c: ("/api/session", {"phone": PHONES["cadre_B"],
                                                           "password": PASSWORD}), everyone(200)),
    ("DELETE", "/api/session"): (lambda c: ("/api/session", None), everyone(200)),
    ("POST", "/api/session/password"): (
        lambda c: ("/api/session/password", {"old_password": "wrong", "new_password": "x" * 9}),
        logged_in(403)),
    ("POST", "/api/users/<int:user_id>/sessions/end"): (
        lambda c: (f"/api/users/{c.world['cadre_A2']}/sessions/end", None), staff_of_A(200)),
    ("POST", "/api/users/<int:user_id>/unlock"): (
        lambda c: (f"/api/users/{c.world['cadre_A2']}/unlock", None), staff_of_A(200)),
    ("GET", "/api/posters/resolve"): (
        lambda c: (f"/api/posters/resolve?token={c.poster_token('A')}", None), logged_in(200)),
    ("POST", "/api/checkins"): (lambda c: ("/api/checkins", _checkin_body(c)), logged_in(201)),
    ("POST", "/api/checkouts"): (
        lambda c: ("/api/checkouts", {"id": new_id(), "checkin_id": c.cadre_checkin(),
                                      "recorded_at": shanghai_time()}),
        {**logged_in(403), "cadre_A": 201}),
    ("GET", "/api/checkins/mine"): (lambda c: ("/api/checkins/mine", None), logged_in(200)),
    ("GET", "/api/places"): (lambda c: ("/api/places", None),
                             {**logged_in(200), "cadre_A": 403}),
    ("GET", "/api/places/<int:place_id>/today"): (
        lambda c: (f"/api/places/{c.world['A']}/today", None),
        {**staff_of_A(200), "leader_A": 200}),
    ("GET", "/api/places/<int:place_id>/posters"): (
        lambda c: (f"/api/places/{c.world['A']}/posters", None), staff_of_A(200)),
    ("POST", "/api/posters/<poster_id>/reissue"): (
        lambda c: (f"/api/posters/{c.poster_id()[0]}/reissue", None), staff_of_A(200)),
    ("POST", "/api/sync"): (
        lambda c: ("/api/sync", {"records": [{**{k: v for k, v in _checkin_body(c).items()
                                                 if k != "token"}, "type": "checkin",
                                              "data": {"token": c.poster_token("A")}}]}),
        logged_in(200)),
    ("GET", "/api/sync/changes"): (lambda c: ("/api/sync/changes", None), logged_in(200)),
    ("GET", "/api/openapi.json"): (lambda c: ("/api/openapi.json", None), everyone(200)),
    # Pages: a page asked for without login redirects to the app's login.
    ("GET", "/posters/<poster_id>.svg"): (
        lambda c: (f"/posters/{c.poster_id()[0]}.svg", None), staff_of_A(200, anon=302)),
    ("GET", "/posters/<poster_id>.png"): (
        lambda c: (f"/posters/{c.poster_id()[0]}.png", None), staff_of_A(200, anon=302)),
    ("GET", "/posters/<poster_id>/print"): (
        lambda c: (f"/posters/{c.poster_id()[0]}/print", None), staff_of_A(200, anon=302)),
    ("GET", "/c/<token>"): (lambda c: (f"/c/{c.poster_token('A')}", None), everyone(200)),
    ("GET", "/"): (lambda c: ("/", None), everyone(200)),
    ("GET", "/<path:filename>"): (lambda c: ("/app.js", None), everyone(200)),
    ("GET", "/schemas/<path:filename>"): (lambda c: ("/schemas/checkin.json", None),
                                          everyone(200)),
    ("GET", "/healthz"): (lambda c: ("/healthz", None), everyone(200)),
    ("GET", "/sw.js"): (lambda c: ("/sw.js", None), everyone(200)),
    ("GET", "/api/audit"): (lambda c: ("/api/audit", None),
                            {**logged_in(403), "admin": 200}),
    ("GET", "/api/places/<int:place_id>/tally"): (
        lambda c: (f"/api/places/{c.world['A']}/tally", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/tally.csv"): (
        lambda c: (f"/api/places/{c.world['A']}/tally.csv", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/tally.xlsx"): (
        lambda c: (f"/api/places/{c.world['A']}/tally.xlsx", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/tally/records"): (
        lambda c: (f"/api/places/{c.world['A']}/tally/records?metric=households_refused", None),
        staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/tally/records.csv"): (
        lambda c: (f"/api/places/{c.world['A']}/tally/records.csv?metric=households_refused",
                   None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/tally/records.xlsx"): (
        lambda c: (f"/api/places/{c.world['A']}/tally/records.xlsx?metric=cadres_assigned",
                   None), staff_of_A(200)),
    ("GET", "/reports/<int:place_id>/daily"): (
        lambda c: (f"/reports/{c.world['A']}/daily", None), staff_of_A(200, anon=302)),
    ("GET", "/api/places/<int:place_id>/round-progress"): (
        lambda c: (f"/api/places/{c.world['A']}/round-progress", None),
        {**staff_of_A(200), "leader_A": 200}),
    ("GET", "/api/places/<int:place_id>/round-progress.csv"): (
        lambda c: (f"/api/places/{c.world['A']}/round-progress.csv", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/round-progress.xlsx"): (
        lambda c: (f"/api/places/{c.world['A']}/round-progress.xlsx", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/work-records"): (
        lambda c: (f"/api/places/{c.world['A']}/work-records", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/work-records.csv"): (
        lambda c: (f"/api/places/{c.world['A']}/work-records.csv", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/work-records.xlsx"): (
        lambda c: (f"/api/places/{c.world['A']}/work-records.xlsx", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/trend.svg"): (
        lambda c: (f"/api/places/{c.world['A']}/trend.svg?days=2", None), staff_of_A(200)),
    ("GET", "/api/places/<int:place_id>/progress.svg"): (
        lambda c: (f"/api/places/{c.world['A']}/progress.svg", None), staff_of_A(200)),
}


# --- screening and home isolation ---------------------------------------------------------------

def workers_of_A(ok, denied=403, anon=401):
    """Staff of A, and the cadres who work there (cadre_A's grid, leader_A's community)."""
    return {**staff_of_A(ok, denied, anon), "cadre_A": ok, "leader_A": ok}


def _today():
    from datetime import datetime

    from helpers import SHANGHAI
    return datetime.now(SHANGHAI).date().isoformat()


def _open_case(ctx):
    api = Api(ctx.app)
    api.login(PHONES["cadre_A"])
    body = {"id": new_id(), "recorded_at": shanghai_time(), "resident_id": ctx.world["resA1"],
            "reason": "close_contact", "starts_on": _today(), "policy_id": ctx.world["policy8"]}
    assert api.post("/api/isolation/cases", json=body).status_code == 201
    return body["id"]


MATRIX.update({
    ("GET", "/api/grids"): (lambda c: (f"/api/grids?community_id={c.world['A']}", None),
                            {**staff_of_A(200), "leader_A": 200}),
    ("POST", "/api/grids/<int:grid_id>/cadres"): (
        lambda c: (f"/api/grids/{c.world['gridA']}/cadres", {"user_id": c.world["cadre_A2"]}),
        staff_of_A(200)),
    ("DELETE", "/api/grids/<int:grid_id>/cadres/<int:user_id>"): (
        lambda c: (f"/api/grids/{c.world['gridA']}/cadres/{c.world['cadre_A']}", None),
        staff_of_A(200)),
    ("GET", "/api/households"): (lambda c: ("/api/households", None), logged_in(200)),
    ("POST", "/api/households"): (
        lambda c: ("/api/households", {"household_id": new_id(), "grid_id": c.world["gridA"],
                                       "door": "909"}), workers_of_A(201)),
    ("GET", "/api/households/<household_id>"): (
        lambda c: (f"/api/households/{c.world['hhA1']}", None), workers_of_A(200)),
    ("POST", "/api/households/<household_id>"): (
        lambda c: (f"/api/households/{c.world['hhA1']}", {"base_version": 1, "notes": "x"}),
        workers_of_A(201)),
    ("DELETE", "/api/households/<household_id>"): (
        lambda c: (f"/api/households/{c.world['hhA1']}", None), staff_of_A(200)),
    ("GET", "/api/households/<household_id>/history"): (
        lambda c: (f"/api/households/{c.world['hhA1']}/history", None), staff_of_A(200)),
    ("POST", "/api/residents"): (
        lambda c: ("/api/residents", {"resident_id": new_id(), "household_id": c.world["hhA1"],
                                      "name": "新人"}), workers_of_A(201)),
    ("POST", "/api/residents/<resident_id>"): (
        lambda c: (f"/api/residents/{c.world['resA1']}", {"base_version": 1, "notes": "x"}),
        workers_of_A(201)),
    ("POST", "/api/screening-visits"): (
        lambda c: ("/api/screening-visits", {"id": new_id(), "recorded_at": shanghai_time(),
                                             "household_id": c.world["hhA1"],
                                             "outcome": "nobody_home"}), workers_of_A(201)),
    ("GET", "/api/rounds"): (lambda c: (f"/api/rounds?community_id={c.world['A']}", None),
                             workers_of_A(200)),
    ("POST", "/api/rounds"): (
        lambda c: ("/api/rounds", {"community_id": c.world["A"], "name": "第二轮",
                                   "starts_on": "2026-02-01", "ends_on": "2026-02-07"}),
        staff_of_A(201)),
    ("POST", "/api/places/<int:community_id>/households/import"): (
        lambda c: (f"/api/places/{c.world['A']}/households/import", None), staff_of_A(400)),
    ("GET", "/api/isolation/policies"): (lambda c: ("/api/isolation/policies", None),
                                         logged_in(200)),
    ("POST", "/api/isolation/policies"): (
        lambda c: ("/api/isolation/policies", {
            "place_id": c.world["A"], "name": "甲社区方案",
            "rules": {"slots": ["morning"], "phases": [{"kind": "home_monitoring", "days": 3}]}}),
        staff_of_A(201)),
    ("POST", "/api/isolation/policies/<int:policy_id>"): (
        lambda c: (f"/api/isolation/policies/{c.world['policy9']}", {
            "name": "第九版 密接的密接 居家隔离", "rules": {"slots": ["morning", "evening"], "phases": [
                {"kind": "home_isolation", "days": 7, "test_days": [1, 4, 7]}]}}),
        {**staff_of_A(200), "committee_A": 403}),  # national presets: the district's admin only
    ("GET", "/api/isolation/cases"): (lambda c: ("/api/isolation/cases", None), logged_in(200)),
    ("POST", "/api/isolation/cases"): (
        lambda c: ("/api/isolation/cases", {
            "id": new_id(), "recorded_at": shanghai_time(), "resident_id": c.world["resA1"],
            "reason": "close_contact", "starts_on": _today(), "policy_id": c.world["policy8"]}),
        workers_of_A(201)),
    ("GET", "/api/isolation/cases/<case_id>"): (
        lambda c: (f"/api/isolation/cases/{_open_case(c)}", None), workers_of_A(200)),
    ("POST", "/api/isolation/cases/<case_id>/end"): (
        lambda c: (f"/api/isolation/cases/{_open_case(c)}/end", {
            "base_version": 1, "outcome": "other", "ended_on": _today(), "reason": "搬离"}),
        workers_of_A(200)),
    ("POST", "/api/isolation/visits"): (
        lambda c: ("/api/isolation/visits", {"id": new_id(), "recorded_at": shanghai_time(),
                                             "case_id": _open_case(c), "slot": "evening",
                                             "temperature": 36.5}), workers_of_A(201)),
    ("GET", "/api/deliveries"): (lambda c: ("/api/deliveries", None), logged_in(200)),
    ("POST", "/api/deliveries"): (
        lambda c: ("/api/deliveries", {"id": new_id(), "recorded_at": shanghai_time(),
                                       "action": "raise", "household_id": c.world["hhA1"],
                                       "kind": "medicine", "what": "降压药"}), workers_of_A(201)),
    ("GET", "/api/my/day"): (lambda c: ("/api/my/day", None), logged_in(200)),
})


# --- push notices ---------------------------------------------------------------------------------

def _notice_to_A(ctx):
    """A notice from A's committee to A's cadres (cadre_A, cadre_A2, leader_A)."""
    api = Api(ctx.app)
    api.login(PHONES["committee_A"])
    response = api.post("/api/notices", json={"title": "明早全员核酸", "target": {"place_id":
                                                                              ctx.world["A"]}})
    assert response.status_code == 201, response.json
    return response.json["notice"]["id"]


def _subscription():
    from test_push import browser_subscription

    return browser_subscription("https://fcm.googleapis.com/fcm/send/" + new_id())[0]


MATRIX.update({
    ("GET", "/api/push/key"): (lambda c: ("/api/push/key", None), everyone(200)),
    ("GET", "/api/time"): (lambda c: ("/api/time", None), everyone(200)),
    ("GET", "/api/rules"): (lambda c: ("/api/rules", None), everyone(200)),
    ("POST", "/api/push/subscriptions"): (
        lambda c: ("/api/push/subscriptions", _subscription()), logged_in(201)),
    ("DELETE", "/api/push/subscriptions"): (
        lambda c: ("/api/push/subscriptions?device_id=phone-1", None), logged_in(200)),
    ("POST", "/api/notices"): (
        lambda c: ("/api/notices", {"title": "通知", "target": {"place_id": c.world["A"]}}),
        staff_of_A(201)),
    ("GET", "/api/notices"): (lambda c: ("/api/notices", None),
                              {**logged_in(200), "cadre_A": 403, "leader_A": 403}),
    ("GET", "/api/notices/<notice_id>"): (
        lambda c: (f"/api/notices/{_notice_to_A(c)}", None), staff_of_A(200)),
    ("GET", "/api/inbox"): (lambda c: ("/api/inbox", None), logged_in(200)),
    ("POST", "/api/inbox/<notice_id>/read"): (  # only a recipient: others are told nothing
        lambda c: (f"/api/inbox/{_notice_to_A(c)}/read", None),
        {**everyone(404), "anon": 401, "cadre_A": 200, "leader_A": 200}),
})


# --- mobilisation: needs, enterprises, tickets, inspections, mode --------------------------------

def _as(ctx, who):
    api = Api(ctx.app)
    assert api.login(PHONES[who]).status_code == 200
    return api


def _help_need(ctx):
    """The mill's contact asks for help: a need of the mill (in community A)."""
    response = _as(ctx, "mill_contact").post("/api/needs", json={
        "kind": "help", "title": "需要粮食局协助调运小麦", "category": "materials",
        "department": "区粮食局"})
    assert response.status_code == 201, response.json
    return response.json["need"]["id"]


def _ticket(ctx, status="open"):
    body = {"id": new_id(), "recorded_at": shanghai_time(), "enterprise_id": ctx.world["mill"],
            "category": "materials", "description": "小麦库存不足", "status": status}
    assert _as(ctx, "committee_A").post("/api/tickets", json=body).status_code == 201
    return body["id"]


def _phone():
    import random

    return "1370" + "".join(random.choice("0123456789") for _ in range(7))


def _home_unit_id(ctx):
    from server.db import connect

    db = connect(ctx.app.config["DATABASE"])
    try:
        return db.execute("SELECT id FROM home_units WHERE name = '区粮食局'").fetchone()[0]
    finally:
        db.close()


def _unit_registration(ctx):
    api = _as(ctx, "committee_A")
    response = api.post("/api/unit-registrations",
                        json={"home_unit": "区卫健委", "community_id": ctx.world["A"]})
    assert response.status_code == 201, response.json
    return response.json["unit_registration"]["id"]


def not_mill(expected):
    return {**expected, "mill_contact": 403}


def cadres_only(ok):
    return {**everyone(403), "anon": 401, "cadre_A": ok, "leader_A": ok}


def root_admin(ok):
    return {**everyone(403), "anon": 401, "admin": ok}


MATRIX.update({
    ("GET", "/api/registrations"): (lambda c: ("/api/registrations", None),
                                    not_mill(logged_in(200))),
    ("POST", "/api/registrations"): (
        lambda c: ("/api/registrations", {"community_id": c.world["A"]}), cadres_only(201)),
    ("GET", "/api/unit-registrations"): (
        lambda c: (f"/api/unit-registrations?place_id={c.world['A']}", None), staff_of_A(200)),
    ("POST", "/api/unit-registrations"): (
        lambda c: ("/api/unit-registrations", {"home_unit": "区粮食局", "community_id": c.world["A"]}),
        staff_of_A(201)),
    ("DELETE", "/api/unit-registrations/<int:registration_id>"): (
        lambda c: (f"/api/unit-registrations/{_unit_registration(c)}", None), staff_of_A(200)),
    ("GET", "/api/home-units"): (
        lambda c: ("/api/home-units", None),
        {**everyone(200), "anon": 401, "cadre_A": 403, "leader_A": 403, "mill_contact": 403}),
    ("GET", "/api/needs"): (lambda c: ("/api/needs", None),
                            {**logged_in(200), "cadre_A": 403, "leader_A": 403}),
    ("POST", "/api/needs"): (
        lambda c: ("/api/needs", {"kind": "people", "community_id": c.world["A"], "title": "排查",
                                  "task": "screening", "people": 2}), staff_of_A(201)),
    ("GET", "/api/needs/<int:need_id>"): (
        lambda c: (f"/api/needs/{_help_need(c)}", None), {**staff_of_A(200), "mill_contact": 200}),
    ("POST", "/api/needs/<int:need_id>/status"): (
        lambda c: (f"/api/needs/{_help_need(c)}/status", {"status": "closed"}),
        {**staff_of_A(200), "mill_contact": 200}),
    ("GET", "/api/needs/<int:need_id>/proposals"): (
        lambda c: (f"/api/needs/{_help_need(c)}/proposals", None), staff_of_A(200)),
    ("POST", "/api/needs/<int:need_id>/assignments"): (
        lambda c: (f"/api/needs/{_help_need(c)}/assignments",
                   {"user_ids": [c.world["cadre_B"]]}), staff_of_A(200)),
    ("GET", "/api/my/assignments"): (lambda c: ("/api/my/assignments", None),
                                     not_mill(logged_in(200))),
    ("GET", "/api/call-ups"): (lambda c: ("/api/call-ups", None), not_mill(logged_in(200))),
    ("POST", "/api/call-ups"): (
        lambda c: ("/api/call-ups", {"title": "紧急动员", "target": {
            "place_id": c.world["A"], "home_unit_ids": [_home_unit_id(c)]}}), root_admin(201)),
    ("POST", "/api/volunteers"): (
        lambda c: ("/api/volunteers", {"id": new_id(), "recorded_at": shanghai_time()}),
        cadres_only(201)),
    ("GET", "/api/enterprises"): (lambda c: ("/api/enterprises", None), logged_in(200)),
    ("POST", "/api/enterprises"): (
        lambda c: ("/api/enterprises", {"name": "新厂" + new_id()[:6], "community_id": c.world["A"]}),
        staff_of_A(201)),
    ("GET", "/api/enterprises/<int:enterprise_id>"): (
        lambda c: (f"/api/enterprises/{c.world['mill']}", None),
        {**staff_of_A(200), "mill_contact": 200}),
    ("POST", "/api/enterprises/<int:enterprise_id>/contacts"): (
        lambda c: (f"/api/enterprises/{c.world['mill']}/contacts",
                   {"phone": _phone(), "name": "副经理", "password": "mianfen-chang-7"}), staff_of_A(201)),
    ("GET", "/api/departments"): (lambda c: ("/api/departments", None), logged_in(200)),
    ("POST", "/api/departments"): (
        lambda c: ("/api/departments", {"category": "other", "departments": ["区工信局"]}),
        root_admin(200)),
    ("GET", "/api/tickets"): (lambda c: ("/api/tickets", None), logged_in(200)),
    ("POST", "/api/tickets"): (
        lambda c: ("/api/tickets", {"id": new_id(), "recorded_at": shanghai_time(),
                                    "enterprise_id": c.world["mill"], "category": "finance",
                                    "description": "贷款到期"}), staff_of_A(201)),
    ("GET", "/api/tickets/<ticket_id>"): (
        lambda c: (f"/api/tickets/{_ticket(c)}", None), {**staff_of_A(200), "mill_contact": 200}),
    ("POST", "/api/tickets/<ticket_id>/updates"): (
        lambda c: (f"/api/tickets/{_ticket(c)}/updates", {"status": "coordinating"}),
        staff_of_A(201)),
    ("POST", "/api/tickets/<ticket_id>/confirm"): (
        lambda c: (f"/api/tickets/{_ticket(c, 'solved')}/confirm", {"solved": True}),
        {**everyone(403), "anon": 401, "mill_contact": 200}),
    ("GET", "/api/places/<int:place_id>/problems"): (
        lambda c: (f"/api/places/{c.world['A']}/problems", None), staff_of_A(200)),
    ("GET", "/api/inspections"): (
        lambda c: (f"/api/inspections?place_id={c.world['A']}", None), staff_of_A(200)),
    ("POST", "/api/inspections"): (
        lambda c: ("/api/inspections", {"community_id": c.world["A"],
                                        "inspected_at": shanghai_time(),
                                        "cadres": [{"user_id": c.world["cadre_A"]}]}),
        {**staff_of_A(201), "committee_A": 403}),
    ("GET", "/api/mode"): (lambda c: ("/api/mode", None), everyone(200)),
    ("POST", "/api/mode"): (lambda c: ("/api/mode", {"mode": "emergency"}), root_admin(200)),
})

# The enterprise contact is outside the cadre world: the routes open to every logged-in worker
# (require_role() without roles) answer it 403; its inbox, push and sync stay open to it.
for _route in [("GET", "/api/checkins/mine"), ("GET", "/api/deliveries"), ("GET", "/api/households"),
               ("GET", "/api/isolation/cases"), ("GET", "/api/isolation/policies"),
               ("GET", "/api/my/day"), ("GET", "/api/notices"), ("GET", "/api/places"),
               ("GET", "/api/posters/resolve"), ("POST", "/api/checkins")]:
    MATRIX[_route] = (MATRIX[_route][0], not_mill(MATRIX[_route][1]))


def test_every_route_is_in_the_matrix(app):
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    routes.discard(("GET", "/static/<path:filename>"))
    assert sorted(routes - set(MATRIX)) == []
    assert sorted(set(MATRIX) - routes) == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_access(app, world, poster_token, route, role):
    make, expected = MATRIX[route]
    ctx = Ctx(app, world, poster_token)
    url, body = make(ctx)
    api = Api(app)
    if role != "anon":
        assert api.login(PHONES[role]).status_code == 200
    method = route[0]
    if method == "GET":
        response = api.get(url)
    elif method == "DELETE":
        response = api.delete(url)
    else:
        response = api.post(url, json=body)
    assert response.status_code == expected[role], response.get_data(as_text=True)[:300]
