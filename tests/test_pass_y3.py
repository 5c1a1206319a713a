"""Pass Y3: the findings of the outside attack pass Y3, each a test that failed before its fix."""

from __future__ import annotations

import pytest

from migma_contract.contract.catalogue import RATE_LIMIT_RETRY_AFTER_ID
from migma_contract.core.exceptions import ConfigError
from migma_contract.run import runner


@pytest.mark.parametrize("newline", ["\n", "\r", "\u2028"])
def test_a_baseline_of_plain_lines_is_held_to_the_node_cap(tmp_path, newline):
    """Pass Y3, F2: a baseline of plain lines had no bound on its entries (12 MB took 36 s and 511 MB): it is held to
    the cap a JSON baseline's nodes are held to, counted before a line is split, whatever line break it uses."""
    path = tmp_path / "baseline.txt"
    path.write_text(("a" + newline) * (runner._BASELINE_NODES + 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"more than 1,000,000 lines"):
        runner.load_baseline(str(path))


def test_a_baseline_of_many_rule_ids_is_checked_in_one_pass(tmp_path, monkeypatch):
    """Pass Y3, F2: a list of strings is told a list of strings without jsonschema per entry (which took ~6 us each)."""
    import jsonschema

    def refuse(*args, **kwargs):
        raise AssertionError("jsonschema consulted for a list of strings")

    monkeypatch.setattr(jsonschema, "Draft202012Validator", refuse)
    path = tmp_path / "baseline.txt"
    path.write_text((RATE_LIMIT_RETRY_AFTER_ID + "\n") * 50_000 + "# a comment\n\n", encoding="utf-8")
    assert runner.load_baseline(str(path)).rules == frozenset({RATE_LIMIT_RETRY_AFTER_ID})


def test_every_option_a_repository_file_may_set_is_classified():
    """Pass Y3, F4: `max-response-bytes` was in no list (a repository's 40 turned a keyed run's exit 1 into 3): every
    option is a secret (never read from files), a row of WEAKENING, or named harmless with why; a new option cannot
    be added unclassified."""
    from migma_contract.config.options import OPTIONS, REPOSITORY_HARMLESS, WEAKENING

    secrets = {option.name for option in OPTIONS if option.secret}
    assert not set(WEAKENING) & set(REPOSITORY_HARMLESS) and not (set(WEAKENING) | set(REPOSITORY_HARMLESS)) & secrets
    assert secrets | set(WEAKENING) | set(REPOSITORY_HARMLESS) == {option.name for option in OPTIONS}
    for name in ("max_response_bytes", "max_findings_per_rule", "max_retry_wait", "format"):
        assert name in WEAKENING


@pytest.mark.parametrize("row, weak, fine", [
    ("max_response_bytes", 40, 1 << 21), ("max_retries", 0, 3), ("max_retry_wait", 1.0, 60.0),
    ("max_findings_per_rule", 1, 9), ("format", ("json",), ("json", "junit", "md", "html")),
])
def test_a_repository_value_that_lowers_what_counts_is_refused(row, weak, fine):
    """Pass Y3, F4: these values from a repository file turned NOT CONFORMANT into INCOMPLETE, or hid findings."""
    from migma_contract.config.options import WEAKENING

    assert WEAKENING[row](weak) and not WEAKENING[row](fine)
