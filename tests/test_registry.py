"""agents.yaml: parsing, the messages of every error (with their lines), and routing."""

from __future__ import annotations

import os
import pickle
from decimal import Decimal
from pathlib import Path

import pytest

from celery_office.core.errors import OfficeError
from celery_office.core.limits import SALARY_MAX
from celery_office.registry import (
    AgentSpec,
    Registry,
    RegistryError,
    TaskRoute,
    load_registry,
    parse_registry,
)
from celery_office.registry import parser as registry_module  # where the file is read

EXAMPLE = """\
defaults:                      # optional; every agent inherits these
  brand: ohana_market
  salary_equivalent: 60000
  fte_coefficient: 1.0
agents:
  watcher_price_monitor:       # agent_id
    department: watcher
    name: Мониторинг цен
    tasks:                     # task name or shell-style glob (fnmatch) -> text shown while it runs
      app.tasks.watcher.polling.poll_prices: Сканирование цен конкурентов
      "app.tasks.watcher.scan_*": null          # null: show the task's own name
  content_descriptions:
    department: content_factory
    name: Генератор описаний
    brand: null                # overrides the default
    salary_equivalent: 45000
    tasks:
      app.tasks.content_factory.generate.generate_descriptions: Генерация описаний товаров
"""

# One agent; {extra} is line 5, department line 3, name line 4, the task line 7.
AGENT = """\
agents:
  watcher:
    department: {department}
    name: {name}
    {extra}
    tasks:
      app.tasks.poll: Polling
"""


def agent_yaml(department: str = "watcher", name: str = "Monitor", extra: str = "brand: b") -> str:
    return AGENT.format(department=department, name=name, extra=extra)


def error_of(text: str) -> RegistryError:
    with pytest.raises(RegistryError) as info:
        parse_registry(text)
    return info.value


def write(tmp_path: Path, text: str, name: str = "agents.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Valid files


def test_example_parses_with_defaults_applied_and_overridden(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, EXAMPLE))

    assert list(registry.agents) == ["watcher_price_monitor", "content_descriptions"]
    watcher = registry.agents["watcher_price_monitor"]
    assert watcher == AgentSpec(
        agent_id="watcher_price_monitor",
        department="watcher",
        name="Мониторинг цен",
        brand="ohana_market",
        salary_equivalent=60000,
        fte_coefficient=Decimal("1.00"),
        tasks={
            "app.tasks.watcher.polling.poll_prices": "Сканирование цен конкурентов",
            "app.tasks.watcher.scan_*": None,
        },
        line=6,
    )
    assert list(watcher.tasks) == [
        "app.tasks.watcher.polling.poll_prices",
        "app.tasks.watcher.scan_*",
    ]
    content = registry.agents["content_descriptions"]
    assert content.brand is None  # null overrides the default brand
    assert content.salary_equivalent == 45000
    assert content.fte_coefficient == Decimal("1.00")
    assert content.line == 12


def test_builtin_defaults_without_defaults_section() -> None:
    agent = parse_registry(agent_yaml(extra="fte_coefficient: 0.5")).agents["watcher"]

    assert agent.brand is None
    assert agent.salary_equivalent == 60000
    assert agent.fte_coefficient == Decimal("0.50")
    assert isinstance(agent.fte_coefficient, Decimal)


@pytest.mark.parametrize(("value", "expected"), [("2", "2.00"), ("9.99", "9.99"), ("0", "0.00")])
def test_fte_limits_accepted(value: str, expected: str) -> None:
    agent = parse_registry(agent_yaml(extra=f"fte_coefficient: {value}")).agents["watcher"]
    assert agent.fte_coefficient == Decimal(expected)


def test_salary_max_accepted() -> None:
    agent = parse_registry(agent_yaml(extra=f"salary_equivalent: {SALARY_MAX}")).agents["watcher"]
    assert agent.salary_equivalent == SALARY_MAX


def test_cyrillic_file_loads(tmp_path: Path) -> None:
    text = agent_yaml(department="Отдел мониторинга", name="Мониторинг цен конкурентов").replace(
        "Polling", "Сканирование цен"
    )
    path = tmp_path / "агенты.yaml"
    path.write_bytes(text.encode("utf-8"))

    agent = load_registry(path).agents["watcher"]

    assert agent.department == "Отдел мониторинга"
    assert agent.name == "Мониторинг цен конкурентов"
    assert agent.tasks["app.tasks.poll"] == "Сканирование цен"


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + agent_yaml(name="Мониторинг").encode("utf-8"))
    assert load_registry(path).agents["watcher"].name == "Мониторинг"


