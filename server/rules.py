"""The domain's thresholds and statuses, in one place.

The server counts, alerts and validates by these; the PWA reads the same values from
`GET /api/rules` (served by server/pwa.py), so a phone never keeps a copy of its own. SQL that
must hold the same rule (the summary triggers of server/migrations.py) is checked against
these values by tests/test_schema_sql.py. See docs/architecture.md, "Where each rule lives".
"""

from __future__ import annotations

from flask import current_app

from .errors import field_error
from .timeutil import today

# A temperature at or above this (°C), or any symptom, is a fever alert and counts as
# "fever or symptoms" in the tallies.
FEVER = 37.3
# A temperature outside this range (°C) is a typing error, not a reading.
TEMPERATURE_RANGE = (34.0, 43.0)

SCREENING_OUTCOMES = ("answered", "nobody_home", "refused")
CASE_STATUSES = ("open", "ended")
CASE_END_OUTCOMES = ("released", "transferred", "other")
TICKET_STATUSES = ("open", "coordinating", "solved", "cannot_solve")
TICKET_DONE = ("solved", "cannot_solve")  # closed tickets sort last
DELIVERY_STATUSES = ("open", "taken", "delivered")


def is_feverish(temperature: float | None, symptoms: list[str] | None) -> bool:
    return (temperature or 0) >= FEVER or bool(symptoms)


def health_reasons(temperature: float | None, symptoms: list[str]) -> list[str]:
    """What makes a visit alarming: a temperature at or above FEVER, any symptom."""
    reasons = [f"{temperature:.1f}°C"] if (temperature or 0) >= FEVER else []
    return reasons + list(symptoms or [])


def temperature_errors(values: dict[str, float | None]) -> list[dict]:
    """Errors for temperatures (path → °C) outside TEMPERATURE_RANGE."""
    low, high = TEMPERATURE_RANGE
    return [field_error(path, "temperature_range", "temperature_range")
            for path, value in values.items() if value is not None and not low <= value <= high]


def future_date_errors(values: dict[str, str | None]) -> list[dict]:
    """Errors for dates (path → YYYY-MM-DD) after the jurisdiction's today."""
    limit = today(current_app.config["TIMEZONE"]).isoformat()
    return [field_error(path, "in_future", "future")
            for path, value in values.items() if value and value > limit]


def as_json() -> dict:
    """The rules the PWA needs (GET /api/rules)."""
    return {"fever": FEVER, "temperature_range": list(TEMPERATURE_RANGE),
            "screening_outcomes": list(SCREENING_OUTCOMES), "case_statuses": list(CASE_STATUSES),
            "case_end_outcomes": list(CASE_END_OUTCOMES),
            "ticket_statuses": list(TICKET_STATUSES), "delivery_statuses": list(DELIVERY_STATUSES)}
