"""The judge template's token budget, on exact ids (a word-level fake tokenizer: `tN` is id 1000 + N,
any other word id 9), so every expectation is written out by hand."""

import pytest

from lmsys.llm.template import (JudgeTemplate, MIN_PIECE, build_sequence, head_tail_ids, level_allocate)

OTHER = 9


def encode(texts):
    return [[1000 + int(w[1:]) if w.startswith("t") and w[1:].isdigit() else OTHER for w in text.split()]
            for text in texts]


@pytest.fixture
def template():
    return JudgeTemplate(encode=encode, bos_id=2, start_of_turn_id=106, end_of_turn_id=107)


def ids(start, n):
    return [1000 + k for k in range(start, start + n)]


def fixed_len(t, turns=1):
    return len(t.prefix()) + len(t.suffix()) + turns * sum(map(len, t.turn_labels(1)))


def test_prefix_and_suffix_use_gemma_chat_markers(template):
    assert template.prefix()[:2] == [2, 106]
    suffix = template.suffix()
    assert suffix[-len(template.text_ids("model\n")) - 1] == 106 and 107 in suffix
    plain = JudgeTemplate(encode=encode)  # a tokenizer without markers gets none and no bos
    assert 106 not in plain.prefix() + plain.suffix() and plain.prefix()[0] == OTHER


def test_level_allocation_is_symmetric_and_fits():
    assert level_allocate([300, 20], 100) == [80, 20]
    assert level_allocate([50, 50, 7], 60) == [26, 26, 7]
    assert level_allocate([50, 50, 7], 61) == [27, 27, 7]  # equal lengths always get equal shares
    assert level_allocate([10, 20], 100) == [10, 20]


def test_head_tail_keeps_both_ends_with_marker():
    seq = list(range(100))
    assert head_tail_ids(seq, 11, [-1]) == list(range(5)) + [-1] + list(range(95, 100))
    assert head_tail_ids(seq, 2, [-1, -1]) == [0, 99]  # no room for the marker
    assert head_tail_ids(seq, 200, [-1]) == seq


def test_long_response_keeps_head_and_tail_exact_ids(template):
    prompt, a, b = ids(0, 10), ids(100, 300), ids(500, 20)
    budget = fixed_len(template) + 10 + 20 + 81
    seq = build_sequence(template, [prompt], [a], [b], max_tokens=budget, prompt_tokens=50)
    label, a_label, b_label = template.turn_labels(1)
    # A gets 81 tokens: 40 of its head, the ellipsis (one id here), 40 of its tail; B and the prompt stay whole
    expected = (template.prefix() + label + prompt + a_label + a[:40] + [OTHER] + a[-40:] + b_label + b
                + template.suffix())
    assert seq == expected
    assert len(seq) == budget


def test_prompt_is_capped_first(template):
    prompt, a, b = ids(0, 400), ids(1000, 400), ids(2000, 400)
    budget = fixed_len(template) + 200
    seq = build_sequence(template, [prompt], [a], [b], max_tokens=budget, prompt_tokens=40)
    label, a_label, b_label = template.turn_labels(1)
    start = len(template.prefix()) + len(label)
    assert seq[start:start + 41] == prompt[:20] + [OTHER] + prompt[-19:] + a_label[:1]
    # the rest (160) is shared by A and B: 80 each
    a_at = start + 40 + len(a_label)
    assert seq[a_at:a_at + 81] == a[:40] + [OTHER] + a[-39:] + b_label[:1]
    assert len(seq) == budget


def test_room_the_responses_leave_goes_to_the_prompt(template):
    prompt, a, b = ids(0, 400), ids(1000, 5), ids(2000, 5)
    budget = fixed_len(template) + 110
    seq = build_sequence(template, [prompt], [a], [b], max_tokens=budget, prompt_tokens=30)
    label = template.turn_labels(1)[0]
    start = len(template.prefix()) + len(label)
    assert seq[start:start + 100] == prompt[:50] + [OTHER] + prompt[-49:]
    assert len(seq) == budget


def test_last_turn_is_never_dropped(template):
    turns = 6
    prompts = [ids(10000 * k, 60) for k in range(turns)]
    a = [ids(10000 * k + 1000, 200) for k in range(turns)]
    b = [ids(10000 * k + 2000, 200) for k in range(turns)]
    budget = fixed_len(template, 2) + 3 * MIN_PIECE * 2 + 30  # room for two turns only
    seq = build_sequence(template, prompts, a, b, max_tokens=budget, prompt_tokens=64)
    assert len(seq) <= budget
    assert seq[:len(template.prefix())] == template.prefix() and seq[-len(template.suffix()):] == template.suffix()
    for k in range(turns):
        kept = [x in seq for x in (prompts[k][0], prompts[k][-1], a[k][0], a[k][-1], b[k][0], b[k][-1])]
        assert all(kept) if k >= turns - 2 else not any(kept), k  # the oldest turns go whole, the last two stay
    # with a single turn and a tiny budget the turn is still there, cut to head and tail
    seq = build_sequence(template, prompts[-1:], a[-1:], b[-1:], max_tokens=fixed_len(template) + 24, prompt_tokens=8)
    assert a[-1][0] in seq and a[-1][-1] in seq and b[-1][0] in seq and b[-1][-1] in seq


def test_swapped_row_is_the_mirror_image(template):
    prompt, a, b = [ids(0, 30), ids(40, 5)], [ids(100, 90), ids(300, 7)], [ids(500, 90), ids(700, 150)]
    budget = fixed_len(template, 2) + 120
    seq = build_sequence(template, prompt, a, b, max_tokens=budget, prompt_tokens=20)
    swapped = build_sequence(template, prompt, b, a, max_tokens=budget, prompt_tokens=20)
    assert len(seq) == len(swapped)
    in_a = lambda t: 1100 <= t < 1400  # noqa: E731
    in_b = lambda t: 1500 <= t < 1900  # noqa: E731
    # exactly the same tokens of each response survive, in the same order, only their places are exchanged
    assert [t for t in seq if in_a(t)] == [t for t in swapped if in_a(t)]
    assert [t for t in seq if in_b(t)] == [t for t in swapped if in_b(t)]
    assert seq.index(a[0][0]) < seq.index(b[0][0]) and swapped.index(b[0][0]) < swapped.index(a[0][0])
    assert [t for t in seq if not (in_a(t) or in_b(t))] == [t for t in swapped if not (in_a(t) or in_b(t))]


def test_budget_too_small_names_the_length(template):
    with pytest.raises(ValueError, match="sequence length 10 is too short"):
        build_sequence(template, [ids(0, 5)], [ids(10, 5)], [ids(20, 5)], max_tokens=10, prompt_tokens=4)


def test_empty_and_missing_turns(template):
    seq = build_sequence(template, [ids(0, 3), ids(10, 3)], [ids(100, 4)], [[], ids(200, 2)], max_tokens=500,
                         prompt_tokens=100)
    label2, a_label, b_label = template.turn_labels(2)
    tail = seq[-len(template.suffix()) - len(b_label) - 2 - len(a_label):-len(template.suffix())]
    assert tail == a_label + b_label + ids(200, 2)  # turn 2 has no A response: an empty message, kept in place