def test_merge_keys_may_be_overridden_without_duplicate_error() -> None:
    text = """\
agents:
  first: &base
    department: watcher
    name: First
    tasks:
      app.tasks.a: A
  second:
    <<: *base
    name: Second
    tasks:
      app.tasks.b: B
"""
    second = parse_registry(text).agents["second"]
    assert (second.department, second.name, dict(second.tasks)) == (
        "watcher",
        "Second",
        {"app.tasks.b": "B"},
    )


# --------------------------------------------------------------------------------------------
# File errors


def test_missing_file_names_the_path_and_the_setting(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegistryError) as info:
        load_registry("agents.yaml")
    absolute = os.path.join(str(tmp_path), "agents.yaml")
    assert str(info.value) == (
        f"agents.yaml: file not found (absolute path: {absolute}); create it, or set "
        "office_agents_file / OFFICE_AGENTS_FILE to the registry file's path"
    )
    assert info.value.path == "agents.yaml"  # shown as given
    assert info.value.line is None


def test_missing_file_uses_the_callers_setting_hint(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"set CELERY_OFFICE_AGENTS to the registry"):
        load_registry(tmp_path / "none.yaml", setting_hint="CELERY_OFFICE_AGENTS")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: is a directory, not a file (absolute path: {tmp_path}); set "
        "office_agents_file / OFFICE_AGENTS_FILE to the registry file's path"
    )


def test_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, EXAMPLE)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # Patch the module's `open` (a global shadows the builtin): running as root ignores chmod.
    monkeypatch.setattr(registry_module, "open", denied, raising=False)
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert str(info.value) == (
        f"{path}: cannot read the file: Permission denied (absolute path: {path}); make it "
        "readable by the worker's user, or set office_agents_file / OFFICE_AGENTS_FILE to the "
        "registry file's path"
    )


def test_file_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_bytes(agent_yaml(name="Мониторинг").encode("cp1251"))
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert info.value.line == 4
    assert "not valid UTF-8" in str(info.value)
    assert "save the file with UTF-8 encoding" in str(info.value)


# --------------------------------------------------------------------------------------------
# Document errors


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n"])
def test_empty_file(text: str) -> None:
    assert str(error_of(text)) == (
        "agents.yaml: the file is empty (or only comments); it needs an 'agents' mapping of "
        "agent id -> department, name and tasks"
    )


def test_top_level_not_a_mapping() -> None:
    assert str(error_of("# agents\n- watcher\n- content\n")) == (
        "agents.yaml:2: the top level must be a mapping with 'agents' (and optionally "
        "'defaults'), got a list"
    )


def test_invalid_yaml_reports_line_and_column() -> None:
    text = "agents:\n  watcher:\n    department: watcher\n    name Monitor\n    tasks: {}\n"
    err = error_of(text)
    assert err.line == 5
    assert str(err) == (
        "agents.yaml:5: invalid YAML at column 5: while scanning a simple key (line 4): "
        "could not find expected ':'"
    )


def test_invalid_yaml_tab_indent() -> None:
    err = error_of("agents:\n\twatcher: {}\n")
    assert str(err) == (
        "agents.yaml:2: invalid YAML at column 1: found character '\\t' that cannot start any token"
    )


def test_agents_missing() -> None:
    assert str(error_of("defaults:\n  brand: x\n")) == (
        "agents.yaml:1: field 'agents': missing the 'agents' mapping "
        "(agent id -> department, name and tasks)"
    )


@pytest.mark.parametrize("text", ["agents:\n", "agents: {}\n", "# x\nagents: ~\n"])
def test_agents_empty(text: str) -> None:
    err = error_of(text)
    assert err.problem == "no agents; add at least one agent under 'agents'"
    assert err.field == "agents"
    assert err.line == text.count("\n")


def test_agents_not_a_mapping() -> None:
    assert str(error_of("agents:\n  - watcher\n")) == (
        "agents.yaml:2: field 'agents': expected a mapping of agent id -> department, name and "
        "tasks, got a list"
    )


