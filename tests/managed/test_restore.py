"""The restore drill (make managed): `make backup` of a stack holding rows, `make restore` into a
new stack on a new volume (migrated, empty), and every table compared: row count and a checksum
of its rows. A stack that holds rows is refused unless forced."""

import os
import re
import subprocess
import unittest
from typing import Any

from tests.container.docker import PROJECT_ROOT, compose_stack, report

BASE = os.environ.get("MANAGED_PROJECT", "fastapi-starter-managed")
SOURCE, TARGET = f"{BASE}-backup", f"{BASE}-restored"
ROWS = 2000

# Each table of the public schema: its row count and an md5 of its rows in a fixed order.
FINGERPRINT = r"""
SELECT string_agg(format('%s=%s', c.relname,
  (xpath('/row/f/text()', query_to_xml(format(
     'SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, '',''
       ORDER BY t::text), '''')) AS f FROM %s t',
     c.oid::regclass), false, true, '')))[1]), ' ' ORDER BY c.relname)
FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
"""


def compose(project: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(project, *args, **options)


def psql(project: str, sql: str) -> str:
    return compose(
        project,
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'psql -v ON_ERROR_STOP=1 -q -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
        sql,
    ).stdout.strip()


def make(target: str, project: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed program
        [
            "make",
            target,
            f"COMPOSE=docker compose --project-name {project} --file compose.yml",
            *args,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def migrated_empty_stack(project: str) -> None:
    """What `make up` leaves before anyone writes: the database migrated, no rows."""
    compose(project, "down", "--volumes", "--remove-orphans", check=False)
    compose(project, "up", "--detach", "--wait", "db")
    compose(project, "run", "--rm", "migrate")


class RestoreDrill(unittest.TestCase):
    backup: subprocess.CompletedProcess[str]

    @classmethod
    def setUpClass(cls) -> None:
        migrated_empty_stack(SOURCE)
        psql(
            SOURCE,
            "INSERT INTO items (id, name, description, price, version, created_at, updated_at)"
            f" SELECT gen_random_uuid(), 'item ' || i, repeat('x', i % 50), i / 100.0, 1 + i % 3,"
            f" now() - i * interval '1 minute', now() FROM generate_series(1, {ROWS}) i",
        )
        cls.backup = make("backup", SOURCE)
        migrated_empty_stack(TARGET)

    @classmethod
    def tearDownClass(cls) -> None:
        for project in (SOURCE, TARGET):
            compose(project, "down", "--volumes", "--remove-orphans", check=False)
        for path in re.findall(r"backup: (\S+)", cls.backup.stdout):
            (PROJECT_ROOT / path).unlink(missing_ok=True)

    def test_a_restore_brings_back_every_table_row_for_row(self) -> None:
        self.assertEqual(self.backup.returncode, 0, self.backup.stderr)
        file = re.search(r"backup: (backups/\S+\.dump)", self.backup.stdout)
        assert file is not None, self.backup.stdout
        restored = make("restore", TARGET, f"file={file.group(1)}")
        self.assertEqual(restored.returncode, 0, restored.stderr)
        source, target = psql(SOURCE, FINGERPRINT), psql(TARGET, FINGERPRINT)
        report(f"{file.group(1)} restored into a new volume; tables: {target}")
        self.assertIn(f"items={ROWS}:", target)
        self.assertEqual(target, source)
        # The restored tables are the owner's and the app's grants came back with them.
        self.assertEqual(
            psql(
                TARGET,
                "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables"
                " WHERE schemaname = 'public'",
            ),
            "app_owner",
        )
        self.assertEqual(
            psql(TARGET, "SELECT has_table_privilege('app', 'items', 'SELECT, INSERT')"), "t"
        )
        self.assertEqual(
            psql(
                TARGET,
                "SELECT has_table_privilege('app', 'alembic_version', 'INSERT, UPDATE, DELETE')",
            ),
            "f",
        )

        # Again: the database now holds rows, so it is refused, and done only when forced.
        again = make("restore", TARGET, f"file={file.group(1)}")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn(f"holds {ROWS} rows", again.stderr)
        forced = make("restore", TARGET, f"file={file.group(1)}", "force=1")
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertEqual(psql(TARGET, FINGERPRINT), source)


if __name__ == "__main__":
    unittest.main()
