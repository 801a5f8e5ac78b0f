"""The app's one command line: ``python -m app <command>``.

bootstrap-db   create or update the database's roles, passwords and privileges as the
               platform's admin (app/core/bootstrap.py); idempotent, run before migrating
"""

import argparse
import asyncio
import sys

from app.core.bootstrap import BootstrapError, bootstrap_database
from app.core.config import BootstrapSettings, InvalidSettings, load_settings
from app.core.logging import configure_logging


def bootstrap_db() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        changes = asyncio.run(bootstrap_database(settings, BootstrapSettings.load()))
    except (BootstrapError, InvalidSettings, OSError) as error:
        print(f"bootstrap-db: error: {error}", file=sys.stderr, flush=True)
        return 1
    count = len(changes)
    print(
        f"bootstrap-db: {count} change{'' if count == 1 else 's'}"
        if count
        else "bootstrap-db: nothing to change",
        flush=True,
    )
    return 0


COMMANDS = {"bootstrap-db": bootstrap_db}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    arguments = parser.parse_args(argv)
    return COMMANDS[arguments.command]()


if __name__ == "__main__":
    sys.exit(main())
