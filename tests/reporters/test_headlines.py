"""Each headline says what the run was and how it ended, in its own words: a rollback is
not a deployment with its words swapped."""

from __future__ import annotations

import pytest

from workers.reporters.markdown import HEADLINES, ROLLBACK_HEADLINES, headline
from workers.reporters.progress import Progress
from workers.runbook.events import Outcome

SHA = "abc1234def"


@pytest.mark.parametrize("outcome", [None, *Outcome])
def test_every_outcome_has_a_headline_for_deployments_and_rollbacks(
        outcome: Outcome | None) -> None:
    assert outcome in HEADLINES and outcome in ROLLBACK_HEADLINES
    deploy = headline(Progress(environment="staging", commit=SHA, outcome=outcome))
    undo = headline(Progress(environment="staging", commit=SHA, outcome=outcome,
                             rollback_of=12))
    assert "`abc1234`" in deploy and "**staging**" in deploy and "#12" not in deploy
    assert "#12" in undo and "Deploy" not in undo
    failed = outcome in (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.ROLLBACK_FAILED)
    assert deploy.startswith("❌") == failed == undo.startswith("❌")


def test_the_words_of_a_rollback() -> None:
    done = Progress(environment="production", commit=SHA, outcome=Outcome.SUCCEEDED,
                    rollback_of=7)
    assert headline(done) == "✅ Rolled back #7 (`abc1234`) on **production**"
    stuck = Progress(environment="production", commit=SHA, outcome=Outcome.ROLLBACK_FAILED,
                     rollback_of=7)
    assert headline(stuck).endswith("could not be undone: a person is needed now")
