"""The built-in sample: a deterministic synthetic train.csv / test.csv in the competition's exact format.

It is the default data when no competition files are present, so every run and test works offline.
It carries the real data's pitfalls (multi-turn rows, null turns, lone surrogates, empty and
identical responses) and a learnable preference: responses built from helpful sentences beat
refusals and hedges, longer answers win slightly more often, A has a small position bias, and
close calls are ties. A model that reads the text can beat the class prior on it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from lmsys.atomic import atomic_path
from lmsys.data.columns import LABEL_COLUMNS, TEST_COLUMNS

SAMPLE_NOTE = "Using the built-in synthetic sample (no competition data given): results say nothing about the leaderboard."

MODELS = {  # name -> (probability of a helpful sentence, probability of a refusal/hedge, mean sentences)
    "gpt-4-1106-preview": (0.75, 0.05, 6), "claude-2.1": (0.6, 0.15, 5), "mixtral-8x7b-instruct-v0.1": (0.55, 0.1, 5),
    "llama-2-70b-chat": (0.45, 0.25, 6), "vicuna-13b": (0.35, 0.2, 4), "gpt-3.5-turbo-0613": (0.5, 0.1, 3),
    "koala-13b": (0.2, 0.35, 3), "oasst-pythia-12b": (0.15, 0.4, 3),
}
TOPICS = ["python list", "sourdough bread", "tax return", "garden soil", "bike chain", "resume", "SQL join",
          "marathon plan", "budget sheet", "guitar chord", "cover letter", "linear regression", "rust borrow checker",
          "wedding toast", "car battery", "houseplant", "job interview", "unit test", "espresso", "poem about rain"]
VERBS = ["fix", "write", "improve", "explain", "start", "plan", "clean", "choose", "learn", "speed up"]
HELPFUL = ["Here is a clear step-by-step answer for the {t}.", "First, check the {t} carefully and note what changed.",
           "For example, a simple {t} works well when you test it early.", "Step two: compare the options and pick the best one.",
           "In summary, these steps solve the problem with the {t}.", "A useful tip: keep notes so the {t} stays consistent.",
           "**Key point:** the {t} needs regular attention.", "- Gather what you need\n- Follow the steps in order"]
REFUSALS = ["I'm sorry, but I cannot help with that request.", "As an AI language model, I cannot do that.",
            "I am not sure about the {t}.", "I don't know.", "Maybe, it depends."]
NEUTRAL = ["The {t} is a common topic.", "Many people ask about the {t}.", "There are several things to consider.",
           "It can be done in different ways.", "Some people prefer another approach.", "This is an interesting question."]


def _sentence(rng, pool, topic):
    return pool[rng.integers(len(pool))].format(t=topic)


def _response(rng, model, topic):
    helpful, refuse, mean_n = MODELS[model]
    n = max(1, int(rng.poisson(mean_n)))
    sentences, score = [], 0.0
    for _ in range(n):
        u = rng.random()
        if u < refuse:
            sentences.append(_sentence(rng, REFUSALS, topic))
            score -= 1.5
        elif u < refuse + helpful:
            sentences.append(_sentence(rng, HELPFUL, topic))
            score += 1.0
        else:
            sentences.append(_sentence(rng, NEUTRAL, topic))
    return " ".join(sentences), score / np.sqrt(n) + 0.25 * np.log(n)


def _conversation(rng, model, prompts, topics):
    turns, score = [], 0.0
    for topic in topics:
        text, s = _response(rng, model, topic)
        turns.append(text)
        score += s
    return turns, score / len(topics)


def _winner(rng, score_a, score_b, empty_a, empty_b, identical):
    if identical:
        probs = np.array([0.15, 0.15, 0.7])
    elif empty_a != empty_b:
        probs = np.array([0.04, 0.88, 0.08]) if empty_a else np.array([0.88, 0.04, 0.08])
    else:
        logits = np.array([2.0 * score_a + 0.15, 2.0 * score_b, 2.6 - 1.5 * abs(score_a - score_b)])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
    return int(rng.choice(3, p=probs))


def generate(n_train: int = 2000, n_test: int = 200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) frames whose cells are exactly what the competition's csv files hold."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    ids = rng.permutation(rng.choice(np.arange(10_000, 5_000_000, 37), size=n, replace=False)).astype(np.int64)
    names = list(MODELS)
    rows = []
    for i in range(n):
        a, b = rng.choice(len(names), size=2, replace=False)
        n_turns = 1 if rng.random() > 0.13 else int(rng.integers(2, 4))
        topics = [TOPICS[k] for k in rng.integers(len(TOPICS), size=n_turns)]
        prompts = [f"How do I {VERBS[rng.integers(len(VERBS))]} the {t}?" for t in topics]
        resp_a, score_a = _conversation(rng, names[a], prompts, topics)
        resp_b, score_b = _conversation(rng, names[b], prompts, topics)
        kind = rng.random()
        if kind < 0.02:
            resp_b = list(resp_a)  # identical responses
        elif kind < 0.035:
            (resp_a if rng.random() < 0.5 else resp_b)[-1] = ""  # an empty response
        elif kind < 0.045:
            side = resp_a if rng.random() < 0.5 else resp_b
            side[-1] = None  # a JSON null turn
        elif kind < 0.055:
            resp_a[0] += " \ud83d (emoji cut in half)"  # a lone surrogate that fails UTF-8 encoding
        elif kind < 0.06 and n_turns > 1:
            prompts[-1] = None
        empty_a, empty_b = not any(resp_a), not any(resp_b)
        label = _winner(rng, score_a, score_b, empty_a, empty_b, resp_a == resp_b)
        rows.append({"id": int(ids[i]), "model_a": names[a], "model_b": names[b], "prompt": json.dumps(prompts),
                     "response_a": json.dumps(resp_a), "response_b": json.dumps(resp_b),
                     **{c: int(k == label) for k, c in enumerate(LABEL_COLUMNS)}})
    frame = pd.DataFrame(rows)
    train = frame.iloc[:n_train].reset_index(drop=True)
    test = frame.iloc[n_train:][list(TEST_COLUMNS)].reset_index(drop=True)
    return train, test


def write_sample(out_dir, n_train: int = 2000, n_test: int = 200, seed: int = 0) -> tuple[str, str]:
    """Write train.csv and test.csv (atomically) and return their paths."""
    train, test = generate(n_train, n_test, seed)
    paths = []
    for name, frame in (("train.csv", train), ("test.csv", test)):
        path = os.path.join(os.fspath(out_dir), name)
        with atomic_path(path, suffix=".csv") as tmp:
            frame.to_csv(tmp, index=False)
        paths.append(path)
    return paths[0], paths[1]