def test_unknown_top_level_key() -> None:
    assert str(error_of("agent:\n  x: {}\n")) == (
        "agents.yaml:1: field 'agent': unknown key (did you mean 'agents'?)"
    )


def test_unknown_top_level_key_without_suggestion() -> None:
    assert error_of(agent_yaml() + "workers: 3\n").problem == (
        "unknown key; allowed keys: defaults, agents"
    )


def test_path_is_shown_as_given() -> None:
    with pytest.raises(RegistryError) as info:
        parse_registry("", path="conf/../agents.yaml")
    assert str(info.value).startswith("conf/../agents.yaml: ")


# --------------------------------------------------------------------------------------------
# Duplicated keys (PyYAML would silently keep the last one)


def test_duplicate_agent_id() -> None:
    text = agent_yaml() + "  watcher:\n    department: d\n    name: n\n    tasks: {a.b: x}\n"
    err = error_of(text)
    assert str(err) == (
        "agents.yaml:8: agent 'watcher': duplicate agent id 'watcher' (first defined at line 2); "
        "agent ids must be unique: rename or remove one"
    )
    assert (err.line, err.agent, err.field) == (8, "watcher", None)


def test_duplicate_field_key() -> None:
    assert str(error_of(agent_yaml(extra="name: Other"))) == (
        "agents.yaml:5: agent 'watcher': field 'name': duplicate key (first defined at line 4); "
        "keep one"
    )


def test_duplicate_task_pattern() -> None:
    text = agent_yaml() + "      app.tasks.poll: Again\n"
    assert str(error_of(text)) == (
        "agents.yaml:8: agent 'watcher': field 'tasks': duplicate task pattern 'app.tasks.poll' "
        "(first listed at line 7); keep one"
    )


def test_duplicate_top_level_key() -> None:
    text = "defaults:\n  brand: a\n" + agent_yaml() + "defaults:\n  brand: b\n"
    assert str(error_of(text)) == (
        "agents.yaml:10: field 'defaults': duplicate top-level key (first defined at line 1); "
        "keep one"
    )


def test_duplicate_defaults_key() -> None:
    text = "defaults:\n  brand: a\n  brand: b\n" + agent_yaml()
    assert str(error_of(text)) == (
        "agents.yaml:3: field 'defaults.brand': duplicate key (first defined at line 2); keep one"
    )


# --------------------------------------------------------------------------------------------
# Keys of agents and defaults


def test_unknown_agent_key_suggests_the_right_one() -> None:
    text = "\n" * 8 + """\
agents:
  reputation_wb:
    name: Reputation
    departmnet: reputation
    tasks:
      app.tasks.reputation.scan: Scanning reviews
"""
    err = error_of(text)
    assert str(err) == (
        "agents.yaml:12: agent 'reputation_wb': field 'departmnet': unknown key "
        "(did you mean 'department'?)"
    )
    assert (err.path, err.line, err.agent, err.field) == (
        "agents.yaml",
        12,
        "reputation_wb",
        "departmnet",
    )
    assert err.problem == "unknown key (did you mean 'department'?)"


def test_unknown_agent_key_without_suggestion_lists_allowed() -> None:
    # (schedule: is a key of its own now, with its own errors: see test_registry_timing.py)
    assert str(error_of(agent_yaml(extra="priority: high"))) == (
        "agents.yaml:5: agent 'watcher': field 'priority': unknown key; allowed keys: "
        "department, name, brand, salary_equivalent, fte_coefficient, tasks, schedule, grace, "
        "max_runtime"
    )


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("Department", "department"), ("fte", "fte_coefficient"), ("task", "tasks")],
)
def test_unknown_key_suggestions(key: str, suggestion: str) -> None:
    assert error_of(agent_yaml(extra=f"{key}: 1")).problem == (
        f"unknown key (did you mean '{suggestion}'?)"
    )


def test_unknown_defaults_key() -> None:
    text = "defaults:\n  salary: 1000\n" + agent_yaml()
    assert str(error_of(text)) == (
        "agents.yaml:2: field 'defaults.salary': unknown key (did you mean 'salary_equivalent'?)"
    )


