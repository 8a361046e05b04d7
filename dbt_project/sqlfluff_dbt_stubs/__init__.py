"""What sqlfluff's jinja templater lacks of dbt to render this project's models (.sqlfluff: library_path).

sqlfluff stubs ``ref``, ``source``, ``config``, ``is_incremental`` and ``this`` itself (apply_dbt_builtins) and loads
the project's macros (load_macros_from_path). Names here take precedence over its stubs: ``var`` returns the
project's real vars (dbt_project.yml), so loops over them render as dbt renders them; the rest render SQL of the
same shape as dbt's, which is all a linter needs. Never imported by dbt or the project's code.
"""

from pathlib import Path

import yaml
from jinja2 import pass_context
from jinja2.runtime import missing

_VARS = (yaml.safe_load((Path(__file__).parent.parent / "dbt_project.yml").read_text()) or {}).get("vars") or {}


def var(name, default=None):
    """dbt's ``var``: the project's value (dbt_project.yml), else ``default``."""
    return _VARS.get(name, default)


class _Adapter:
    """``adapter.dispatch('macro', 'package')(args)`` renders the project's ``duckdb__macro`` or ``default__macro``
    (the SQL dbt-duckdb renders), else a call ``macro(args)``; ``adapter.quote`` quotes as DuckDB."""

    @staticmethod
    def dispatch(name, package=None):
        @pass_context
        def call(context, *args, **kwargs):
            for prefix in ("duckdb__", "default__"):
                macro = context.resolve_or_missing(prefix + name)
                if macro is not missing and callable(macro):
                    return macro(*args, **kwargs)
            return f"{name}({', '.join(str(a) for a in args)})"

        return call

    @staticmethod
    def quote(identifier):
        return f'"{identifier}"'


class _Dbt:
    """dbt's cross-database macros as DuckDB renders them (the ones the models use)."""

    @staticmethod
    def dateadd(datepart, interval, from_date_or_timestamp):
        return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"

    @staticmethod
    def datediff(first_date, second_date, datepart):
        return f"date_diff('{datepart}', {first_date}, {second_date})"


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message):
        raise ValueError(message)

    @staticmethod
    def warn(message):
        return ""


class _Timestamp:
    @staticmethod
    def isoformat():
        return "2026-01-01T00:00:00+00:00"

    def __str__(self):
        return self.isoformat()


adapter = _Adapter()
dbt = _Dbt()
exceptions = _Exceptions()
run_started_at = _Timestamp()
invocation_id = "00000000-0000-0000-0000-000000000000"
target = type("Target", (), {"type": "duckdb", "name": "dev", "schema": "main"})()
execute = False  # column_or_null: no warehouse to ask for columns
