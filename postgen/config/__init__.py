"""
from postgen.config import *  # noqa: F403  (the settings are this package's API)
from postgen.config import __all__ as __all__
"""

from postgen.config.settings import (
    MAX_ITERATIONS,
    MAX_VOTES,
    STAGES,
    BriefConfig,
    BudgetConfig,
    CacheConfig,
    Criterion,
    LLMConfig,
    MetricsConfig,
    RetryConfig,
    SchedulerConfig,
    Settings,
    SimOptions,
    StageConfig,
    StagesConfig,
    checked,
    packaged_criteria,
)

__all__ = [
    "MAX_ITERATIONS",
    "MAX_VOTES",
    "STAGES",
    "BriefConfig",
    "BudgetConfig",
    "CacheConfig",
    "Criterion",
    "LLMConfig",
    "MetricsConfig",
    "RetryConfig",
    "SchedulerConfig",
    "Settings",
    "SimOptions",
    "StageConfig",
    "StagesConfig",
    "checked",
    "packaged_criteria",
]
