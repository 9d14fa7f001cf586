"""The runbook, in order (DESIGN.md, "The runbook, automated")."""

from __future__ import annotations

from service.config.model import EnvironmentConfig
from workers.runbook.step import Step
from workers.steps.backup import BACKUP
from workers.steps.functions import FUNCTIONS
from workers.steps.gates import GATES
from workers.steps.migrate import MIGRATE
from workers.steps.preflight import PREFLIGHT
from workers.steps.report import REPORT
from workers.steps.smoke import SMOKE
from workers.steps.verify import VERIFY


def deploy_steps(env: EnvironmentConfig | None = None) -> list[Step]:
    """The runbook; production starts with its pre-production checklist."""
    steps = [PREFLIGHT, BACKUP, MIGRATE, FUNCTIONS, VERIFY, SMOKE, REPORT]
    return [GATES, *steps] if env is not None and env.production else steps
