"""The runbook, in order (DESIGN.md, "The runbook, automated")."""

from __future__ import annotations

from workers.runbook.step import Step
from workers.steps.backup import BACKUP
from workers.steps.functions import FUNCTIONS
from workers.steps.migrate import MIGRATE
from workers.steps.preflight import PREFLIGHT
from workers.steps.report import REPORT
from workers.steps.smoke import SMOKE
from workers.steps.verify import VERIFY


def deploy_steps() -> list[Step]:
    return [PREFLIGHT, BACKUP, MIGRATE, FUNCTIONS, VERIFY, SMOKE, REPORT]
