"""EventBridge delivers to the targets the template uses, as the user guide describes.

A Lambda function target is invoked asynchronously with the event as its payload; an SNS
topic target is published the event, as JSON, as the message (EventBridge user guide,
"Targets"; a rule's `InputTransformer` shapes either). moto delivered only to log groups,
archives, queues, other buses and API destinations, and raised NotImplementedError for the
rest, so a rule on the bus with the notify function or the alarm topic as its target made every
PutEvents of a matching event fail.
"""

from __future__ import annotations

import json
import threading
from typing import Any


def lambda_and_sns_targets() -> None:
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets
    if getattr(original, "_v6migrate", False):
        return

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        others = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service not in ("lambda", "sns"):
                others.append(target)
                continue
            transformer = target.get("InputTransformer", {}) if transform_input else {}
            event = EventTemplateParser.parse(
                input_template=transformer.get("InputTemplate"),  # type: ignore[arg-type]
                input_paths_map=transformer.get("InputPathsMap", {}),
                event=original_event,
            )
            payload = event if isinstance(event, str) else json.dumps(event, default=str)
            if arn.service == "lambda":
                _invoke_later(target["Arn"], payload)
            else:
                from moto.sns.models import sns_backends

                sns_backends[arn.account][arn.region].publish(message=payload, arn=target["Arn"])
        if others:
            kept, self.targets = self.targets, others
            try:
                original(self, original_event, transform_input)
            finally:
                self.targets = kept

    send_to_targets._v6migrate = True  # type: ignore[attr-defined]
    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _invoke_later(function_arn: str, payload: str) -> None:
    """An asynchronous invocation (InvocationType Event): the caller does not wait."""
    from local import runtime

    def run() -> None:
        runtime.invoke(function_arn, payload, {})

    threading.Thread(target=run, daemon=True, name="v6-events-async").start()
