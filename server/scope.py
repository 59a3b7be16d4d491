"""Who may see and do what: roles, the jurisdiction tree, grids, and masking of personal data.

One subsystem that every route and every store function asks (docs/architecture.md, "Scope"):
a role check (`require_role`), a place check (`require_place_in_scope`), a grid check
(`can_work_grid`), and `sees_full` for full ID numbers and phones.

Roles: cadre (下沉干部), leader (队长), committee (of one community), admin (of any node of the
tree, sees everything below it), enterprise (the contact of one enterprise: raises its needs and
confirms its problems solved; outside the cadre world, so `require_role()` without roles leaves
it out and routes open to it name it, e.g. `require_role(*ROLES)`).
"""

from __future__ import annotations

import functools

import sqlite_utils
from flask import current_app
from flask_login import UserMixin, current_user

from . import places
from .errors import ApiError, field_error
from .timeutil import today

ROLES = ("cadre", "leader", "committee", "admin", "enterprise")
# What `require_role()` without roles allows: every role but the enterprise contact.
WORKER_ROLES = ("cadre", "leader", "committee", "admin")
STAFF_ROLES = ("committee", "admin")


class User(UserMixin):
    """The logged-in account, as every permission check sees it."""

    def __init__(self, row: dict, place: dict | None, enterprise: dict | None = None):
        self.id = row["id"]
        self.phone = row["phone"]
        self.name = row["name"]
        self.role = row["role"]
        self.place = place
        self.enterprise = enterprise  # {id, name, community_id} for the enterprise role

    def to_json(self) -> dict:
        place = None
        if self.place:
            place = {k: self.place[k] for k in ("id", "name", "kind")}
        data = {"id": self.id, "name": self.name, "phone": self.phone, "role": self.role,
                "place": place}
        if self.enterprise:
            data["enterprise"] = {k: self.enterprise[k] for k in ("id", "name", "community_id")}
        return data


def require_role(*roles: str):
    """Route decorator: logged in (401) and one of `roles` (403); no roles: WORKER_ROLES."""
    allowed = roles or WORKER_ROLES

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in allowed:
                raise ApiError(403, "forbidden")
            return view(*args, **kwargs)
        return wrapped
    return decorator


# --- the jurisdiction tree --------------------------------------------------------------------

def scope_paths(db: sqlite_utils.Database, user: User) -> list[str]:
    """The tree paths whose subtrees `user` may see as staff (empty for a plain cadre)."""
    if user.role in STAFF_ROLES and user.place:
        return [user.place["path"]]
    if user.role == "leader":
        return [row["path"] for row in db.query(
            """SELECT DISTINCT p.path FROM teams t JOIN places p ON p.id = t.community_id
               WHERE t.leader_id = ?""", [user.id])]
    return []


def in_staff_scope(db: sqlite_utils.Database, user: User, place_id: int) -> bool:
    place = places.get_place(db, place_id)
    return place is not None and any(places.is_within(place, p) for p in scope_paths(db, user))


def require_place_in_scope(db: sqlite_utils.Database, user: User, place_id: int) -> dict:
    """The place, if `user` may see it; 404 if there is no such place, 403 if out of scope."""
    place = places.get_place(db, place_id)
    if place is None:
        raise ApiError(404, "not_found")
    if not any(places.is_within(place, p) for p in scope_paths(db, user)):
        raise ApiError(403, "forbidden")
    return place


# --- grids and assignments --------------------------------------------------------------------

def grid_ids_of(db: sqlite_utils.Database, user_id: int) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT grid_id FROM grid_assignments WHERE user_id = ? ORDER BY grid_id", [user_id])]


def assigned_community_ids(db: sqlite_utils.Database, user_id: int) -> set[int]:
    """The communities a cadre is assigned to on the jurisdiction's today."""
    day = today(current_app.config["TIMEZONE"]).isoformat()
    return {r[0] for r in db.execute(
        """SELECT community_id FROM assignments WHERE user_id = ? AND starts_on <= ?
           AND (ends_on IS NULL OR ends_on >= ?)""", [user_id, day, day])}


def can_work_grid(db: sqlite_utils.Database, user: User, grid_id: int, community_id: int) -> bool:
    """A cadre works their grids and the communities they are assigned to; staff their scope."""
    if user.role in STAFF_ROLES and in_staff_scope(db, user, grid_id):
        return True  # the common case of an office's edits and imports: one read, not three
    return (grid_id in grid_ids_of(db, user.id)
            or community_id in assigned_community_ids(db, user.id)
            or in_staff_scope(db, user, grid_id))


def forbidden_at(path: str) -> ApiError:
    """403 naming the field whose place lies outside the user's jurisdiction."""
    return ApiError(403, "forbidden", fields=[field_error(path, "forbidden", "jurisdiction")])


# --- personal data ----------------------------------------------------------------------------

def sees_full(db: sqlite_utils.Database, user: User, household: dict) -> bool:
    """Full ID numbers and phones: committee/admin in scope, cadres/leaders on their own grids."""
    if user.role in STAFF_ROLES:
        return in_staff_scope(db, user, household["grid_id"])
    return household["grid_id"] in grid_ids_of(db, user.id)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else "****"