def test_agent_only_key_in_defaults() -> None:
    text = "defaults:\n  department: watcher\n" + agent_yaml()
    assert str(error_of(text)) == (
        "agents.yaml:2: field 'defaults.department': cannot have a default; defaults may hold "
        "only brand, salary_equivalent, fte_coefficient: set 'department' on each agent"
    )


def test_defaults_values_are_checked() -> None:
    text = "defaults:\n  brand: " + "b" * 21 + "\n" + agent_yaml()
    assert str(error_of(text)) == (
        "agents.yaml:2: field 'defaults.brand': must be at most 20 characters, got 21"
    )


def test_defaults_not_a_mapping() -> None:
    assert str(error_of("defaults: ohana\n" + agent_yaml())) == (
        "agents.yaml:1: field 'defaults': expected a mapping of brand, salary_equivalent, "
        "fte_coefficient, got 'ohana' (str)"
    )


@pytest.mark.parametrize("missing", ["department", "name", "tasks"])
def test_missing_required_field(missing: str) -> None:
    lines = agent_yaml().splitlines(keepends=True)
    drop = {"department": [2], "name": [3], "tasks": [5, 6]}[missing]
    text = "".join(line for number, line in enumerate(lines) if number not in drop)
    err = error_of(text)
    assert (err.line, err.agent, err.field) == (2, "watcher", missing)
    assert err.problem.startswith(f"missing required key; add '{missing}': ")


def test_missing_department_message() -> None:
    text = "agents:\n  watcher:\n    name: n\n    tasks: {a.b: x}\n"
    assert str(error_of(text)) == (
        "agents.yaml:2: agent 'watcher': field 'department': missing required key; add "
        "'department': the department, text of at most 50 characters"
    )


# --------------------------------------------------------------------------------------------
# Values: types and column limits


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ("salary_equivalent: abc", "salary_equivalent", "expected an integer, got 'abc' (str)"),
        ("salary_equivalent: true", "salary_equivalent", "expected an integer, got True (bool)"),
        ("salary_equivalent: 1.5", "salary_equivalent", "expected an integer, got 1.5 (float)"),
        ("salary_equivalent: -1", "salary_equivalent", "must be 0 or more, got -1"),
        (
            f"salary_equivalent: {SALARY_MAX + 1}",
            "salary_equivalent",
            f"must be at most {SALARY_MAX}, got {SALARY_MAX + 1}",
        ),
        (
            "fte_coefficient: full",
            "fte_coefficient",
            "expected a number such as 1.0 or 0.5, got 'full' (str)",
        ),
        (
            "fte_coefficient: yes",
            "fte_coefficient",
            "expected a number such as 1.0 or 0.5, got True (bool)",
        ),
        ("fte_coefficient: 10", "fte_coefficient", "must be at most 9.99, got 10"),
        ("fte_coefficient: -0.5", "fte_coefficient", "must be 0 or more, got -0.5"),
        (
            "fte_coefficient: 0.125",
            "fte_coefficient",
            "must have at most 2 decimal places, got 0.125",
        ),
        ("fte_coefficient: .nan", "fte_coefficient", "must be a finite number, got nan"),
        (
            "brand: no",
            "brand",
            "expected a string or null, got False (bool); put the value in quotes if it is "
            "meant as text",
        ),
        ("brand: " + "b" * 21, "brand", "must be at most 20 characters, got 21"),
        ("brand: ''", "brand", "must not be empty; use null for none"),
    ],
)
def test_wrong_value(extra: str, field: str, problem: str) -> None:
    assert str(error_of(agent_yaml(extra=extra))) == (
        f"agents.yaml:5: agent 'watcher': field '{field}': {problem}"
    )


def test_department_too_long() -> None:
    assert str(error_of(agent_yaml(department="d" * 63))) == (
        "agents.yaml:3: agent 'watcher': field 'department': must be at most 50 characters, got 63"
    )


def test_name_too_long_counts_characters_not_bytes() -> None:
    assert parse_registry(agent_yaml(name="Ж" * 100)).agents["watcher"].name == "Ж" * 100
    assert str(error_of(agent_yaml(name="Ж" * 101))) == (
        "agents.yaml:4: agent 'watcher': field 'name': must be at most 100 characters, got 101"
    )


def test_name_null() -> None:
    assert str(error_of(agent_yaml(name=""))) == (
        "agents.yaml:4: agent 'watcher': field 'name': expected a string, got null (an empty value)"
    )


