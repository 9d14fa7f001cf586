"""One runner per command (like Atlantis' command runners). `RUNNERS` maps a command name
to the coroutine that carries it out."""

from __future__ import annotations

from workers.commands.base import CommandRunner
from workers.commands.cancel import run_cancel
from workers.commands.confirm import run_confirm
from workers.commands.deploy import run_deploy
from workers.commands.help import run_help
from workers.commands.lock import run_lock, run_unlock
from workers.commands.rollback import run_rollback
from workers.commands.status import run_status
from workers.commands.wcid import run_wcid

RUNNERS: dict[str, CommandRunner] = {
    "deploy": run_deploy,
    "rollback": run_rollback,
    "lock": run_lock,
    "unlock": run_unlock,
    "confirm": run_confirm,
    "wcid": run_wcid,
    "status": run_status,
    "cancel": run_cancel,
    "help": run_help,
}
