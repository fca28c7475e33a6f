"""Step Functions as the API reference documents it, where moto differs."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult


def history_in_either_order() -> None:
    """GetExecutionHistory's `reverseOrder` (API reference: "Lists events in descending order of
    their timeStamp"): moto's answer is always oldest first, so a reader of the latest state
    (GET /migrations/{id}) saw the first one."""
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.get_execution_history
    if getattr(original, "_v6migrate", False):
        return

    def get_execution_history(self: Any) -> Any:
        result = original(self)
        history = result.result if isinstance(result, ActionResult) else None
        if self._get_param("reverseOrder") and isinstance(history, dict):
            return ActionResult({**history, "events": list(reversed(history["events"]))})
        return result

    get_execution_history._v6migrate = True  # type: ignore[attr-defined]
    StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]
