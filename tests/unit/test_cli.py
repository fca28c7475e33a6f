"""`v6migrate plan`: blockers first, counts per stage, exit codes 0/2/1, one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

from local.seed import ESTATES, seed
from tooling.cli import main


def _exit_code(argv: list[str]) -> int | str | None:
    """Argument errors leave through argparse (SystemExit), validation errors return."""
    try:
        return main(argv)
    except SystemExit as leaving:
        return leaving.code


ARGS = ["plan", "--cluster", "orders-prod", "--account", "222222222222", "--region", "eu-west-1"]


def test_plan_that_can_run_exits_0_with_changes_grouped_by_stage(
    small_estate: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    for stage in ("vpc", "attachments", "cni", "nodes"):
        assert f"Stage {stage}:" in out
    assert out.index("Warnings") < out.index("Stage vpc")


def test_blocked_plan_exits_2_with_blockers_first(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(ESTATES["small"].model_copy(update={"cni_version": "v1.12.6-eksbuild.2"}))
    assert main(ARGS) == 2
    out = capsys.readouterr().out
    assert out.index("BLOCKED") < out.index("Stage vpc")
    assert "cni-too-old" in out


def test_json_output_is_the_plan_summary(
    small_estate: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main([*ARGS, "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cluster"] == "orders-prod"


def test_options_from_a_file_shape_the_plan(
    small_estate: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    import json

    def actions(argv: list[str]) -> set[str]:
        assert main([*ARGS, *argv, "--output", "json"]) == 0
        return {
            c["change_id"].split(":")[1] for c in json.loads(capsys.readouterr().out)["changes"]
        }

    # Given the plan without options, and an options file that asks for dual-stack load
    # balancers (off by default)
    options = tmp_path / "options.json"
    options.write_text('{"dualstack_load_balancers": true}')
    assert "dualstack-load-balancer" not in actions([])
    # Then the plan with it has them, as with the same JSON inline
    assert "dualstack-load-balancer" in actions(["--options", f"@{options}"])
    assert "dualstack-load-balancer" in actions(["--options", options.read_text()])


START_APPLY = ["start", "--cluster", "orders-prod", "--region", "eu-west-1", "--mode", "apply"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", "--cluster", "x", "--account", "12ab", "--region", "eu-west-1"], "--account"),
        (["plan", "--cluster", "x", "--region", "moon"], "--region"),
        (["plan", "--region", "eu-west-1"], "--cluster"),
        (["plan", "--cluster", "x", "--output", "xml", "--region", "eu-west-1"], "--output"),
        (["local", "serve", "--page-size", "0"], "--page-size"),
        (["local", "serve", "--page-size", "two"], "--page-size"),
        (["local", "serve", "--throttle", "1"], "--throttle"),
        (["local", "serve", "--throttle", "-0.1"], "--throttle"),
        (["local", "serve", "--throttle", "a fifth"], "--throttle"),
        (["local", "serve", "--throttle", "bucket"], "--throttle"),
        (["local", "serve", "--throttle", "buckets", "--rate", "eks=20"], "--rate"),
        (["local", "serve", "--throttle", "buckets", "--rate", "eks=0@1"], "--rate"),
        (["local", "serve", "--throttle", "buckets", "--rate", "=2@1"], "--rate"),
        (["local", "serve", "--throttle", "buckets", "--rate", "lambda=2@1"], "lambda"),
        (["local", "serve", "--throttle", "buckets", "--rate", "ec2=2@1"], "published"),
        (["local", "serve", "--rate", "eks=2@1"], "--throttle buckets"),
        (["approve", "4F87-not-an-id"], "approval_id"),
        (["reject", "x"], "approval_id"),
        ([*START_APPLY, "--approver", "ops-team"], "--approver"),
        (
            [*START_APPLY, "--approver", "arn:aws:iam::123456789012:role/ops", "--approvals", "4"],
            "--approvals",
        ),
        ([*START_APPLY, "--approvals", "0"], "--approvals"),
        ([*START_APPLY, "--options", "{not json"], "--options: not JSON"),
        ([*START_APPLY, "--options", "[1]"], "--options: expected a JSON object"),
        ([*START_APPLY, "--options", "@/nonexistent/options.json"], "--options: cannot read"),
        ([*START_APPLY, "--options", '{"node_concurrency": 0}'], "--options node_concurrency"),
        ([*START_APPLY, "--options", '{"no_such_option": 1}'], "--options no_such_option"),
    ],
)
def test_bad_input_gives_one_error_line_no_traceback_and_exit_1(
    moto: None, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(argv) == 1
    err = capsys.readouterr().err  # read once: a second read returns only what came after
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert message in errors[0]
    assert "Traceback" not in err


def test_unknown_cluster_is_one_line_and_exit_1(
    small_estate: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "--cluster", "ghost", "--account", "222222222222", "--region", "eu-west-1"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no EKS cluster named 'ghost' in account 222222222222, Region eu-west-1"]


def test_missing_region_is_one_line_and_exit_1(
    moto: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert main(["plan", "--cluster", "orders-prod"]) == 1
    assert capsys.readouterr().err.strip() == "error: no Region: pass --region or set AWS_REGION"


def test_version_is_the_packages(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as ended:
        main(["--version"])
    assert ended.value.code == 0
    assert capsys.readouterr().out == f"v6migrate {version('v6migrate')}\n"
