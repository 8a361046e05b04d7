"""The Markov removal effects (a dbt Python model: dbt unit tests cover SQL models only) on paths computed by hand.

The rule-based models, the path building and the Markov credit split are covered by dbt unit tests
(dbt_project/models/intermediate/attribution/_attribution__models.yml); the demo world's figures by test_pipeline.
"""

import importlib.util

import pytest

from ingestion.config import REPO_ROOT

MODEL = REPO_ROOT / "dbt_project/models/intermediate/attribution/int_attribution__markov_removal_effects.py"


@pytest.fixture(scope="module")
def markov():
    spec = importlib.util.spec_from_file_location("int_attribution__markov_removal_effects", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def effects(markov, paths) -> dict[str, float]:
    """``{channel: removal effect, "<channel> share": its share}``."""
    frame = markov.removal_effects(paths)
    return {
        **{row.channel: row.removal_effect for row in frame.itertuples()},
        **{f"{row.channel} share": row.removal_effect_share for row in frame.itertuples()},
    }


def test_removal_effects_of_a_tiny_chain_computed_by_hand(markov):
    """Paths: A > B converts, A alone does not, B converts. Transitions: start->A 2/3, start->B 1/3, A->B 1/2,
    A->null 1/2, B->conversion 1. P(conversion) = 2/3 * 1/2 + 1/3 = 2/3. Without A: 1/3 (removal effect 1/2);
    without B nothing converts (1). Shares: A 1/3, B 2/3."""
    result = effects(markov, [("A > B", True, 1), ("A", False, 1), ("B", True, 1)])
    assert result == pytest.approx({"A": 0.5, "B": 1.0, "A share": 1 / 3, "B share": 2 / 3})
    assert markov.conversion_probability(markov.transition_counts([("A > B", True, 1), ("A", False, 1), ("B", True, 1)])) == pytest.approx(2 / 3)


def test_path_counts_weigh_like_repeated_paths_and_self_loops_change_nothing(markov):
    weighted = effects(markov, [("A > B", True, 3), ("A", False, 2), ("B", False, 1)])
    repeated = effects(markov, [("A > B", True, 1)] * 3 + [("A", False, 1)] * 2 + [("B", False, 1)])
    looped = effects(markov, [("A > A > B", True, 3), ("A", False, 2), ("B > B", False, 1)])
    assert weighted == pytest.approx(repeated)
    assert weighted == pytest.approx(looped)  # a first-order chain's absorption ignores staying in a state


def test_a_channel_only_on_paths_that_never_convert_has_no_effect(markov):
    """C is seen only on non-converting paths: removing it loses no conversion."""
    result = effects(markov, [("A", True, 1), ("C", False, 1), ("A > C", False, 1)])
    assert result == pytest.approx({"A": 1.0, "C": 0.0, "A share": 1.0, "C share": 0.0})


def test_no_conversion_at_all_gives_no_effects_instead_of_dividing_by_zero(markov):
    assert effects(markov, [("A", False, 2)]) == {"A": 0.0, "A share": 0.0}
    assert markov.removal_effects([]).empty
