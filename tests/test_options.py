import pandas as pd
import pytest

from lmsys.data.options import ELLIPSIS, build_option, build_options, head_tail


def test_every_turn_is_rendered_in_order_with_the_starter_format():
    text = build_option(["q1", "q2"], ["r1", "r2"])
    assert text == "Prompt: q1\n\nResponse: r1\n\nPrompt: q2\n\nResponse: r2"


def test_first_turn_mode_is_the_starter_behaviour():
    assert build_option(["q1", "q2"], ["r1", "r2"], turns="first") == "Prompt: q1\n\nResponse: r1"


def test_option_a_and_b_differ_only_in_the_response_and_swap_exchanges_them():
    df = pd.DataFrame({"prompt": [["q"]], "response_a": [["A"]], "response_b": [["B"]]})
    a, b = build_options(df)
    sa, sb = build_options(df, swap=True)
    assert a == ["Prompt: q\n\nResponse: A"] and b == ["Prompt: q\n\nResponse: B"]
    assert (sa, sb) == (b, a)


def test_budget_keeps_head_and_tail_of_every_turn_and_never_drops_the_last():
    prompt = ["P" * 50 + "p_end", "second question"]
    response = ["HEAD" + "x" * 5000 + "TAIL1", "start of last " + "y" * 5000 + " END_OF_LAST"]
    text = build_option(prompt, response, max_chars=1000)
    assert len(text) <= 1000
    assert "HEAD" in text and "TAIL1" in text and "END_OF_LAST" in text and "start of last" in text
    assert "second question" in text  # short pieces are kept whole
    assert text.count(ELLIPSIS) == 2


def test_budget_leaves_short_conversations_untouched():
    assert build_option(["q"], ["r"], max_chars=1000) == build_option(["q"], ["r"])


def test_token_budget_with_a_counter_fits():
    count_words = lambda s: len(s.split())  # noqa: E731
    response = [" ".join(f"w{i}" for i in range(400)), " ".join(f"v{i}" for i in range(400))]
    text = build_option(["a question", "another"], response, max_tokens=120, count_tokens=count_words)
    assert count_words(text) <= 120
    assert "w0" in text and "w399" in text and "v399" in text


def test_head_tail_is_exact_in_length():
    assert len(head_tail("a" * 100 + "b" * 100, 50)) == 50
    assert head_tail("short", 50) == "short"


def test_unknown_turns_mode_is_rejected():
    with pytest.raises(ValueError, match="turns must be"):
        build_option(["q"], ["r"], turns="last")
