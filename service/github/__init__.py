"""The bot's GitHub client (a GitHub App over githubkit), shared by the web process and the
workers. See client.py for the API."""

from service.github.client import (
    API_VERSION,
    DeploymentResult,
    GitHubApp,
    InstallationClient,
)
from service.github.errors import (
    GitHubConflict,
    GitHubError,
    GitHubForbidden,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnauthorized,
    GitHubUnavailable,
    GitHubUncertain,
    GitHubUsageError,
    GitHubValidationError,
)
from service.github.metrics import CallCounter
from service.github.ratelimit import RateLimitInfo, RetryPolicy
from service.permissions import Permission

__all__ = [
    "API_VERSION",
    "CallCounter",
    "DeploymentResult",
    "GitHubApp",
    "GitHubConflict",
    "GitHubError",
    "GitHubForbidden",
    "GitHubNotFound",
    "GitHubRateLimited",
    "GitHubUnauthorized",
    "GitHubUnavailable",
    "GitHubUncertain",
    "GitHubUsageError",
    "GitHubValidationError",
    "InstallationClient",
    "Permission",
    "RateLimitInfo",
    "RetryPolicy",
]
