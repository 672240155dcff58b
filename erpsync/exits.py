"""The exit codes of every ``erpsync`` command, one table for all (the README's "Exit codes").

======  =================  =================================================================
code    name               meaning
======  =================  =================================================================
0       ``EXIT_OK``        success: the command did what it was asked
1       ``EXIT_FAILURE``   the job failed: a remote system or the database failed or could not
                           be reached while working, or a check found a problem (``db
                           current`` with a pending upgrade, ``stock drift`` with a difference);
                           running it again later may succeed
2       ``EXIT_USAGE``     usage or configuration error: the command line, the config file or
                           the set-up is wrong (unknown name or id, bad credentials, a database
                           or schema that does not exist, a file or port erpsync may not use);
                           fix it first
3       ``EXIT_PARTIAL``   partial: the job ran, but some records were quarantined
4       ``EXIT_NOTHING``   nothing to do: a command that works through a backlog found it empty
                           (``orders process``, ``stock push``, ``quarantine retry`` of records
                           no longer open, ...)
======  =================  =================================================================

Typer/click usage errors (an unknown option, a missing argument) exit 2 by themselves.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_NOTHING = 0, 1, 2, 3, 4

__all__ = ["EXIT_FAILURE", "EXIT_NOTHING", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE"]
