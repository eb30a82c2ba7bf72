"""A host application's own Alembic autogenerate, in a database holding the office tables.

The host's env.py, written here as a user would, passes ``celery_office.include_name`` and
``include_object``; ``alembic revision --autogenerate`` then proposes the host's own change and
nothing on any office table, its view or ``office_alembic_version``, whether or not the host
lists ``celery_office.Base.metadata`` in its target_metadata. Without the hooks it proposes to
drop them: that is the bug these hooks fix.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from celery_office.db.host_alembic import OFFICE_TABLES

HOST_MODELS = '''
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):  # already in the database
    __tablename__ = "host_customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Order(Base):  # new: autogenerate must propose it
    __tablename__ = "host_order"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("host_customer.id"))
'''

HOST_ENV = '''
import os

from alembic import context
from sqlalchemy import create_engine, pool

import celery_office
from host_models import Base

target_metadata = Base.metadata
if os.environ.get("HOST_WITH_OFFICE_METADATA") == "1":
    target_metadata = [Base.metadata, celery_office.Base.metadata]
hooks = {}
if os.environ.get("HOST_HOOKS") == "1":
    hooks = {"include_name": celery_office.include_name,
             "include_object": celery_office.include_object}

engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata,
                      compare_type=True, **hooks)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''


def host_project(root: Path, url: str) -> Path:
    """A host app's Alembic project: alembic.ini, env.py, its models, an empty history."""
    (root / "versions").mkdir(parents=True)
    (root / "host_models.py").write_text(HOST_MODELS, encoding="utf-8")
    (root / "env.py").write_text(HOST_ENV, encoding="utf-8")
    (root / "script.py.mako").write_text(textwrap.dedent('''\
        """${message}"""
        from alembic import op
        import sqlalchemy as sa
        revision = ${repr(up_revision)}
        down_revision = ${repr(down_revision)}
        branch_labels = None
        depends_on = None

        def upgrade():
            ${upgrades if upgrades else "pass"}

        def downgrade():
            ${downgrades if downgrades else "pass"}
        '''), encoding="utf-8")
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s\nprepend_sys_path = .\n"
        f"sqlalchemy.url = {url.replace('%', '%%')}\n", encoding="utf-8")
    return root


def autogenerate(project: Path, *, hooks: bool, with_office_metadata: bool) -> str:
    """Run `alembic revision --autogenerate` in the host project; return the upgrade() it wrote."""
    for old in (project / "versions").glob("*.py"):
        old.unlink()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HOST_HOOKS": "1" if hooks else "0",
           "HOST_WITH_OFFICE_METADATA": "1" if with_office_metadata else "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(project / "alembic.ini"), "revision",
         "--autogenerate", "-m", "host change"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [script] = (project / "versions").glob("*.py")
    text = script.read_text(encoding="utf-8")
    return text[text.index("def upgrade"):text.index("def downgrade")]


def office_mentions(upgrade: str) -> list[str]:
    return sorted({name for name in OFFICE_TABLES if re.search(rf"\b{name}\b", upgrade)})


@pytest.fixture
def project(pg_url: str, tmp_path: Path) -> Path:
    """A database with the office tables (migrated) and the host's existing table."""
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE host_customer (id SERIAL PRIMARY KEY, name VARCHAR(100))"
        )
    engine.dispose()
    return host_project(tmp_path / "host", pg_url)


@pytest.mark.parametrize(
    "with_office_metadata", [False, True], ids=["host metadata", "+ office metadata"]
)
def test_host_autogenerate_leaves_every_office_object_alone(
    project: Path, with_office_metadata: bool
) -> None:
    upgrade = autogenerate(project, hooks=True, with_office_metadata=with_office_metadata)
    assert "op.create_table('host_order'" in upgrade  # the host's own change is found
    assert office_mentions(upgrade) == []
    assert "op.drop_" not in upgrade


@pytest.mark.parametrize(
    "with_office_metadata", [False, True], ids=["host metadata", "+ office metadata"]
)
def test_without_the_hooks_autogenerate_would_drop_office_tables(
    project: Path, with_office_metadata: bool
) -> None:
    """What the hooks prevent, so that the test above can fail."""
    upgrade = autogenerate(project, hooks=False, with_office_metadata=with_office_metadata)
    assert "op.drop_table('office_" in upgrade
