"""A test GitHub server: our own Starlette app on loopback implementing the endpoints the bot
uses, checking request bodies against githubkit's models, serving tarballs and contents from
a fixture git repository, recording what the bot did, and injecting faults.

Fixtures are in tests/github_server/fixtures.py; state helpers in state.py; faults in
faults.py; fixture repositories in fixture_repo.py.
"""

from .faults import FaultRule, Faults
from .fixture_repo import FixtureRepo, add_commit, make_fixture_repo
from .keys import AppKeys, generate_app_keys
from .server import GitHubTestServer
from .state import BOT_LOGIN, DEFAULT_INSTALLATION, RequestRecord, ServerState

__all__ = [
    "BOT_LOGIN",
    "DEFAULT_INSTALLATION",
    "AppKeys",
    "FaultRule",
    "Faults",
    "FixtureRepo",
    "GitHubTestServer",
    "RequestRecord",
    "ServerState",
    "add_commit",
    "generate_app_keys",
    "make_fixture_repo",
]
