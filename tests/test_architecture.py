"""The arrows of docs/architecture.md, checked on the source: a module that imports across a
forbidden arrow, a function that outgrows a screen, or a pointer out of the repository fails here."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from config import APP_ROOT

PRODUCTION = ("bot", "campaign", "dashboard", "exports", "schedules", "storage", "server.py", "runtime.py",
              "config.py", "models.py", "commands.py")
# The only modules of bot/ that may touch the database: the inbound-message store and the token store.
STORES = {"bot/inbox.py", "bot/tokens.py"}
MAX_FUNCTION_LINES = 60


def sources(*roots: str) -> list[Path]:
    found = []
    for root in roots:
        path = APP_ROOT / root
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def imported(path: Path, allowed: frozenset[str] = frozenset()) -> set[str]:
    """Top-level names of every module the file imports, at module level or inside a function
    (leaving out the modules named in `allowed`)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names if alias.name not in allowed}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level and node.module not in allowed:
            names.add(node.module.split(".")[0])
    return names


def rel(path: Path) -> str:
    return path.relative_to(APP_ROOT).as_posix()


def test_bot_dashboard_and_exports_reach_the_database_only_through_campaign():
    wrong = {rel(p): sorted(imported(p) & {"models", "storage"}) for p in sources("bot", "dashboard", "exports")
             if rel(p) not in STORES}
    assert {p: names for p, names in wrong.items() if names} == {}


def _tables_imported(path: Path) -> list[str]:
    """What the file takes from models/ or storage/ beyond `db` (opening and closing connections)."""
    name, found = rel(path) if path.is_relative_to(APP_ROOT) else path.name, []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("models", "storage"):
            found += [f"{name}:{node.lineno} {node.module}.{a.name}" for a in node.names if a.name != "db"]
        elif isinstance(node, ast.Import):
            found += [f"{name}:{node.lineno} {a.name}" for a in node.names
                      if a.name.split(".")[0] in ("models", "storage")]
    return found


def test_the_scheduler_reads_and_writes_rows_only_through_campaign():
    """Who is pending, who is counted, what was sent: schedules/ asks campaign/ (it may hold a connection)."""
    assert [w for p in sources("schedules") for w in _tables_imported(p)] == []


def test_the_table_check_sees_a_model_imported(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from models import db, Staff\n    import storage.engine\n", encoding="utf-8")
    assert [w.split(" ")[1] for w in _tables_imported(sample)] == ["models.Staff", "storage.engine"]


# A template that compares a role or a stored state itself is a second copy of a rule: the nav
# asks may_open() (campaign.access.PAGES), states come as STORED/LOST, words through filters.
TEMPLATE_RULES = re.compile(r"\.(role|state|status)\s*(==|!=|in\b)\s*['\"(]")


def test_templates_compare_no_role_and_no_stored_state_themselves():
    templates = sorted((APP_ROOT / "dashboard" / "templates").glob("*.html"))
    assert templates
    wrong = [f"{t.name}:{n}: {line.strip()[:80]}" for t in templates
             for n, line in enumerate(t.read_text(encoding="utf-8").splitlines(), 1) if TEMPLATE_RULES.search(line)]
    assert wrong == []


def test_the_template_check_sees_a_role_or_a_state_compared():
    assert TEMPLATE_RULES.search("{% if g.viewer.role == 'leader' %}")
    assert TEMPLATE_RULES.search("{% if who.role in ('organiser', 'leader') %}")
    assert TEMPLATE_RULES.search("{% if p.state != 'stored' %}")
    assert not TEMPLATE_RULES.search("{% if p.state == STORED %}{{ p.role|role_word }}{{ p.status|status_word }}")


def test_campaign_knows_nothing_of_the_web_the_platform_or_the_scheduler():
    forbidden = {"flask", "werkzeug", "wechatpy", "bot", "schedules", "dashboard", "emulator", "runtime", "commands"}
    # werkzeug's password hashing (scrypt) is not the web: campaign.sessions checks passwords.
    wrong = {rel(p): sorted(imported(p, frozenset({"werkzeug.security"})) & forbidden) for p in sources("campaign")}
    assert {p: names for p, names in wrong.items() if names} == {}


def test_production_code_never_imports_the_emulator():
    wrong = [rel(p) for p in sources(*PRODUCTION) if "emulator" in imported(p)]
    assert wrong == []


def test_the_arrow_checks_see_a_forbidden_import(tmp_path):
    """The checks above read real imports: a lazy one inside a function is seen too."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from models import Staff\n    import flask.json\n", encoding="utf-8")
    assert imported(sample) == {"models", "flask"}


def test_no_production_function_runs_past_a_screen():
    long = []
    for path in sources(*PRODUCTION):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{rel(path)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=APP_ROOT, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".toml", ".txt", ".html", ".js", ".css", ".csv", ".ini", ".cfg", ".conf", ".sh", ""}
    return [APP_ROOT / name for name in out.stdout.splitlines()
            if Path(name).suffix in suffixes and (APP_ROOT / name).is_file()]


def test_nothing_in_the_project_points_outside_the_repository():
    outside = ("DESIGN.md", "../shared", "/work/")
    this = Path(__file__).resolve()
    wrong = [f"{rel(p)}: {word}" for p in tracked_text_files() if p.resolve() != this
             for word in outside if word in p.read_text(encoding="utf-8", errors="replace")]
    assert wrong == []


APPEND_ONLY = {"AssessmentEntry", "AssessmentFreeze"}  # the assessment's audit trail


def _writes_to_append_only(path: Path) -> list[str]:
    name = rel(path) if path.is_relative_to(APP_ROOT) else path.name
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in APPEND_ONLY \
                and node.attr in ("update", "delete", "replace", "replace_many", "insert_many", "bulk_update"):
            found.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr in ("save", "delete_instance") and name in (
                "campaign/assessment.py", "exports/assessment_book.py", "dashboard/yearend.py"):
            found.append(f"{name}:{node.lineno} .{node.attr}()")
    return found


def test_assessment_entries_are_only_ever_added_never_edited_or_deleted():
    assert [w for p in sources(*PRODUCTION) for w in _writes_to_append_only(p)] == []


def test_the_append_only_check_sees_an_edit(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    AssessmentEntry.update(points=0).execute()\n", encoding="utf-8")
    assert len(_writes_to_append_only(sample)) == 1
