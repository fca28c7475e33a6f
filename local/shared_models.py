"""One botocore data loader for every session in the embedded AWS's process.

moto makes a boto3 session for many requests (to list partitions or Regions: an EKS role ARN's
check, each new account's backends), and each fresh session would parse botocore's JSON models
again. The workflow's own sessions share a loader already (`v6migrate.aws.new_session`); this
gives every other session in the process the same one. Speed only: the models are the same.
"""

from __future__ import annotations

from typing import Any

import botocore.loaders
import botocore.session

from v6migrate.aws import botocore_loader


def share() -> None:
    """Idempotent; sessions made with their own `data_path` keep their own loader."""

    def register(self: Any) -> None:
        def loader() -> botocore.loaders.Loader:
            path = self.get_config_variable("data_path")
            return botocore.loaders.create_loader(path) if path else botocore_loader()

        self._components.lazy_register_component("data_loader", loader)

    botocore.session.Session._register_data_loader = register  # type: ignore[attr-defined]