def test_department_number_suggests_quotes() -> None:
    assert error_of(agent_yaml(department="012")).problem == (
        "expected a string, got 10 (int); put the value in quotes if it is meant as text"
    )


# --------------------------------------------------------------------------------------------
# Agent ids and agent bodies


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "price monitor",
            "agents.yaml:2: agent 'price monitor': agent id must use only Latin letters, "
            "digits, '_', '.', ':' and '-' (no spaces)",
        ),
        (
            "a" * 101,
            f"agents.yaml:2: agent '{'a' * 99}…': agent id must be at most 100 characters, got 101",
        ),
        (
            "on",
            "agents.yaml:2: agent id must be a string, got True (bool); put the value in quotes "
            "if it is meant as text",
        ),
        ("''", "agents.yaml:2: agent id must not be empty"),
    ],
)
def test_invalid_agent_id(key: str, message: str) -> None:
    assert str(error_of(AGENT.replace("watcher:", f"{key}:", 1).format(
        department="d", name="n", extra="brand: b"
    ))) == message


def test_agent_id_allowed_characters() -> None:
    text = agent_yaml().replace("watcher:", "Team-1.watcher:prices_v2:", 1)
    assert list(parse_registry(text).agents) == ["Team-1.watcher:prices_v2"]


def test_agent_not_a_mapping() -> None:
    assert str(error_of("agents:\n  watcher: Monitor\n")) == (
        "agents.yaml:2: agent 'watcher': expected a mapping with department, name and tasks, "
        "got 'Monitor' (str)"
    )


# --------------------------------------------------------------------------------------------
# Tasks


@pytest.mark.parametrize("tasks", ["tasks:", "tasks: {}"])
def test_agent_with_no_tasks(tasks: str) -> None:
    text = "agents:\n  watcher:\n    department: d\n    name: n\n    " + tasks + "\n"
    assert str(error_of(text)) == (
        "agents.yaml:5: agent 'watcher': field 'tasks': no tasks; list at least one task name or "
        "glob pattern, e.g. 'app.tasks.module.task_name: Text shown while it runs'"
    )


def test_tasks_as_a_list() -> None:
    text = "agents:\n  watcher:\n    department: d\n    name: n\n    tasks:\n      - app.tasks.a\n"
    assert str(error_of(text)) == (
        "agents.yaml:6: agent 'watcher': field 'tasks': expected a mapping of task name or "
        "pattern -> text shown while it runs (null shows the task's name), got a list"
    )


def test_task_pattern_not_a_string() -> None:
    text = agent_yaml() + "      42: Answer\n"
    assert str(error_of(text)) == (
        "agents.yaml:8: agent 'watcher': field 'tasks': task pattern must be a string, got 42 "
        "(int); put the value in quotes if it is meant as text"
    )


def test_task_text_not_a_string() -> None:
    text = agent_yaml() + "      app.tasks.other: [a, b]\n"
    assert str(error_of(text)) == (
        "agents.yaml:8: agent 'watcher': field 'tasks': text for 'app.tasks.other': expected a "
        "string or null, got a list"
    )


def test_task_text_too_long() -> None:
    text = agent_yaml() + "      app.tasks.other: " + "т" * 256 + "\n"
    assert str(error_of(text)) == (
        "agents.yaml:8: agent 'watcher': field 'tasks': text for 'app.tasks.other': must be at "
        "most 255 characters, got 256"
    )


def test_same_exact_task_under_two_agents() -> None:
    text = agent_yaml() + """\
  other:
    department: d
    name: n
    tasks:
      app.tasks.poll: Polling too
"""
    err = error_of(text)
    assert str(err) == (
        "agents.yaml:12: agent 'other': field 'tasks': task 'app.tasks.poll' is also listed "
        "under agent 'watcher' (line 7); a task belongs to one agent: remove one of the two "
        "entries"
    )


# --------------------------------------------------------------------------------------------
# Characters the database cannot store (YAML escapes make them)


