"""Typed settings, read from the environment once, at start-up.

Every variable is `PICOTASK_<FIELD>` (money without its `_cents`: `PICOTASK_MIN_PAYOUT=5.00`);
an invalid value stops start-up with a `SettingsError` that names the variable. `model.py`
declares the settings and their bounds, `values.py` how a variable's text becomes a value,
`environment.py` where the variables come from (the environment over a `.env` file).
`Settings(...)` takes values in code and never reads the environment: `Settings.from_env()` does.
"""

from picotask.settings.environment import SettingsError, env_name
from picotask.settings.model import Settings

__all__ = ["Settings", "SettingsError", "env_name"]
