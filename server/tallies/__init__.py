"""The tallies: today's picture, the daily numbers (日报) and the lists behind them, for
committees, towns and the district. A day is the jurisdiction's local day (config TIMEZONE,
Asia/Shanghai by default).

    today.py     who reported today, who is on watch now, who has not (one community or a rollup)
    engine.py    every number of a community's day (TALLY_FIELDS), the report over a period,
                 the recount of the zone-dependent numbers
    counters.py  the counting engine.py hands out: isolation, hours on watch, deliveries, cadres
    drilldown.py the records behind one number (the tally's links), as a flat table for export
    progress.py  screening round progress, the cadres' work records (一线考察), as tables
    blueprint.py the blueprint the two route modules register on
    routes.py    the JSON and CSV/XLSX routes: parse, check scope, call the above, answer
    pages.py     the printable daily report, the SVG charts

The domain modules take a database handle and plain values and import no Flask; only
routes.py and pages.py read requests, so the routes stay thin.
"""

# The route modules register their routes on the blueprint as they are imported.
from . import pages, routes  # noqa: F401
from .blueprint import bp

__all__ = ["bp"]