@pytest.mark.parametrize(
    ("text", "line", "field", "what"),
    [
        (agent_yaml(department='"wat\\0cher"'), 3, "department",
         "a NUL character (U+0000) at character 4"),
        (agent_yaml(name='"Mon\\x00itor"'), 4, "name", "a NUL character (U+0000) at character 4"),
        (agent_yaml(extra='brand: "b\\0"'), 5, "brand", "a NUL character (U+0000) at character 2"),
        (agent_yaml(name='"Mon\\ud800"'), 4, "name", "a lone surrogate (U+D800) at character 4"),
        (
            "defaults:\n  brand: \"\\0\"\n" + agent_yaml(extra=""),
            2, "defaults.brand", "a NUL character (U+0000) at character 1",
        ),
    ],
    ids=["department-nul", "name-nul", "brand-nul", "name-surrogate", "default-brand-nul"],
)
def test_unstorable_character_in_a_field_is_refused(
    text: str, line: int, field: str, what: str
) -> None:
    """PostgreSQL refuses NUL in text, and no driver sends a lone surrogate: such a value once
    passed the load and then failed every write of the agent."""
    err = error_of(text)
    assert (err.line, err.field) == (line, field)
    assert err.problem == f"contains {what}, which the database cannot store; remove it"


def test_unstorable_character_in_a_task_text_is_refused() -> None:
    err = error_of(agent_yaml() + '      app.tasks.other: "Scan\\0ning"\n')
    assert str(err) == (
        "agents.yaml:8: agent 'watcher': field 'tasks': text for 'app.tasks.other': contains a "
        "NUL character (U+0000) at character 5, which the database cannot store; remove it"
    )


def test_nul_in_an_agent_id_is_refused_and_shown_escaped() -> None:
    err = error_of(agent_yaml().replace("watcher:", '"wat\\0cher":', 1))
    assert str(err) == (
        "agents.yaml:2: agent 'wat\\x00cher': agent id contains a NUL character (U+0000) at "
        "character 4, which the database cannot store; remove it"
    )


def test_a_long_agent_id_is_cut_in_the_message() -> None:
    err = error_of(agent_yaml().replace("watcher:", "w" * 500 + ":", 1))
    assert err.agent == "w" * 500  # the attribute keeps it whole
    assert str(err) == (
        f"agents.yaml:2: agent '{'w' * 99}…': agent id must be at most 100 characters, got 500"
    )


def test_long_values_and_keys_are_cut_in_messages() -> None:
    long_key = "k" * 300
    err = error_of(agent_yaml(extra=f"{long_key}: 1"))
    assert str(err).startswith(f"agents.yaml:5: agent 'watcher': field '{'k' * 99}…': unknown key")
    err = error_of(agent_yaml(department="[" + ", ".join(["x"] * 200) + "]"))
    assert err.problem == "expected a string, got a list"
    err = error_of(agent_yaml(extra="salary_equivalent: '" + "9" * 300 + "'"))
    assert err.problem == f"expected an integer, got '{'9' * 98}… (str)"
    err = error_of(agent_yaml() + "      " + "p" * 300 + ": [x]\n")
    assert err.problem == f"text for '{'p' * 98}…: expected a string or null, got a list"


# --------------------------------------------------------------------------------------------
# RegistryError itself


def test_registry_error_format_omits_missing_parts() -> None:
    assert str(RegistryError("a.yaml", "boom")) == "a.yaml: boom"
    assert str(RegistryError("a.yaml", "boom", line=3, field="f")) == "a.yaml:3: field 'f': boom"
    assert isinstance(RegistryError("a.yaml", "boom"), ValueError)
    assert isinstance(RegistryError("a.yaml", "boom"), OfficeError)


def test_registry_error_pickles() -> None:
    err = RegistryError("a.yaml", "boom", line=3, agent="x", field="name")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.problem, copy.line, copy.agent, copy.field) == (
        "a.yaml",
        "boom",
        3,
        "x",
        "name",
    )
    assert str(copy) == str(err)


# --------------------------------------------------------------------------------------------
# Routing

ROUTING = """\
agents:
  watcher:
    department: watcher
    name: Watcher
    tasks:
      "app.tasks.watcher.*": Watching
      app.tasks.watcher.special: Special
      "app.tasks.watcher.s*": Never first
  reports:
    department: reports
    name: Reports
    tasks:
      "app.tasks.report_*": null
"""


@pytest.fixture
def routing() -> Registry:
    return parse_registry(ROUTING)


def test_exact_beats_glob(routing: Registry) -> None:
    route = routing.route("app.tasks.watcher.special")
    assert route == TaskRoute(routing.agents["watcher"], "Special", "app.tasks.watcher.special")


