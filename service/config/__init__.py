"""`.github/deploybot.yml`: the deployed repository's configuration, validated."""

from service.config.load import CONFIG_PATH, ConfigError, load_config, parse_config
from service.config.model import Config, EnvironmentConfig, Paths, WatchConfig

__all__ = [
    "CONFIG_PATH",
    "Config",
    "ConfigError",
    "EnvironmentConfig",
    "Paths",
    "WatchConfig",
    "load_config",
    "parse_config",
]