def test_first_glob_in_file_order_wins(routing: Registry) -> None:
    route = routing.route("app.tasks.watcher.scan")
    assert route is not None
    assert (route.pattern, route.text) == ("app.tasks.watcher.*", "Watching")


def test_null_text_shows_the_task_name(routing: Registry) -> None:
    route = routing.route("app.tasks.report_daily")
    assert route is not None
    assert (route.agent.agent_id, route.text) == ("reports", "app.tasks.report_daily")


def test_long_task_name_is_cut(routing: Registry) -> None:
    name = "app.tasks.report_" + "x" * 300
    route = routing.route(name)
    assert route is not None
    assert len(route.text) == 255
    assert route.text == name[:254] + "…"


def test_route_unknown_task_is_none(routing: Registry) -> None:
    assert routing.route("celery.backend_cleanup") is None
    assert routing.route("app.tasks.Watcher.scan") is None  # case-sensitive
    assert routing.route(None) is None  # type: ignore[arg-type]  # never raises


def test_route_is_cached(routing: Registry) -> None:
    first = routing.route("app.tasks.watcher.scan")
    assert first is not None
    assert routing.route("app.tasks.watcher.scan") is first


def test_resolve_ignores_celery_tasks(routing: Registry) -> None:
    names = [
        "celery.backend_cleanup",
        "celery.chord_unlock",
        "app.tasks.watcher.scan",
        "app.tasks.report_daily",
        "app.tasks.other.thing",
    ]
    routes = routing.resolve(names)
    assert list(routes) == ["app.tasks.watcher.scan", "app.tasks.report_daily"]
    assert routes["app.tasks.watcher.scan"] is routing.route("app.tasks.watcher.scan")


CONFLICT = """\
agents:
  watcher:
    department: watcher
    name: Watcher
    tasks:
      "app.tasks.watcher.*": Watching
  reports:
    department: reports
    name: Reports
    tasks:
      "app.tasks.*.report": Reporting
"""


def test_globs_of_two_agents_conflict() -> None:
    registry = parse_registry(CONFLICT)
    with pytest.raises(RegistryError) as info:
        registry.resolve(["celery.chord_unlock", "app.tasks.watcher.report"])
    assert str(info.value) == (
        "agents.yaml:11: task 'app.tasks.watcher.report' is matched by pattern "
        "'app.tasks.watcher.*' of agent 'watcher' (line 6) and by pattern 'app.tasks.*.report' "
        "of agent 'reports' (line 11); add an exact entry for 'app.tasks.watcher.report' under "
        "the agent that runs it, or narrow one of the patterns"
    )


def test_exact_entry_decides_a_conflict() -> None:
    text = CONFLICT + "      app.tasks.watcher.report: Weekly report\n"
    routes = parse_registry(text).resolve(["app.tasks.watcher.report"])
    route = routes["app.tasks.watcher.report"]
    assert (route.agent.agent_id, route.text) == ("reports", "Weekly report")


def test_globs_of_the_same_agent_do_not_conflict(routing: Registry) -> None:
    routes = routing.resolve(["app.tasks.watcher.scan"])  # matches two globs of 'watcher'
    assert routes["app.tasks.watcher.scan"].pattern == "app.tasks.watcher.*"


def test_served_agents_in_file_order(routing: Registry) -> None:
    served = routing.served_agents(["app.tasks.report_daily", "app.tasks.watcher.x", "celery.x"])
    assert [agent.agent_id for agent in served] == ["watcher", "reports"]
    assert routing.served_agents(["app.tasks.report_daily"]) == [routing.agents["reports"]]


def test_unmatched_patterns(routing: Registry) -> None:
    unmatched = routing.unmatched_patterns(["app.tasks.watcher.scan", "celery.chord_unlock"])
    assert [(agent.agent_id, pattern) for agent, pattern in unmatched] == [
        ("watcher", "app.tasks.watcher.special"),
        ("reports", "app.tasks.report_*"),
    ]


def test_agent_spec_is_hashable_and_frozen(routing: Registry) -> None:
    agent = routing.agents["watcher"]
    assert {agent: 1}[agent] == 1
    with pytest.raises(AttributeError):
        agent.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        agent.tasks["x"] = "y"  # type: ignore[index]

